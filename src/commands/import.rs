//! `tpt import ADDR ID`: an existing object recorded as a resource of the
//! configuration, through the session (`Session::import`), under the lock.

use std::io::Write;
use std::process::ExitCode;

use tpt_lang::Diagnostic;

use super::plan::{open_session, stopped};
use super::{checked, exit, failed, OK};
use crate::cli::ImportArgs;
use crate::render::{status, Renderer};

pub fn run(args: &ImportArgs, renderer: &Renderer) -> ExitCode {
    let checked = match checked(&args.path, &args.vars, renderer) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &checked.program.sources);
    let session = match open_session(
        &checked,
        &args.path,
        args.env.as_deref(),
        &args.lock_timeout,
        None,
    ) {
        Ok(s) => s,
        Err(diags) => return fail(&diags),
    };
    let nothing = "nothing was imported";
    let _held = match session.lock("import", &|note| status(note)) {
        Ok(h) => h,
        Err(stop) => return stopped(stop, nothing, &fail),
    };
    if let Err(stop) = session.import(&args.address, &args.id) {
        return stopped(stop, nothing, &fail);
    }
    let env_flag = session
        .env
        .as_ref()
        .map(|e| format!(" --env {e}"))
        .unwrap_or_default();
    let _ = writeln!(
        std::io::stdout().lock(),
        "imported `{}` as `{}` in the state of `{}`; nothing was changed. `tpt plan{env_flag}` shows what differs from the configuration.",
        args.id,
        args.address,
        session.env_name
    );
    exit(OK)
}

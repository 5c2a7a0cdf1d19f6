//! `tpt import ADDR ID`: an existing object recorded as a resource of the
//! configuration, through the session (`Session::import`), under the lock.

use std::io::Write;
use std::process::ExitCode;

use tpt_lang::Diagnostic;

use tpt_executor::session::Session;

use super::plan::{stopped, with_locked_session, SessionArgs};
use super::{exit, OK};
use crate::cli::ImportArgs;
use crate::render::Renderer;

pub fn run(args: &ImportArgs, renderer: &Renderer) -> ExitCode {
    let nothing = "nothing was imported";
    let target = SessionArgs {
        path: &args.path,
        vars: &args.vars,
        env: args.env.as_deref(),
        lock_timeout: &args.lock_timeout,
        wait_timeout: None,
        operation: "import",
        nothing,
    };
    with_locked_session(renderer, &target, |session, fail| {
        import_locked(args, nothing, session, fail)
    })
}

/// `tpt import` once the session holds the lock.
fn import_locked(
    args: &ImportArgs,
    nothing: &str,
    session: &Session<'_>,
    fail: &dyn Fn(&[Diagnostic]) -> ExitCode,
) -> ExitCode {
    if let Err(stop) = session.import(&args.address, &args.id) {
        return stopped(stop, nothing, fail);
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

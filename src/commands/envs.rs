//! `tpt envs diff`: what differs between two environments.

use std::io::Write;
use std::process::ExitCode;

use tpt_planner::envdiff;

use super::{exit, load_and_check, select_environments, FAILED, OK};
use crate::cli::{DiffFormat, EnvsDiffArgs};
use crate::render::Renderer;
use tpt_executor::host::EnvInputs;

pub fn diff(args: &EnvsDiffArgs, renderer: &Renderer) -> ExitCode {
    let checked = load_and_check(&args.path);
    let fail = |diags: &[tpt_lang::Diagnostic]| super::failed(renderer, diags, &checked.program.sources);
    if checked.has_errors() {
        return fail(&checked.diagnostics);
    }
    let available = checked.environments();
    let mut evaluated = Vec::new();
    for env in [&args.left, &args.right] {
        if let Err(d) = select_environments(&available, Some(env), true) {
            return fail(&[d]);
        }
        match tpt_lang::evaluate(&checked.program, Some(env), &EnvInputs::without_vars()) {
            Ok(e) => evaluated.push(e),
            Err(diags) => return fail(&diags),
        }
    }
    let (Some(left), Some(right)) = (evaluated.first(), evaluated.get(1)) else {
        return exit(FAILED);
    };
    let d = envdiff::diff(left, right);
    let text = match args.format {
        DiffFormat::Text => envdiff::to_text(&d, &args.left, &args.right),
        DiffFormat::Json => serde_json::to_string_pretty(&envdiff::to_json(&d, &args.left, &args.right))
            .map(|s| s + "\n")
            .unwrap_or_default(),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    exit(OK)
}

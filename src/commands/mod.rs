//! The commands. Each returns the process exit status; they print, the
//! language crate does not.

pub mod apply;
pub mod check;
pub mod envs;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod lsp;
pub mod output;
pub mod plan;
pub mod promote;
pub mod state;

use std::path::Path;
use std::process::ExitCode;

use tpt_lang::Diagnostic;

use crate::render::{status, Renderer, Tally};

/// Success.
pub const OK: u8 = 0;
/// The input has errors (diagnostics were printed).
pub const FAILED: u8 = 1;

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// Prints diagnostics and the error summary; the exit status of a failed command.
pub fn failed(renderer: &Renderer, diags: &[Diagnostic], sources: &tpt_lang::SourceMap) -> ExitCode {
    renderer.emit(diags, sources);
    status(&format!("error: {}", Tally::of(diags).describe()));
    exit(FAILED)
}

/// A configuration loaded, checked and evaluated for one environment.
pub struct EnvRun {
    pub checked: Checked,
    /// The environment evaluated (`None`: a configuration without environments).
    pub env: Option<String>,
    pub evaluated: tpt_lang::Evaluated,
}

/// Loads, checks and evaluates one environment (`--env` is required when the
/// configuration declares environments); on errors, prints them and returns the
/// exit status. Warnings of the checker are printed either way.
pub fn evaluate_env(
    path: &Path,
    env: Option<&str>,
    vars: &[String],
    renderer: &Renderer,
) -> Result<EnvRun, ExitCode> {
    let (checked, env) = checked_env(path, env, vars, renderer)?;
    let evaluated = evaluate_checked(
        &checked,
        env.as_deref(),
        &tpt_lang::KnownOutputs::default(),
        renderer,
    )?;
    Ok(EnvRun {
        checked,
        env,
        evaluated,
    })
}

/// Loads and checks a configuration and chooses its environment (`--env` is
/// required when it declares environments); prints errors and returns the exit
/// status on failure. Warnings of the checker are printed either way.
pub fn checked_env(
    path: &Path,
    env: Option<&str>,
    vars: &[String],
    renderer: &Renderer,
) -> Result<(Checked, Option<String>), ExitCode> {
    let checked = checked(path, vars, renderer)?;
    match select_environments(&checked.environments(), env, true) {
        Ok(mut envs) => {
            let env = envs.pop().flatten();
            Ok((checked, env))
        }
        Err(d) => Err(failed(renderer, &[d], &checked.program.sources)),
    }
}

/// Loads and checks a configuration, with the `--var`s given; prints errors and
/// returns the exit status on failure. Warnings of the checker are printed either way.
pub fn checked(path: &Path, vars: &[String], renderer: &Renderer) -> Result<Checked, ExitCode> {
    let inputs = tpt_executor::host::EnvInputs::with_vars(vars)
        .map_err(|d| failed(renderer, &[d], &tpt_lang::SourceMap::new()))?;
    let mut checked = load_and_check(path);
    checked.inputs = inputs;
    if checked.has_errors() {
        return Err(failed(renderer, &checked.diagnostics, &checked.program.sources));
    }
    renderer.emit(&checked.diagnostics, &checked.program.sources);
    Ok(checked)
}

/// Evaluates one environment of a checked configuration with the outputs
/// already known; prints errors and returns the exit status on failure.
pub fn evaluate_checked(
    checked: &Checked,
    env: Option<&str>,
    known: &tpt_lang::KnownOutputs,
    renderer: &Renderer,
) -> Result<tpt_lang::Evaluated, ExitCode> {
    checked
        .evaluate(env, known)
        .map_err(|diags| failed(renderer, &diags, &checked.program.sources))
}

pub use tpt_executor::session::Checked;

/// Loads the configuration at `path` and runs the checker.
pub fn load_and_check(path: &Path) -> Checked {
    tpt_executor::session::load(path)
}

pub use tpt_planner::check::select_environments;

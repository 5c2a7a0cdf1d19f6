//! `tpt state list|show|rm|mv|unlock`: the recorded state of one environment,
//! read and changed through the library (`tpt_executor::session`: every change
//! takes the lock, bumps the serial and writes atomically with a backup).

use std::io::Write;
use std::process::ExitCode;

use tpt_executor::session::{self, Settings, StateEdit};
use tpt_lang::Diagnostic;

use super::{exit, OK};
use crate::cli::{StateCommand, StateTarget};
use crate::render::Renderer;

pub fn run(cmd: &StateCommand, renderer: &Renderer) -> ExitCode {
    let fail = |diags: &[Diagnostic]| super::failed(renderer, diags, &tpt_lang::SourceMap::new());
    match run_inner(cmd) {
        Ok(()) => exit(OK),
        Err(d) => fail(&[d]),
    }
}

fn target(cmd: &StateCommand) -> &StateTarget {
    match cmd {
        StateCommand::List { target }
        | StateCommand::Show { target, .. }
        | StateCommand::Rm { target, .. }
        | StateCommand::Mv { target, .. }
        | StateCommand::Unlock { target, .. } => target,
    }
}

fn run_inner(cmd: &StateCommand) -> Result<(), Diagnostic> {
    let t = target(cmd);
    let mut settings = Settings::from_env(&t.path);
    settings.lock_timeout = super::plan::duration_arg("--lock-timeout", "30s", &t.lock_timeout)?;
    let env = match &t.env {
        Some(e) => e.clone(),
        None => default_env(&t.path)?,
    };
    let env = env.as_str();
    let mut out = std::io::stdout().lock();
    match cmd {
        StateCommand::List { .. } => {
            let state = session::recorded_state(&settings, env)?;
            for (address, r) in &state.resources {
                let _ = writeln!(out, "{address}  ({})", r.schema);
            }
        }
        StateCommand::Show { address, .. } => {
            let state = session::recorded_state(&settings, env)?;
            let r = state
                .resources
                .get(address)
                .ok_or_else(|| session::unknown_address(&state, address, env))?;
            let doc = serde_json::json!({ address.as_str(): r });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        StateCommand::Rm { address, .. } => {
            session::edit_state(&settings, env, &StateEdit::Remove(address.clone()))?;
            let _ = writeln!(
                out,
                "removed `{address}` from the state of `{env}`; the object itself is untouched"
            );
        }
        StateCommand::Mv { from, to, .. } => {
            session::edit_state(&settings, env, &StateEdit::Move(from.clone(), to.clone()))?;
            let _ = writeln!(out, "moved `{from}` to `{to}` in the state of `{env}`");
        }
        StateCommand::Unlock { id, .. } => {
            session::unlock_state(&settings, env, id)?;
            let _ = writeln!(out, "released the lock `{id}` of `{env}`");
        }
    }
    Ok(())
}

/// The environment of a configuration that declares none (`default`), chosen
/// as `plan` and `apply` choose it; one that declares environments needs `--env`.
fn default_env(path: &std::path::Path) -> Result<String, Diagnostic> {
    let files = tpt_executor::host::root_files(path)?;
    let program = tpt_lang::Program::load(&tpt_executor::host::DiskFs, &files);
    let available = tpt_planner::check::environments(&program);
    tpt_planner::check::select_environments(&available, None, true)?;
    Ok("default".to_string())
}

//! `tpt state list|show|rm|mv|unlock`: the recorded state of one environment.
//! Every change takes the lock, bumps the serial and writes atomically with a backup.

use std::io::Write;
use std::process::ExitCode;

use tpt_lang::{Code, Diagnostic};
use tpt_planner::backend::StateBackend;
use tpt_planner::state::State;

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
    let backend = tpt_executor::session::Settings::from_env(&t.path).open_backend()?;
    let backend = backend.as_ref();
    let env = t.env.as_str();
    let read = |backend: &dyn StateBackend| -> Result<State, Diagnostic> {
        backend
            .read(env)
            .map_err(|e| tpt_executor::lock::backend_error(env, e))?
            .ok_or_else(|| {
                Diagnostic::error(
                    Code::StateAddress,
                    format!("environment `{env}` has no recorded state"),
                )
                .help("state is recorded by `tpt apply`; check `--env` and `--path`")
            })
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        StateCommand::List { .. } => {
            let state = read(backend)?;
            for (address, r) in &state.resources {
                let _ = writeln!(out, "{address}  ({})", r.schema);
            }
        }
        StateCommand::Show { address, .. } => {
            let state = read(backend)?;
            let r = state
                .resources
                .get(address)
                .ok_or_else(|| unknown_address(&state, address, env))?;
            let doc = serde_json::json!({ address.as_str(): r });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        StateCommand::Rm { address, .. } | StateCommand::Mv { from: address, .. } => {
            let timeout = tpt_executor::lock::parse_timeout(&t.lock_timeout)
                .map_err(|m| Diagnostic::error(Code::Io, m).help("write e.g. `30s`"))?;
            let operation = if matches!(cmd, StateCommand::Rm { .. }) {
                "state rm"
            } else {
                "state mv"
            };
            let _held = tpt_executor::lock::acquire(backend, env, operation, timeout)?;
            let mut state = read(backend)?;
            let r = state
                .resources
                .remove(address)
                .ok_or_else(|| unknown_address(&state, address, env))?;
            if let StateCommand::Mv { to, .. } = cmd {
                if state.resources.contains_key(to) {
                    return Err(Diagnostic::error(
                        Code::StateAddress,
                        format!("`{to}` is already recorded in `{env}`"),
                    )
                    .help(format!(
                        "remove it first with `tpt state rm {to} --env {env}`, or choose another address"
                    )));
                }
                state.resources.insert(to.clone(), r);
                let _ = writeln!(out, "moved `{address}` to `{to}` in the state of `{env}`");
            } else {
                let _ = writeln!(
                    out,
                    "removed `{address}` from the state of `{env}`; the object itself is untouched"
                );
            }
            state.serial += 1;
            backend
                .write(env, &state)
                .map_err(|e| tpt_executor::lock::backend_error(env, e))?;
        }
        StateCommand::Unlock { id, .. } => {
            backend
                .unlock(env, id)
                .map_err(|e| tpt_executor::lock::backend_error(env, e))?;
            let _ = writeln!(out, "released the lock `{id}` of `{env}`");
        }
    }
    Ok(())
}

fn unknown_address(state: &State, address: &str, env: &str) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::StateAddress,
        format!("`{address}` is not recorded in the state of `{env}`"),
    );
    d = match tpt_lang::diagnostic::did_you_mean(address, state.resources.keys().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
        None => d.help(format!(
            "`tpt state list --env {env}` lists the recorded addresses"
        )),
    };
    d
}

//! `tpt apply` and `tpt destroy`: a session's plan (as `tpt plan` makes it),
//! shown; what cannot be applied refused; approval asked; then the session
//! applies it while this shows its progress and a summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tpt_executor::apply::Outcome;
use tpt_executor::events::Events;
use tpt_executor::session::{Options, Session, Stop};
use tpt_lang::{Code, Diagnostic};
use tpt_planner::plan::{self, Action};

use super::plan::{stopped, with_locked_session, SessionArgs, INTERRUPTED};
use super::{exit, failed, OK};
use crate::cli::ApplyArgs;
use crate::render::{status, Renderer};

/// What an apply stopped before its walk leaves undone.
const NOTHING: &str = "nothing was changed";

pub fn run(args: &ApplyArgs, destroy: bool, renderer: &Renderer) -> ExitCode {
    // A usage error, said (and exited on) before anything is read or locked.
    if args.refresh_only && destroy {
        use clap::CommandFactory;
        crate::cli::Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "`tpt destroy` has no `--refresh-only`; `tpt apply --refresh-only` accepts drift into the state",
            )
            .exit();
    }
    let verb = if destroy { "destroy" } else { "apply" };
    let no_sources = tpt_lang::SourceMap::new();
    // A saved plan, or a configuration?
    let saved = saved_plan(&args.path);
    let saved = match saved {
        Some(Ok(s)) => Some(s),
        Some(Err(d)) => return failed(renderer, &[d], &no_sources),
        None => None,
    };
    let (path, env_arg) = match &saved {
        Some((p, config)) => (
            config.clone(),
            (p.environment != "default" || args.env.is_some()).then(|| p.environment.clone()),
        ),
        None => (args.path.clone(), args.env.clone()),
    };
    let target = SessionArgs {
        path: &path,
        vars: &args.vars,
        env: env_arg.as_deref(),
        lock_timeout: &args.lock_timeout,
        wait_timeout: args.wait_timeout.as_deref(),
        operation: verb,
        nothing: NOTHING,
    };
    with_locked_session(renderer, &target, |session, fail| {
        apply_locked(
            args,
            destroy,
            saved.as_ref().map(|(p, _)| p),
            renderer,
            session,
            fail,
        )
    })
}

/// `tpt apply` (or `destroy`) once the session holds the lock; `saved` is the
/// saved plan being applied, if one is.
fn apply_locked(
    args: &ApplyArgs,
    destroy: bool,
    saved: Option<&plan::Plan>,
    renderer: &Renderer,
    session: &Session<'_>,
    fail: &dyn Fn(&[Diagnostic]) -> ExitCode,
) -> ExitCode {
    let verb = if destroy { "destroy" } else { "apply" };
    let options = Options {
        refresh: args.refresh,
        destroy,
        targets: args.target.clone(),
        reconcile: !args.refresh_only,
        refresh_only: args.refresh_only,
    };
    let planned = match session.plan(&options, &|note| status(note)) {
        Ok(p) => p,
        Err(stop) => return stopped(stop, NOTHING, fail),
    };
    let p = &planned.plan;
    if let Some(old) = saved {
        if let Err(d) = tpt_executor::session::check_saved(old, &planned) {
            return fail(&[d]);
        }
    }
    let _ = std::io::stdout()
        .lock()
        .write_all(renderer.paint_plan(&plan::to_text(p)).as_bytes());
    if !p.has_changes() {
        return exit(OK);
    }
    // What cannot be applied is said before anything runs.
    let problems = session.cannot_apply(&planned);
    if !problems.is_empty() {
        return fail(&problems);
    }
    if saved.is_none() && !args.auto_approve {
        match ask(verb, &|| session.interrupted()) {
            Ok(true) => {}
            Ok(false) if session.interrupted() => return stopped(Stop::Interrupted, NOTHING, fail),
            Ok(false) => {
                status(&format!("{verb} cancelled: nothing was changed"));
                return exit(OK);
            }
            Err(d) => return fail(&[d]),
        }
    }
    if session.interrupted() {
        return stopped(Stop::Interrupted, NOTHING, fail);
    }
    let (events, rx) = Events::channel();
    let printer = crate::progress::spawn(rx);
    let (report, state) = session.apply(&planned, args.parallelism, events);
    let _ = printer.join();
    // The root outputs, recorded once the walk is over (those it could compute).
    let outputs = if report.state_error.is_none() {
        match session.record_outputs(&planned, state, destroy) {
            Ok((_, outputs)) => outputs,
            Err(diags) => return fail(&diags),
        }
    } else {
        Default::default()
    };
    if planned.plan.refresh_only {
        if let Some(e) = &report.state_error {
            return fail(&[Diagnostic::error(Code::Io, e.clone())
                .help("check the state backend, then run `tpt apply --refresh-only` again")]);
        }
        let _ = writeln!(
            std::io::stdout().lock(),
            "\nRefresh complete: the state of `{}` records {}; no object was changed.",
            session.env_name,
            tpt_planner::refresh::describe_drift(&p.drift)
        );
        print_outputs(&outputs, &planned.sealer);
        return exit(OK);
    }
    // The summary.
    let mut diags = Vec::new();
    for (address, action, outcome) in &report.outcomes {
        if let Outcome::Failed(message) = outcome {
            let d = Diagnostic::error(
                Code::ProviderFailed,
                format!("{} of `{address}` failed: {message}", action.as_str()),
            )
            .help("what depends on it was skipped; fix the cause and run `tpt apply` again: what succeeded is recorded");
            let d = match planned.resources.iter().find(|r| &r.address == address) {
                Some(r) => d.label(r.span, "this resource"),
                None => d,
            };
            diags.push(d);
        }
    }
    if let Some(e) = &report.state_error {
        diags.push(
            Diagnostic::error(Code::Io, e.clone())
                .help("the apply stopped; check the state backend, then run `tpt apply` again (interrupted creates are looked up)"),
        );
    }
    let done = |a: Action| {
        report
            .outcomes
            .iter()
            .filter(|(_, x, o)| *x == a && *o == Outcome::Done)
            .count()
    };
    let failed_n = report.count(|o| matches!(o, Outcome::Failed(_)));
    let skipped = report.count(|o| matches!(o, Outcome::Skipped(_)));
    let not_started = report.count(|o| *o == Outcome::NotStarted);
    let interrupted = report.count(|o| *o == Outcome::Interrupted);
    let mut line = format!(
        "{}: {} created, {} updated, {} replaced, {} deleted",
        if report.ok() {
            "Apply complete"
        } else if report.cancelled {
            "Apply interrupted"
        } else {
            "Apply failed"
        },
        done(Action::Create),
        done(Action::Update),
        done(Action::Replace),
        done(Action::Delete),
    );
    if failed_n > 0 {
        line.push_str(&format!(", {failed_n} failed"));
    }
    if skipped > 0 {
        line.push_str(&format!(", {skipped} skipped"));
    }
    if not_started > 0 {
        line.push_str(&format!(", {not_started} not started"));
    }
    if interrupted > 0 {
        line.push_str(&format!(", {interrupted} stopped while running"));
    }
    if !report.mismatches.is_empty() {
        line.push_str(&format!(
            ", {} field(s) differ from the plan after apply",
            report.mismatches.len()
        ));
    }
    line.push_str(&format!(
        " in {}.",
        tpt_executor::events::human_duration(report.elapsed)
    ));
    let _ = writeln!(std::io::stdout().lock(), "\n{line}");
    if !diags.is_empty() {
        return fail(&diags);
    }
    if !report.cancelled {
        print_outputs(&outputs, &planned.sealer);
    }
    if report.cancelled {
        status(if interrupted > 0 {
            "interrupted: operations were stopped while running; what finished is recorded in the state, and creates that were stopped are looked up by the next run. Run `tpt apply` again to finish."
        } else {
            "interrupted: nothing was started after Ctrl-C; what ran is recorded in the state. Run `tpt apply` again to finish."
        });
        return exit(INTERRUPTED);
    }
    exit(OK)
}

/// A saved plan at `path`, with the configuration it was made for; `None`
/// when `path` is a configuration.
fn saved_plan(path: &Path) -> Option<Result<(plan::Plan, PathBuf), Diagnostic>> {
    if !path.is_file() || path.extension().is_some_and(|e| e == "tpt") {
        return None;
    }
    let bytes = tpt_executor::host::read_regular(path).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if doc["kind"] != plan::SAVED_PLAN_KIND {
        return None;
    }
    let config = doc["config"].as_str().map(PathBuf::from).unwrap_or_default();
    Some(plan::from_saved(&bytes).map(|p| (p, config)).map_err(|e| {
        Diagnostic::error(Code::Io, format!("`{}`: {e}", path.display()))
            .help("pass a file written by `tpt plan --out FILE`")
    }))
}

/// Asks on the terminal; refuses without one. Ctrl-C or SIGTERM while it
/// waits for the answer (`interrupted`) is a no.
fn ask(verb: &str, interrupted: &dyn Fn() -> bool) -> Result<bool, Diagnostic> {
    if !std::io::stdin().is_terminal() {
        return Err(Diagnostic::error(
            Code::NotApproved,
            format!("refusing to {verb} without approval: there is no terminal to ask on"),
        )
        .help(format!(
            "review the plan above, then run `tpt {verb}` with `--auto-approve`, or apply a saved plan (`tpt plan --out FILE`, `tpt apply FILE`)"
        )));
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "\nDo you want to {verb} these changes? Only `yes` is accepted: "
    );
    let _ = out.flush();
    drop(out);
    // The answer is read beside: signals no longer end the process, so the
    // wait for it must notice them.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(answer) => return Ok(answer.trim() == "yes"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !interrupted() => {}
            Err(_) => return Ok(false),
        }
    }
}

/// `Outputs:` and a line per root output (secrets masked), or nothing.
fn print_outputs(
    outputs: &tpt_lang::IndexMap<String, tpt_lang::value::Value>,
    sealer: &tpt_planner::state::Sealer,
) {
    if outputs.is_empty() {
        return;
    }
    let mut text = String::from("\nOutputs:\n");
    for (name, v) in outputs {
        let stored = tpt_planner::state::store(v, sealer);
        text.push_str(&format!("  {name} = {}\n", tpt_planner::plan::show(&stored)));
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

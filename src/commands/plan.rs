//! `tpt plan` and `tpt show`: a session's plan, rendered. Planning itself is
//! the library's (`tpt_executor::session`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tpt_executor::session::{Checked, Options, Session, Settings, Stop};
use tpt_lang::{Code, Diagnostic};
use tpt_planner::plan;
use tpt_planner::state::State;

use super::{checked, exit, failed, OK};
use crate::cli::{PlanArgs, PlanFormat};
use crate::render::{status, Renderer};

/// Exit status of `--detailed-exitcode` when the plan has changes.
const CHANGES: u8 = 2;

pub fn run(args: &PlanArgs, renderer: &Renderer) -> ExitCode {
    let target = SessionArgs {
        path: &args.path,
        vars: &args.vars,
        env: args.env.as_deref(),
        lock_timeout: &args.lock_timeout,
        wait_timeout: None,
        operation: "plan",
        nothing: "nothing was planned",
    };
    with_locked_session(renderer, &target, |session, fail| {
        plan_locked(args, renderer, session, fail)
    })
}

/// `tpt plan` once the session holds the lock.
fn plan_locked(
    args: &PlanArgs,
    renderer: &Renderer,
    session: &Session<'_>,
    fail: &dyn Fn(&[Diagnostic]) -> ExitCode,
) -> ExitCode {
    let options = Options {
        refresh: args.refresh,
        destroy: false,
        targets: args.target.clone(),
        reconcile: false,
        refresh_only: args.refresh_only,
    };
    let planned = match session.plan(&options, &|note| status(note)) {
        Ok(p) => p,
        Err(stop) => return stopped(stop, "nothing was planned", fail),
    };
    let p = &planned.plan;
    let _ = std::io::stdout().lock().write_all(
        paint(
            renderer,
            p,
            if args.json { PlanFormat::Json } else { args.format },
        )
        .as_bytes(),
    );
    if let Some(out) = &args.out {
        let saved = plan::to_saved(p, env!("CARGO_PKG_VERSION"), &args.path.display().to_string());
        let text = serde_json::to_string_pretty(&saved)
            .map(|s| s + "\n")
            .unwrap_or_default();
        if let Err(e) = super::fmt::write_atomically(out, &text) {
            return fail(&[Diagnostic::error(
                Code::Io,
                format!("cannot write the plan to `{}`: {e}", out.display()),
            )
            .help("check that the directory exists and is writable")]);
        }
        status(&format!("saved the plan to `{}`", out.display()));
    }
    if args.detailed_exitcode && p.has_changes() {
        return exit(CHANGES);
    }
    exit(OK)
}

/// What a command that reads or changes an environment's state gives
/// [`with_locked_session`].
pub struct SessionArgs<'a> {
    /// The configuration (a `.tpt` file or a directory).
    pub path: &'a Path,
    /// `--var NAME=VALUE`s.
    pub vars: &'a [String],
    pub env: Option<&'a str>,
    pub lock_timeout: &'a str,
    pub wait_timeout: Option<&'a str>,
    /// What the lock says the holder does (`plan`, `apply`, `import`).
    pub operation: &'a str,
    /// What an interruption while waiting for the lock leaves undone.
    pub nothing: &'a str,
}

/// Loads and checks the configuration, opens the environment's session, takes
/// its state lock (which keeps other runs from changing the state meanwhile),
/// then runs `run` under it, with the way to report diagnostics against the
/// configuration's sources. The lock is released when `run` returns.
pub fn with_locked_session(
    renderer: &Renderer,
    args: &SessionArgs<'_>,
    run: impl FnOnce(&Session<'_>, &dyn Fn(&[Diagnostic]) -> ExitCode) -> ExitCode,
) -> ExitCode {
    let checked = match checked(args.path, args.vars, renderer) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &checked.program.sources);
    let session = match open_session(
        &checked,
        args.path,
        args.env,
        args.lock_timeout,
        args.wait_timeout,
    ) {
        Ok(s) => s,
        Err(diags) => return fail(&diags),
    };
    let _held = match session.lock(args.operation, &|note| status(note)) {
        Ok(h) => h,
        Err(stop) => return stopped(stop, args.nothing, &fail),
    };
    run(&session, &fail)
}

/// Exit status of a command stopped by Ctrl-C or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// The end of a command whose session stopped: its diagnostics, or, when
/// interrupted, a note saying `what` (the lock is released as the command
/// returns) and exit status 130.
pub fn stopped(stop: Stop, what: &str, fail: &dyn Fn(&[Diagnostic]) -> ExitCode) -> ExitCode {
    match stop {
        Stop::Failed(diags) => fail(&diags),
        Stop::Interrupted => {
            status(&format!(
                "interrupted: {what}; what was done is recorded in the state and the lock is released"
            ));
            exit(INTERRUPTED)
        }
    }
}

/// A duration argument (`--lock-timeout`, `--wait-timeout`).
pub fn duration_arg(flag: &str, example: &str, text: &str) -> Result<Duration, Diagnostic> {
    tpt_executor::lock::parse_timeout(text).map_err(|m| {
        Diagnostic::error(Code::Io, m).help(format!("`{flag}` takes a duration such as `{example}`"))
    })
}

/// A session on `env` of the configuration at `path`: the settings of the
/// process environment and these arguments.
pub fn open_session<'c>(
    checked: &'c Checked,
    path: &Path,
    env: Option<&str>,
    lock_timeout: &str,
    wait_timeout: Option<&str>,
) -> Result<Session<'c>, Vec<Diagnostic>> {
    let mut settings = Settings::from_env(path);
    settings.env = env.map(str::to_string);
    settings.lock_timeout = duration_arg("--lock-timeout", "30s", lock_timeout).map_err(|d| vec![d])?;
    settings.interrupt_on_signals = true;
    settings.wait_limit = wait_timeout
        .map(|t| duration_arg("--wait-timeout", "2m", t))
        .transpose()
        .map_err(|d| vec![d])?;
    Session::open(checked, settings)
}

/// `tpt show FILE`: render a saved plan; warn when its state has changed since.
pub fn show(args: &crate::cli::ShowArgs, renderer: &Renderer) -> ExitCode {
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &tpt_lang::SourceMap::new());
    let bytes = match tpt_executor::host::read_regular(&args.file) {
        Ok(b) => b,
        Err(e) => {
            return fail(&[Diagnostic::error(
                Code::Io,
                format!(
                    "cannot read `{}`: {}",
                    args.file.display(),
                    tpt_executor::host::io_message(&e)
                ),
            )
            .help("pass a file written by `tpt plan --out FILE`")])
        }
    };
    let p = match plan::from_saved(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return fail(&[
                Diagnostic::error(Code::Io, format!("`{}`: {e}", args.file.display()))
                    .help("pass a file written by `tpt plan --out FILE`"),
            ])
        }
    };
    // The state of the configuration it was made for, if it can be found.
    let config = args.path.clone().or_else(|| {
        let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        doc["config"].as_str().map(PathBuf::from)
    });
    if let Some(config) = config {
        // Without a reachable backend there is nothing to compare with.
        let recorded = Settings::from_env(&config)
            .open_backend()
            .ok()
            .and_then(|b| b.read(&p.environment).ok().flatten());
        let state = recorded.unwrap_or_else(|| State::new(&p.environment, String::new()));
        if let Err(e) = plan::check_current(&p, &state) {
            let mut d = Diagnostic::error(Code::StalePlan, format!("this plan is stale: {e}"))
                .help("make a new plan with `tpt plan`; applying this one would be refused");
            d.severity = tpt_lang::diagnostic::Severity::Warning;
            renderer.emit(&[d], &tpt_lang::SourceMap::new());
        }
    }
    let _ = std::io::stdout()
        .lock()
        .write_all(paint(renderer, &p, args.format).as_bytes());
    exit(OK)
}

/// The plan in `format`; a human plan is colored on a terminal.
fn paint(renderer: &Renderer, p: &plan::Plan, format: PlanFormat) -> String {
    let text = render(p, format);
    if format == PlanFormat::Human {
        renderer.paint_plan(&text)
    } else {
        text
    }
}

fn render(p: &plan::Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Human => plan::to_text(p),
        PlanFormat::Markdown => plan::to_markdown(p),
        PlanFormat::Json => serde_json::to_string_pretty(&plan::to_json(p))
            .map(|s| s + "\n")
            .unwrap_or_default(),
    }
}

//! `tpt plan`: evaluate an environment, compare it with its recorded state and
//! print the plan. Reading the state file is the only IO besides the
//! configuration; the comparison is the planner's (pure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tpt_lang::{Code, Diagnostic};
use tpt_planner::plan;
use tpt_planner::state::{Sealer, State};

use super::{checked_env, evaluate_checked, exit, failed, OK};
use crate::cli::{PlanArgs, PlanFormat};
use crate::render::{status, Renderer};

/// Exit status of `--detailed-exitcode` when the plan has changes.
const CHANGES: u8 = 2;

pub fn run(args: &PlanArgs, renderer: &Renderer) -> ExitCode {
    let (checked, env) = match checked_env(&args.path, args.env.as_deref(), renderer) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let checked = &checked;
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &checked.program.sources);
    let env_name = env.clone().unwrap_or_else(|| "default".to_string());
    let dir = state_dir(&args.path);
    let backend = match crate::lock::open_backend(&dir) {
        Ok(b) => b,
        Err(d) => return fail(&[d]),
    };
    let backend = backend.as_ref();
    let timeout = match crate::lock::parse_timeout(&args.lock_timeout) {
        Ok(t) => t,
        Err(m) => {
            return fail(&[
                Diagnostic::error(Code::Io, m).help("`--lock-timeout` takes a duration such as `30s`")
            ])
        }
    };
    // The lock keeps another run from changing the state while this plan reads it.
    let _held = match crate::lock::acquire(backend, &env_name, "plan", timeout) {
        Ok(h) => h,
        Err(d) => return fail(&[d]),
    };
    let state = match backend.read(&env_name) {
        Ok(s) => s.unwrap_or_else(|| State::new(&env_name, String::new())),
        Err(e) => return fail(&[crate::lock::backend_error(&env_name, e)]),
    };
    // Evaluated once, with the outputs an earlier apply recorded known.
    let known = tpt_planner::state::known_outputs(&checked.program, &state);
    let evaluated = match evaluate_checked(checked, env.as_deref(), &known, renderer) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let graph = match tpt_planner::graph::build(&evaluated.resources) {
        Ok(g) => g,
        Err(diags) => return fail(&diags),
    };
    let sealer = Sealer::new(&state_key(&dir));
    let mut p = plan::diff(
        &checked.program,
        &env_name,
        &evaluated.resources,
        &graph,
        &state,
        &sealer,
    );
    if !args.target.is_empty() {
        for t in &args.target {
            if graph.node(t).is_none() && !state.resources.contains_key(t) {
                let known = evaluated
                    .resources
                    .iter()
                    .map(|r| r.address.as_str())
                    .chain(state.resources.keys().map(String::as_str));
                let mut d = Diagnostic::error(
                    Code::UnknownTarget,
                    format!("`--target {t}` names no resource of `{env_name}`"),
                );
                d = match tpt_lang::diagnostic::did_you_mean(t, known) {
                    Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                    None => d.help("`tpt graph --format text` lists the addresses; stamped ones look like `name[\"key\"]`"),
                };
                return fail(&[d]);
            }
        }
        plan::restrict(&mut p, &args.target, &graph);
    }
    let _ = std::io::stdout().lock().write_all(
        paint(
            renderer,
            &p,
            if args.json { PlanFormat::Json } else { args.format },
        )
        .as_bytes(),
    );
    if let Some(out) = &args.out {
        let saved = plan::to_saved(&p, env!("CARGO_PKG_VERSION"), &args.path.display().to_string());
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

/// `.tpt/` beside the configuration: in the directory, or beside the file.
pub fn state_dir(path: &Path) -> PathBuf {
    let base = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    base.join(".tpt")
}

/// The key that fingerprints secrets in state: `TPT_STATE_KEY`, else `.tpt/state.key`.
pub fn state_key(dir: &Path) -> Vec<u8> {
    if let Ok(k) = std::env::var("TPT_STATE_KEY") {
        return k.into_bytes();
    }
    std::fs::read(dir.join("state.key")).unwrap_or_default()
}

/// `tpt show FILE`: render a saved plan; warn when its state has changed since.
pub fn show(args: &crate::cli::ShowArgs, renderer: &Renderer) -> ExitCode {
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &tpt_lang::SourceMap::new());
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            return fail(&[Diagnostic::error(
                Code::Io,
                format!("cannot read `{}`: {e}", args.file.display()),
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
        let recorded = crate::lock::open_backend(&state_dir(&config))
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

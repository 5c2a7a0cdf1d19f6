//! `tpt plan`: evaluate an environment, compare it with its recorded state and
//! print the plan. Reading the state file is the only IO besides the
//! configuration; the comparison is the planner's (pure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tpt_executor::Engine;
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
    let timeout = match lock_timeout(&args.lock_timeout) {
        Ok(t) => t,
        Err(d) => return fail(&[d]),
    };
    // The lock keeps another run from changing the state while this plan reads it.
    let _held = match crate::lock::acquire(backend, &env_name, "plan", timeout) {
        Ok(h) => h,
        Err(d) => return fail(&[d]),
    };
    let engine = match engine() {
        Ok(e) => e,
        Err(d) => return fail(&[d]),
    };
    let options = Options {
        refresh: args.refresh,
        destroy: false,
        targets: &args.target,
        reconcile: false,
    };
    let planned = match make_plan(
        checked,
        env.as_deref(),
        &env_name,
        backend,
        &engine,
        &options,
        renderer,
    ) {
        Ok(p) => p,
        Err(code) => return code,
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

/// `--lock-timeout` as a duration.
pub fn lock_timeout(text: &str) -> Result<std::time::Duration, Diagnostic> {
    crate::lock::parse_timeout(text)
        .map_err(|m| Diagnostic::error(Code::Io, m).help("`--lock-timeout` takes a duration such as `30s`"))
}

/// The executor's engine (a runtime and the providers).
pub fn engine() -> Result<Engine, Diagnostic> {
    Engine::new().map_err(|m| {
        Diagnostic::error(Code::Io, m).help("this is a problem of the machine, not of the configuration")
    })
}

/// How to plan.
pub struct Options<'a> {
    /// Read the live objects first (drift).
    pub refresh: bool,
    /// Plan the deletion of everything recorded.
    pub destroy: bool,
    pub targets: &'a [String],
    /// Follow the creates an interrupted run left unconfirmed (apply only: it writes state).
    pub reconcile: bool,
}

/// A plan and what applying it needs.
pub struct Planned {
    pub plan: plan::Plan,
    pub state: State,
    pub resources: Vec<tpt_lang::ResourceInstance>,
    pub graph: tpt_planner::graph::ResourceGraph,
    pub known: tpt_lang::KnownOutputs,
    pub sealer: Sealer,
    pub key: Vec<u8>,
}

/// Reads the state (the caller holds the lock), follows interrupted creates,
/// refreshes, evaluates with what is known, reads data lookups and diffs.
#[allow(clippy::too_many_arguments)]
pub fn make_plan(
    checked: &super::Checked,
    env: Option<&str>,
    env_name: &str,
    backend: &dyn tpt_planner::backend::StateBackend,
    engine: &Engine,
    options: &Options<'_>,
    renderer: &Renderer,
) -> Result<Planned, ExitCode> {
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &checked.program.sources);
    let provider_failures = |what: &str, failures: Vec<tpt_executor::Failure>| -> Vec<Diagnostic> {
        failures
            .into_iter()
            .map(|f| {
                Diagnostic::error(Code::ProviderFailed, format!("cannot {what} `{}`: {}", f.address, f.message))
                    .help("check the provider's credentials and endpoint, or plan with `--refresh=false` to use the recorded state as it is")
            })
            .collect()
    };
    let mut state = match backend.read(env_name) {
        Ok(s) => s.unwrap_or_else(|| State::new(env_name, String::new())),
        Err(e) => return Err(fail(&[crate::lock::backend_error(env_name, e)])),
    };
    let key = match state_key(backend) {
        Ok(k) => k,
        Err(d) => return Err(fail(&[d])),
    };
    let sealer = Sealer::new(&key);
    if !state.intents.is_empty() {
        if options.reconcile {
            let (adopted, failures) = engine.reconcile(&mut state, backend, &sealer, &key);
            for a in adopted {
                status(&format!(
                    "{a}: found the object an interrupted apply created; recorded it"
                ));
            }
            if !failures.is_empty() {
                return Err(fail(&provider_failures("look up", failures)));
            }
        } else {
            for a in state.intents.keys() {
                status(&format!(
                    "warning: an earlier apply was interrupted while creating `{a}`; the next `tpt apply` looks it up before anything else"
                ));
            }
        }
    }
    let mut live = std::collections::BTreeMap::new();
    if options.refresh && !state.resources.is_empty() {
        let (answers, failures) = engine.refresh(&state, &key);
        if !failures.is_empty() {
            return Err(fail(&provider_failures("refresh", failures)));
        }
        live = answers;
    }
    let (refreshed, _) = tpt_planner::refresh::apply_live(&state, &live);
    // Evaluated with the outputs an earlier apply recorded (and secret ones,
    // derived) known, then again when data lookups added theirs.
    let mut known = tpt_planner::state::known_outputs(&checked.program, &refreshed);
    engine.secret_outputs(&refreshed, &key, &mut known);
    let mut evaluated = if options.destroy {
        tpt_lang::Evaluated::default()
    } else {
        evaluate_checked(checked, env, &known, renderer)?
    };
    if !options.destroy {
        let failures = engine.read_data(&evaluated.resources, &refreshed, &key, &mut known);
        if !failures.is_empty() {
            return Err(fail(&provider_failures("read", failures)));
        }
        if evaluated
            .resources
            .iter()
            .any(|r| known.outputs.contains_key(&r.address) && checked.program.schema(r.schema).is_data())
        {
            evaluated = evaluate_checked(checked, env, &known, renderer)?;
        }
    }
    let graph = match tpt_planner::graph::build(&evaluated.resources) {
        Ok(g) => g,
        Err(diags) => return Err(fail(&diags)),
    };
    let mut p = plan::diff_refreshed(
        &checked.program,
        env_name,
        &evaluated.resources,
        &graph,
        &state,
        &live,
        &sealer,
    );
    if !options.targets.is_empty() {
        for t in options.targets {
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
                return Err(fail(&[d]));
            }
        }
        plan::restrict(&mut p, options.targets, &graph, &state);
    }
    Ok(Planned {
        plan: p,
        state: refreshed,
        resources: evaluated.resources,
        graph,
        known,
        sealer,
        key,
    })
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

/// The state key: `TPT_STATE_KEY`, else the backend's (`.tpt/state.key`, or a
/// Secret beside Kubernetes state), made once when missing.
pub fn state_key(backend: &dyn tpt_planner::backend::StateBackend) -> Result<Vec<u8>, Diagnostic> {
    if let Ok(k) = std::env::var("TPT_STATE_KEY") {
        if !k.is_empty() {
            return Ok(k.into_bytes());
        }
    }
    backend.key().map_err(|e| {
        Diagnostic::error(Code::Io, format!("cannot read the state key: {e}")).help(
            "the key fingerprints secrets and derives generated passwords: restore it (a new one would change every generated password), or set TPT_STATE_KEY",
        )
    })
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

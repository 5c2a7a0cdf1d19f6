//! `tpt plan`: evaluate an environment, compare it with its recorded state and
//! print the plan. Reading the state file is the only IO besides the
//! configuration; the comparison is the planner's (pure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tpt_lang::{Code, Diagnostic};
use tpt_planner::plan;
use tpt_planner::state::{Sealer, State, StateError};

use super::{exit, load_and_check, select_environments, FAILED, OK};
use crate::cli::{PlanArgs, PlanFormat};
use crate::host::EnvInputs;
use crate::render::{status, Renderer, Tally};

/// Exit status of `--detailed-exitcode` when the plan has changes.
const CHANGES: u8 = 2;

pub fn run(args: &PlanArgs, renderer: &Renderer) -> ExitCode {
    let checked = load_and_check(&args.path);
    let fail = |diags: &[Diagnostic]| {
        renderer.emit(diags, &checked.program.sources);
        status(&format!("error: {}", Tally::of(diags).describe()));
        exit(FAILED)
    };
    if checked.has_errors() {
        return fail(&checked.diagnostics);
    }
    let env = match select_environments(&checked.environments(), args.env.as_deref(), true) {
        Ok(mut envs) => envs.pop().flatten(),
        Err(d) => return fail(&[d]),
    };
    let env_name = env.clone().unwrap_or_else(|| "default".to_string());
    let evaluated = match tpt_lang::evaluate(&checked.program, env.as_deref(), &EnvInputs) {
        Ok(e) => e,
        Err(diags) => return fail(&diags),
    };
    let graph = match tpt_planner::graph::build(&evaluated.resources) {
        Ok(g) => g,
        Err(diags) => return fail(&diags),
    };
    let dir = state_dir(&args.path);
    let state = match read_state(&dir, &env_name) {
        Ok(s) => s,
        Err(d) => return fail(&[d]),
    };
    let sealer = Sealer::new(&state_key(&dir));
    let p = plan::diff(
        &checked.program,
        &env_name,
        &evaluated.resources,
        &graph,
        &state,
        &sealer,
    );
    let text = match args.format {
        PlanFormat::Human => plan::to_text(&p),
        PlanFormat::Markdown => plan::to_markdown(&p),
        PlanFormat::Json => serde_json::to_string_pretty(&plan::to_json(&p))
            .map(|s| s + "\n")
            .unwrap_or_default(),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if args.detailed_exitcode && p.has_changes() {
        return exit(CHANGES);
    }
    exit(OK)
}

/// `.tpt/` beside the configuration: in the directory, or beside the file.
fn state_dir(path: &Path) -> PathBuf {
    let base = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    base.join(".tpt")
}

/// The recorded state of `env`, or an empty one when there is none yet.
fn read_state(dir: &Path, env: &str) -> Result<State, Diagnostic> {
    let file = dir.join("state").join(format!("{env}.json"));
    let shown = file.display().to_string();
    match std::fs::read(&file) {
        Ok(bytes) => State::parse(&bytes).map_err(|e| match e {
            StateError::Corrupt(_) => Diagnostic::error(Code::StateCorrupt, format!("cannot read the state of `{env}` ({shown}): {e}"))
                .help("the file is left as it is; restore it from its backup (`.json.backup` beside it) or from version control"),
            StateError::Newer { .. } => Diagnostic::error(Code::StateNewer, format!("cannot read the state of `{env}` ({shown}): {e}"))
                .help("upgrade tpt to the version that wrote it; this tpt never overwrites it"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::new(env, String::new())),
        Err(e) => Err(Diagnostic::error(Code::Io, format!("cannot read the state of `{env}` ({shown}): {e}"))
            .help("check the file's permissions")),
    }
}

/// The key that fingerprints secrets in state: `TPT_STATE_KEY`, else `.tpt/state.key`.
fn state_key(dir: &Path) -> Vec<u8> {
    if let Ok(k) = std::env::var("TPT_STATE_KEY") {
        return k.into_bytes();
    }
    std::fs::read(dir.join("state.key")).unwrap_or_default()
}

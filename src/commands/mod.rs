//! The commands. Each returns the process exit status; they print, the
//! language crate does not.

pub mod apply;
pub mod check;
pub mod envs;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod plan;
pub mod promote;
pub mod state;

use std::path::Path;
use std::process::ExitCode;

use tpt_lang::diagnostic::{did_you_mean, sort_diagnostics};
use tpt_lang::{Code, Diagnostic, Program};

use crate::host::{DiskFs, EnvInputs};
use crate::render::{status, Renderer, Tally};
use crate::root::root_files;

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
pub fn evaluate_env(path: &Path, env: Option<&str>, renderer: &Renderer) -> Result<EnvRun, ExitCode> {
    let (checked, env) = checked_env(path, env, renderer)?;
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
    renderer: &Renderer,
) -> Result<(Checked, Option<String>), ExitCode> {
    let checked = load_and_check(path);
    if checked.has_errors() {
        return Err(failed(renderer, &checked.diagnostics, &checked.program.sources));
    }
    renderer.emit(&checked.diagnostics, &checked.program.sources);
    match select_environments(&checked.environments(), env, true) {
        Ok(mut envs) => {
            let env = envs.pop().flatten();
            Ok((checked, env))
        }
        Err(d) => Err(failed(renderer, &[d], &checked.program.sources)),
    }
}

/// Evaluates one environment of a checked configuration with the outputs
/// already known; prints errors and returns the exit status on failure.
pub fn evaluate_checked(
    checked: &Checked,
    env: Option<&str>,
    known: &tpt_lang::KnownOutputs,
    renderer: &Renderer,
) -> Result<tpt_lang::Evaluated, ExitCode> {
    tpt_lang::evaluate_with(&checked.program, env, &EnvInputs, known).map_err(|mut diags| {
        sort_diagnostics(&mut diags);
        failed(renderer, &diags, &checked.program.sources)
    })
}

/// A configuration loaded and type-checked.
pub struct Checked {
    pub program: Program,
    /// Loading and checking diagnostics, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Files of the configuration (the standard library not counted).
    pub fn file_count(&self) -> usize {
        self.program
            .modules
            .iter()
            .filter(|m| !m.name.starts_with("std."))
            .map(|m| m.files.len())
            .sum()
    }

    /// Names of the root module's environments, in declaration order.
    pub fn environments(&self) -> Vec<String> {
        self.program
            .modules
            .first()
            .map(|m| m.environments.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Loads the configuration at `path` and runs the checker.
pub fn load_and_check(path: &Path) -> Checked {
    let files = match root_files(path) {
        Ok(files) => files,
        Err(d) => {
            return Checked {
                program: Program::default(),
                diagnostics: vec![d],
            }
        }
    };
    let program = Program::load(&DiskFs, &files);
    let mut diagnostics = tpt_lang::check(&program);
    sort_diagnostics(&mut diagnostics);
    Checked { program, diagnostics }
}

/// The environments to evaluate: `requested` if it exists, else every one
/// (`None` alone when the configuration has none). `required` makes a missing
/// `--env` an error when there are environments.
pub fn select_environments(
    available: &[String],
    requested: Option<&str>,
    required: bool,
) -> Result<Vec<Option<String>>, Diagnostic> {
    let listing = || {
        available
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match requested {
        Some(env) if available.iter().any(|e| e == env) => Ok(vec![Some(env.to_string())]),
        Some(env) if available.is_empty() => Err(Diagnostic::error(
            Code::UnknownEnvironment,
            format!("no environment `{env}`: this configuration declares no environments"),
        )
        .help("remove `--env`, or declare `environment NAME { … }` in the configuration")),
        Some(env) => {
            let d = Diagnostic::error(Code::UnknownEnvironment, format!("no environment `{env}`"));
            Err(match did_you_mean(env, available.iter().map(String::as_str)) {
                Some(s) => d
                    .help(format!("did you mean `{s}`? The environments are: {}", listing()))
                    .suggest(s),
                None => d.help(format!("the environments are: {}", listing())),
            })
        }
        None if available.is_empty() => Ok(vec![None]),
        None if required => Err(Diagnostic::error(
            Code::UnknownEnvironment,
            "this configuration has environments; choose one with `--env`",
        )
        .help(format!("the environments are: {}", listing()))),
        None => Ok(available.iter().cloned().map(Some).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::select_environments;

    fn envs() -> Vec<String> {
        vec!["staging".to_string(), "prod".to_string()]
    }

    #[test]
    fn every_environment_by_default() {
        let got = select_environments(&envs(), None, false).ok();
        assert_eq!(got, Some(vec![Some("staging".into()), Some("prod".into())]));
    }

    #[test]
    fn base_only_without_environments() {
        assert_eq!(select_environments(&[], None, true).ok(), Some(vec![None]));
    }

    #[test]
    fn unknown_environment_suggests() {
        let d = select_environments(&envs(), Some("prd"), false).err();
        assert_eq!(d.and_then(|d| d.suggestion), Some("prod".to_string()));
    }

    #[test]
    fn required_environment() {
        assert!(select_environments(&envs(), None, true).is_err());
        assert!(select_environments(&[], Some("prod"), true).is_err());
    }
}

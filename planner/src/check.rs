//! The check pipeline, the one `tpt check` and the language server run: type
//! errors first; with none, every chosen environment is evaluated and its
//! resource graph built, so that evaluation errors (a refinement of a computed
//! value, a missing input) and dependency cycles surface before anything is
//! planned. Loading the files is the caller's (disk, or an editor's buffers).

use std::sync::atomic::{AtomicBool, Ordering};
use tpt_lang::diagnostic::{did_you_mean, sort_diagnostics};

use tpt_lang::eval::{Budget, Inputs, Var};
use tpt_lang::{Alike, Code, Diagnostic, Evaluation, Program};

/// What checking found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every diagnostic, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    /// How many named environments were evaluated.
    pub environments: usize,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks `program`: its type errors; with none, the environment `env` (every
/// one when `None`, or the base alone when there are none) evaluated and its
/// graph built.
///
/// The type check and the evaluations run at once (they only read the
/// program): on a configuration without type errors that is the time of the
/// longer of the two, not their sum. Evaluating an ill-typed program is never
/// trusted: the type check's first error stops it at its next step check
/// ([`Inputs::cancelled`]) and its findings are dropped, as if it had not run.
pub fn check(program: &Program, env: Option<&str>, inputs: &(dyn Inputs + Sync)) -> Report {
    let selected = select_environments(&environments(program), env, false);
    let stop = AtomicBool::new(false);
    let stoppable = Stoppable { inputs, stop: &stop };
    let evaluate = |envs: &[Option<String>]| evaluate_all(program, envs, &stoppable);
    let (diagnostics, evaluated) = std::thread::scope(|scope| {
        let evaluation = match &selected {
            Ok(envs) => Some(
                std::thread::Builder::new()
                    .stack_size(EVAL_STACK)
                    .spawn_scoped(scope, || evaluate(envs))
                    // A thread that cannot be started: evaluate after the check.
                    .map_err(|_| envs),
            ),
            Err(_) => None,
        };
        let diagnostics = tpt_lang::check(program);
        let ill_typed = diagnostics.iter().any(Diagnostic::is_error);
        stop.store(ill_typed, Ordering::Relaxed);
        let evaluated = match evaluation {
            Some(Ok(handle)) => match handle.join() {
                Ok(found) => Some(found),
                // A panic while evaluating an ill-typed program is one more
                // reason not to trust that evaluation; in a well-typed one it is a bug.
                Err(_) if ill_typed => None,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Some(Err(envs)) if !ill_typed => Some(evaluate(envs)),
            _ => None,
        };
        (diagnostics, evaluated)
    });
    let mut report = Report {
        diagnostics,
        environments: 0,
    };
    if !report.has_errors() {
        match selected {
            Ok(envs) => {
                report.diagnostics.extend(evaluated.unwrap_or_default());
                report.environments = envs.iter().filter(|e| e.is_some()).count();
            }
            Err(d) => report.diagnostics.push(d),
        }
    }
    sort_diagnostics(&mut report.diagnostics);
    report
}

/// The half of [`check`] after the type check, for a caller that type-checks
/// first and evaluates elsewhere (the language server, off its request loop):
/// the errors of evaluating every environment of a well-typed program and of
/// building each one's graph, sorted. `inputs.cancelled()` stops it early
/// (what it found by then is of no use to anyone).
pub fn evaluate_environments(program: &Program, inputs: &(dyn Inputs + Sync)) -> Vec<Diagnostic> {
    let mut diagnostics = match select_environments(&environments(program), None, false) {
        Ok(envs) => evaluate_all(program, &envs, inputs),
        Err(d) => vec![d],
    };
    sort_diagnostics(&mut diagnostics);
    diagnostics
}

/// The caller's inputs, and a flag that stops the evaluations using them.
struct Stoppable<'a> {
    inputs: &'a (dyn Inputs + Sync),
    stop: &'a AtomicBool,
}

impl Inputs for Stoppable<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.inputs.env_var(name)
    }

    fn budget(&self) -> Budget {
        self.inputs.budget()
    }

    fn vars(&self) -> Vec<Var> {
        self.inputs.vars()
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.inputs.cancelled()
    }
}

/// The errors of evaluating each environment and building its graph. The
/// evaluations are independent, so several environments are evaluated at
/// once, one share of them per core; within a share, an environment alike to
/// one evaluated before is not evaluated again ([`tpt_lang::Alike`]).
fn evaluate_all(program: &Program, envs: &[Option<String>], inputs: &(dyn Inputs + Sync)) -> Vec<Diagnostic> {
    let one = |env: &Option<String>, alike: &mut Alike| -> Vec<Diagnostic> {
        match tpt_lang::evaluate_alike(program, env.as_deref(), inputs, alike) {
            Evaluation::New(Ok(evaluated)) => crate::graph::build(&evaluated.resources)
                .err()
                .unwrap_or_default(),
            Evaluation::New(Err(errors)) => errors,
            // Its graph is the earlier environment's, whose cycles are reported.
            Evaluation::Alike(errors) => errors,
        }
    };
    let each = |chunk: &[Option<String>]| {
        let mut alike = Alike::default();
        chunk
            .iter()
            // Stopped: the environments not begun are not begun (each would
            // stop within its first steps, but what it builds before the
            // first look at the flag adds up over many environments).
            .take_while(|_| !inputs.cancelled())
            .flat_map(|env| one(env, &mut alike))
            .collect::<Vec<_>>()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(envs.len());
    if threads < 2 {
        return each(envs);
    }
    let share = envs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = envs
            .chunks(share)
            .map(|chunk| {
                // The main thread's stack size, for the evaluator's deepest walks.
                let spawned = std::thread::Builder::new()
                    .stack_size(EVAL_STACK)
                    .spawn_scoped(scope, move || each(chunk));
                // A thread that cannot be started leaves its share to this one.
                spawned.map_err(|_| chunk)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h {
                // A thread that panicked has a bug in it; re-raise it here.
                Ok(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(chunk) => each(chunk),
            })
            .collect()
    })
}

/// The stack of an evaluation thread (the main thread's usual size).
const EVAL_STACK: usize = 8 * 1024 * 1024;

/// Names of the root module's environments, in declaration order.
pub fn environments(program: &Program) -> Vec<String> {
    program
        .modules
        .first()
        .map(|m| m.environments.keys().cloned().collect())
        .unwrap_or_default()
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
                Some(s) => d.help(format!("did you mean `{s}`? The environments are: {}", listing())),
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
    use super::*;

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
        let help = d.and_then(|d| d.help).unwrap_or_default();
        assert!(help.starts_with("did you mean `prod`?"), "{help}");
    }

    #[test]
    fn required_environment() {
        assert!(select_environments(&envs(), None, true).is_err());
        assert!(select_environments(&[], Some("prod"), true).is_err());
    }

    /// Inputs with no budget to speak of: only the stop ends an evaluation.
    struct Unbounded;

    impl Inputs for Unbounded {
        fn env_var(&self, _: &str) -> Option<String> {
            None
        }

        fn budget(&self) -> Budget {
            Budget {
                steps: u64::MAX,
                bytes: u64::MAX,
            }
        }
    }

    #[test]
    fn an_ill_typed_program_stops_its_evaluation() {
        // Ten billion steps to evaluate, and a type error: the check's error
        // stops the evaluation started beside it, whose findings are dropped.
        let text =
            "let n = len([for x in range(100000): len([for y in range(100000): 1])])\nlet bad: int = \"x\"\n";
        let program = Program::from_text("main.tpt", text);
        let report = check(&program, None, &Unbounded);
        let codes: Vec<_> = report.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![Code::TypeMismatch], "{:?}", report.diagnostics);
        assert_eq!(report.environments, 0);
    }

    #[test]
    fn evaluation_errors_and_cycles_of_every_environment() {
        let text = "param n: int(1..3)\nlet x = n\nenvironment a { n = 2 }\n";
        let program = Program::from_text("main.tpt", text);
        let report = check(&program, None, &tpt_lang::eval::NoInputs);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        assert_eq!(report.environments, 1);
        let cycle = "import std.k8s\nresource a: k8s.Namespace { cluster = b, name = \"a\" }\nresource b: k8s.KubeconfigCluster { context = \"x\", depends_on = [a] }\n";
        let program = Program::from_text("main.tpt", cycle);
        let report = check(&program, None, &tpt_lang::eval::NoInputs);
        assert!(report.has_errors(), "a cycle is an error of the configuration");
    }
}

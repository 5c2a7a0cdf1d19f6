//! `tpt lsp`: the language server, with the plans of its `tpt.plan` command
//! made as `tpt plan` makes them — through the library session, never a shell.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tpt_executor::session::{Options, Session, Settings, Stop};
use tpt_lang::Diagnostic;
use tpt_lsp::{PlanRequest, Planner};
use tpt_planner::plan;

use crate::cli::ColorChoice;
use crate::render::{Renderer, Tally};

/// How many environments a plan of a resource covers, at most.
const ENVIRONMENTS: usize = 6;

/// How often a running plan looks whether the client cancelled it.
const POLL: Duration = Duration::from_millis(50);

pub fn run() -> Result<(), String> {
    tpt_lsp::run_stdio(Some(Arc::new(SessionPlanner)))
}

/// Plans an environment of a configuration on disk (the files as saved).
struct SessionPlanner;

impl Planner for SessionPlanner {
    fn plan(
        &self,
        request: &PlanRequest,
        cancelled: &(dyn Fn() -> bool + Sync),
        note: &(dyn Fn(&str) + Sync),
    ) -> Result<String, String> {
        let renderer = Renderer::new(ColorChoice::Never);
        let checked = tpt_executor::session::load(&request.config);
        let fail = |diags: &[Diagnostic]| {
            let mut out: String = diags
                .iter()
                .map(|d| renderer.render(d, &checked.program.sources))
                .collect();
            out.push_str(&format!("error: {}\n", Tally::of(diags).describe()));
            out
        };
        if checked.has_errors() {
            return Err(fail(&checked.diagnostics));
        }
        let all = checked.environments();
        let envs: Vec<Option<String>> = match &request.env {
            Some(env) => vec![Some(env.clone())],
            None if all.is_empty() => vec![None],
            None => all.into_iter().take(ENVIRONMENTS).map(Some).collect(),
        };
        let mut out = String::new();
        for env in envs {
            // Several environments: a header names each one's part.
            if let (None, Some(name)) = (&request.env, &env) {
                out.push_str(&format!("# {name}\n"));
            }
            let mut settings = Settings::from_env(&request.config);
            settings.env = env.clone();
            let session = Session::open(&checked, settings).map_err(|d| fail(&d))?;
            let planned = planned(&session, cancelled, note).map_err(|stop| match stop {
                Stop::Failed(d) => fail(&d),
                Stop::Interrupted => "cancelled: nothing was planned".to_string(),
            })?;
            let mut p = planned.plan;
            if let Some(name) = &request.resource {
                // The changes of the resource: every instance of a `for` or a component.
                let prefix = format!("{name}[");
                p.changes
                    .retain(|c| c.address == *name || c.address.starts_with(&prefix));
                p.outputs.clear();
            }
            out.push_str(&plan::to_text(&p));
        }
        Ok(out)
    }
}

/// The session's plan under its state lock (released on return); a client's
/// cancel presses the engine's cancel, as Ctrl-C does for `tpt plan`.
fn planned(
    session: &Session<'_>,
    cancelled: &(dyn Fn() -> bool + Sync),
    note: &(dyn Fn(&str) + Sync),
) -> Result<tpt_executor::session::Planned, Stop> {
    let canceller = session.engine.canceller();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if cancelled() {
                    canceller.cancel();
                    return;
                }
                std::thread::sleep(POLL);
            }
        });
        let result = (|| {
            let _held = session.lock("plan", &|n| note(n))?;
            let options = Options {
                refresh: true,
                ..Options::default()
            };
            session.plan(&options, &|n| note(n))
        })();
        done.store(true, Ordering::Relaxed);
        result
    })
}

//! Code lenses and the commands they run: `tpt.check` (the configuration as
//! `tpt check` checks it, in the server), and — when the binary gives the
//! server a [`Planner`] — `tpt.plan` (an environment's plan through the
//! library session, as `tpt plan` makes it; never a shell). Lenses: "check"
//! on the first line of a configuration's main file, "plan ENV" on each
//! environment, "plan" on each resource (its changes, in every environment).
//!
//! A plan runs on a thread of its own and answers its request when done;
//! the server goes on answering meanwhile. `$/cancelRequest` (or `shutdown`)
//! stops it as Ctrl-C stops `tpt plan`; its notes (waiting for the state
//! lock) go to the client's log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lsp_server::ErrorCode;
use lsp_types::{CodeLens, CodeLensParams, Command, ExecuteCommandParams, Position, Range};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tpt_lang::diagnostic::plural;

use crate::line_index::LineIndex;
use crate::server::{Answer, Failure, Server};
use crate::workspace::Root;

pub const CHECK: &str = "tpt.check";
pub const PLAN: &str = "tpt.plan";

/// What `tpt.plan` plans.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanRequest {
    /// The configuration: its directory, or a `.tpt` file.
    pub config: PathBuf,
    /// The environment; `None`: the only one of a configuration without
    /// environments, else each environment (the first six).
    #[serde(default)]
    pub env: Option<String>,
    /// Only the changes of this resource (its declared name: every instance
    /// of a `for`).
    #[serde(default)]
    pub resource: Option<String>,
}

/// Makes plans for the server (the `tpt` binary gives it one; the language
/// server's own crate talks to no cloud).
pub trait Planner: Send + Sync {
    /// The plan as `tpt plan` prints it (without colors), or the error as it
    /// would print it. `cancelled` turns true when the client cancels;
    /// `note` tells the user what a wait is for.
    fn plan(
        &self,
        request: &PlanRequest,
        cancelled: &(dyn Fn() -> bool + Sync),
        note: &(dyn Fn(&str) + Sync),
    ) -> Result<String, String>;
}

pub fn code_lenses(server: &mut Server, p: CodeLensParams) -> Answer {
    let Some((a, file)) = server.file(&p.text_document.uri) else {
        return Ok(Value::Null);
    };
    let config = match &a.root {
        Root::Dir(d) => d.clone(),
        Root::File(f) => f.clone(),
        Root::Std => return Ok(Value::Null),
    };
    let Some(source) = a.program.sources.get(file) else {
        return Ok(Value::Null);
    };
    let lines = LineIndex::of(source);
    let root = a.program.module(a.program.root());
    if !root.files.contains(&file) {
        // A library: its configurations' files have the lenses.
        return Ok(Value::Null);
    }
    let planner = server.planner.is_some();
    let mut lenses = Vec::new();
    let top = Range::new(Position::new(0, 0), Position::new(0, 0));
    // The main file is the root module's first (`main.tpt`, then `envs/*.tpt`).
    if root.files.first() == Some(&file) {
        lenses.push(lens(top, "▶ check", CHECK, json!(config)));
        if planner && root.environments.is_empty() {
            let request = PlanRequest {
                config: config.clone(),
                env: None,
                resource: None,
            };
            lenses.push(lens(top, "▶ plan", PLAN, json!(request)));
        }
    }
    if planner {
        // A plan lens on a name (of this file).
        let mut plan_lens = |span: tpt_lang::source::Span, title: String, request: PlanRequest| {
            let at = lines.range(span.start as usize, span.end as usize);
            lenses.push(lens(at, &title, PLAN, json!(request)));
        };
        let here = |span: &tpt_lang::source::Span| span.file == file;
        for (name, env) in root.environments.iter().filter(|(_, e)| here(&e.node.name.span)) {
            let request = PlanRequest {
                config: config.clone(),
                env: Some(name.clone()),
                resource: None,
            };
            plan_lens(env.node.name.span, format!("▶ plan {name}"), request);
        }
        for (name, r) in root.resources.iter().filter(|(_, r)| here(&r.node.name.span)) {
            let request = PlanRequest {
                config: config.clone(),
                env: None,
                resource: Some(name.clone()),
            };
            plan_lens(r.node.name.span, format!("▶ plan `{name}`"), request);
        }
    }
    Ok(serde_json::to_value(lenses).unwrap_or(Value::Null))
}

fn lens(range: Range, title: &str, command: &str, argument: Value) -> CodeLens {
    CodeLens {
        range,
        command: Some(Command {
            title: title.to_string(),
            command: command.to_string(),
            arguments: Some(vec![argument]),
        }),
        data: None,
    }
}

/// `tpt.check CONFIG`: the configuration's diagnostics counted (they are
/// published, or pulled, as usual), and a message saying so.
pub fn check(server: &mut Server, p: &ExecuteCommandParams) -> Answer {
    let config: PathBuf = argument(p)?;
    let a = server.ws.analysis(&Root::of_config(config.clone()));
    let diagnostics = a.diagnostics();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let envs = tpt_planner::check::environments(&a.program).len();
    let name = config.file_name().map_or_else(
        || config.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let checked = if envs == 0 {
        String::new()
    } else {
        format!(" in {}", plural(envs, "environment"))
    };
    let message = match (errors, warnings) {
        (0, 0) => format!("tpt check `{name}`: no errors{checked}"),
        (0, w) => format!("tpt check `{name}`: no errors, {}{checked}", plural(w, "warning")),
        (e, 0) => format!("tpt check `{name}`: {}{checked}", plural(e, "error")),
        (e, w) => format!(
            "tpt check `{name}`: {}, {}{checked}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    };
    server.show_message(
        if errors > 0 {
            lsp_types::MessageType::ERROR
        } else {
            lsp_types::MessageType::INFO
        },
        message.clone(),
    );
    Ok(json!({ "errors": errors, "warnings": warnings, "environments": envs, "message": message }))
}

/// What a plan says in a line: `plan prod: Plan: 7 to create, …` (each
/// environment's summary), or an error's first line.
pub fn headline(request: &PlanRequest, text: &str) -> String {
    let what = match (&request.env, &request.resource) {
        (Some(env), Some(r)) => format!("plan `{r}` in {env}"),
        (Some(env), None) => format!("plan {env}"),
        (None, Some(r)) => format!("plan `{r}`"),
        (None, None) => "plan".to_string(),
    };
    let summaries: Vec<&str> = text.lines().filter(|l| l.starts_with("Plan:")).collect();
    let said = if summaries.is_empty() {
        text.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    } else {
        summaries.join(" | ")
    };
    format!("tpt {what}: {said} (the whole plan is in the log)")
}

/// The plan request of a `tpt.plan` command.
pub fn plan_request(p: &ExecuteCommandParams) -> Result<PlanRequest, Failure> {
    argument(p)
}

fn argument<T: serde::de::DeserializeOwned>(p: &ExecuteCommandParams) -> Result<T, Failure> {
    let first = p.arguments.first().cloned().unwrap_or(Value::Null);
    serde_json::from_value(first).map_err(|e| {
        Failure::new(
            ErrorCode::InvalidParams,
            format!("`{}` takes one argument: {e}", p.command),
        )
    })
}

/// A flag a running plan reads, set by `$/cancelRequest` or `shutdown`.
pub type CancelFlag = Arc<AtomicBool>;

pub fn cancelled(flag: &CancelFlag) -> bool {
    flag.load(Ordering::Relaxed)
}

//! `tpt graph`: the dependency graph of one environment, as DOT, JSON or text.

use std::io::Write;
use std::process::ExitCode;

use tpt_planner::graph;

use super::{exit, load_and_check, select_environments, FAILED, OK};
use crate::cli::{GraphArgs, GraphFormat};
use crate::host::EnvInputs;
use crate::render::{status, Renderer, Tally};

pub fn run(args: &GraphArgs, renderer: &Renderer) -> ExitCode {
    let checked = load_and_check(&args.path);
    let fail = |diags: &[tpt_lang::Diagnostic]| {
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
    let evaluated = match tpt_lang::evaluate(&checked.program, env.as_deref(), &EnvInputs) {
        Ok(e) => e,
        Err(diags) => return fail(&diags),
    };
    let g = match graph::build(&evaluated.resources) {
        Ok(g) => g,
        Err(diags) => return fail(&diags),
    };
    let title = env.as_deref().unwrap_or("tpt");
    let text = match args.format {
        GraphFormat::Dot => graph::to_dot(&g, title),
        GraphFormat::Text => graph::to_text(&g),
        GraphFormat::Json => serde_json::to_string_pretty(&graph::to_json(&g))
            .map(|s| s + "\n")
            .unwrap_or_default(),
    };
    // A closed pipe (`tpt graph … | head`) is not an error of the configuration.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    exit(OK)
}

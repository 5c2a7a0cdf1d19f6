//! `tpt graph`: the dependency graph of one environment, as DOT, JSON or text.

use std::io::Write;
use std::process::ExitCode;

use tpt_planner::graph;

use super::{evaluate_env, exit, failed, OK};
use crate::cli::{GraphArgs, GraphFormat};
use crate::render::Renderer;

pub fn run(args: &GraphArgs, renderer: &Renderer) -> ExitCode {
    let run = match evaluate_env(&args.path, args.env.as_deref(), &args.vars, renderer) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (evaluated, env) = (&run.evaluated, &run.env);
    let g = match graph::build(&evaluated.resources) {
        Ok(g) => g,
        Err(diags) => return failed(renderer, &diags, &run.checked.program.sources),
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

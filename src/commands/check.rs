//! `tpt check`: type-check a configuration, then evaluate its environments so
//! that evaluation errors (refinements of computed values, missing inputs, …)
//! surface before anything is planned.

use std::process::ExitCode;

use tpt_lang::diagnostic::sort_diagnostics;

use super::{exit, load_and_check, select_environments, FAILED, OK};
use crate::cli::CheckArgs;
use crate::host::EnvInputs;
use crate::render::{plural, status, Renderer, Tally};

pub fn run(args: &CheckArgs, renderer: &Renderer) -> ExitCode {
    let mut checked = load_and_check(&args.path);
    let mut evaluated = 0;
    if !checked.has_errors() {
        match select_environments(&checked.environments(), args.env.as_deref(), false) {
            Ok(envs) => {
                for env in &envs {
                    match tpt_lang::evaluate(&checked.program, env.as_deref(), &EnvInputs) {
                        // A dependency cycle is an error of the configuration too.
                        Ok(evaluated) => {
                            if let Err(diags) = tpt_planner::graph::build(&evaluated.resources) {
                                checked.diagnostics.extend(diags);
                            }
                        }
                        Err(diags) => checked.diagnostics.extend(diags),
                    }
                }
                evaluated = envs.iter().filter(|e| e.is_some()).count();
            }
            Err(d) => checked.diagnostics.push(d),
        }
        sort_diagnostics(&mut checked.diagnostics);
    }
    renderer.emit(&checked.diagnostics, &checked.program.sources);
    let tally = Tally::of(&checked.diagnostics);
    if tally.errors > 0 {
        status(&format!("error: {}", tally.describe()));
        return exit(FAILED);
    }
    let mut what = plural(checked.file_count(), "file");
    if evaluated > 0 {
        what = format!("{what}, {}", plural(evaluated, "environment"));
    }
    let warnings = if tally.warnings > 0 {
        format!(", {}", tally.describe())
    } else {
        String::new()
    };
    status(&format!("checked {what}: ok{warnings}"));
    exit(OK)
}

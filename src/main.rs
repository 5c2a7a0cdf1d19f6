//! `tpt`, the command line: parses arguments, reads files, runs the language
//! crate's phases and prints diagnostics and results. The only printing layer.

// The printing layer: the workspace denies printing to every other crate.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod log;
mod progress;
mod render;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::render::Renderer;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let renderer = Renderer::new(cli.color);
    if let Err(d) = log::init(std::env::var("TPT_LOG").ok().as_deref(), cli.log_file.as_deref()) {
        return commands::failed(&renderer, &[d], &tpt_lang::SourceMap::new());
    }
    tpt_executor::host::set_budget(cli.max_eval_steps, cli.max_eval_bytes);
    if let Err(d) = tpt_executor::host::allow_imports_from(&cli.allow_imports_from) {
        return commands::failed(&renderer, &[d], &tpt_lang::SourceMap::new());
    }
    match &cli.command {
        Command::Check(args) => commands::check::run(args, &renderer),
        Command::Eval(args) => commands::eval::run(args, &renderer),
        Command::Fmt(args) => commands::fmt::run(args, &renderer),
        Command::Graph(args) => commands::graph::run(args, &renderer),
        Command::Envs(cli::EnvsCommand::Diff(args)) => commands::envs::diff(args, &renderer),
        Command::Promote(args) => commands::promote::run(args, &renderer),
        Command::Plan(args) => commands::plan::run(args, &renderer),
        Command::State(cmd) => commands::state::run(cmd, &renderer),
        Command::Output(args) => commands::output::run(args, &renderer),
        Command::Import(args) => commands::import::run(args, &renderer),
        Command::Show(args) => commands::plan::show(args, &renderer),
        Command::Apply(args) => commands::apply::run(args, false, &renderer),
        Command::Destroy(args) => commands::apply::run(args, true, &renderer),
        Command::Lsp(_) => match commands::lsp::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: tpt lsp: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A panic is a bug of tpt, never of the input: say so and ask for a report.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "error: internal error in tpt (this is a bug, not a problem with your configuration)\n\
             please report it with the input that caused it"
        );
        default(info);
    }));
}

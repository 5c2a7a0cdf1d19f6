//! How long the front end takes on the generated service catalogue
//! (`tpt_lang::generate::catalogue`), phase by phase: parse alone, then load
//! (parse + collect), check and evaluate. Builds only this crate, so it runs
//! in a minute: `cargo bench -p tpt-lang --bench parse` (sizes with
//! `TPT_BENCH_SIZES=5000,20000`, repetitions with `TPT_BENCH_RUNS=7`). The
//! whole process (`tpt check`) is measured by the root's `benches/check_eval.rs`.
//! A second table checks and evaluates every environment of a chain of N
//! environments, each extending the one before (`TPT_BENCH_ENVS=10000`).
//! A benchmark measures; it does not assert.

// A benchmark reports by printing its table.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use tpt_lang::eval::NoInputs;
use tpt_lang::source::FileId;
use tpt_lang::Program;

/// Numbers from a comma-separated environment variable, or `default`.
fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn best(xs: &[Duration]) -> f64 {
    xs.iter().min().copied().unwrap_or_default().as_secs_f64() * 1000.0
}

fn main() {
    let sizes = env_list("TPT_BENCH_SIZES", &[5_000, 20_000, 100_000]);
    let runs = env_list("TPT_BENCH_RUNS", &[5])
        .first()
        .copied()
        .unwrap_or(5)
        .max(1);
    println!("the service catalogue, best of {runs} runs\n");
    println!("| resources | bytes | parse ms | load ms | check ms | eval ms | µs / resource | diags |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let text = tpt_lang::generate::catalogue(n);
        let (mut parse, mut load, mut check, mut eval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut diags = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            let (file, d) = tpt_lang::syntax::parse(FileId(0), &text);
            parse.push(t0.elapsed());
            drop(file);
            diags = d.len();
            let t1 = Instant::now();
            let program = Program::from_text("main.tpt", &text);
            let t2 = Instant::now();
            diags += tpt_lang::check(&program).len();
            let t3 = Instant::now();
            if let Err(d) = tpt_lang::evaluate(&program, None, &NoInputs) {
                diags += d.len();
            }
            let t4 = Instant::now();
            load.push(t2 - t1);
            check.push(t3 - t2);
            eval.push(t4 - t3);
        }
        let total = best(&load) + best(&check) + best(&eval);
        println!(
            "| {n} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {diags} |",
            text.len(),
            best(&parse),
            best(&load),
            best(&check),
            best(&eval),
            total * 1000.0 / n as f64
        );
    }
    environments(runs);
}

/// N environments, each extending the one before and setting one param to a
/// value of its own, over the catalogue of 10 resources: check, then evaluate
/// every environment (one whole evaluation each).
fn environments(runs: usize) {
    let sizes = env_list("TPT_BENCH_ENVS", &[1_000, 10_000]);
    println!("\na chain of environments, each extending the one before; check and evaluate every one, best of {runs} runs\n");
    println!("| environments | check ms | eval all ms | µs / environment | diags |");
    println!("|---:|---:|---:|---:|---:|");
    for n in sizes {
        let text = tpt_lang::generate::environment_chain(n, n);
        let (mut check, mut eval) = (Vec::new(), Vec::new());
        let mut diags = 0;
        for _ in 0..runs {
            let program = Program::from_text("main.tpt", &text);
            let t0 = Instant::now();
            diags = tpt_lang::check(&program).len();
            let t1 = Instant::now();
            for env in program.module(program.root()).environments.keys() {
                if let Err(d) = tpt_lang::evaluate(&program, Some(env), &NoInputs) {
                    diags += d.len();
                }
            }
            check.push(t1 - t0);
            eval.push(t1.elapsed());
        }
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {diags} |",
            best(&check),
            best(&eval),
            (best(&check) + best(&eval)) * 1000.0 / n as f64
        );
    }
}

//! Fuzzes the whole front end: load, check, and evaluate. No input may panic.
//! `tpt check` starts evaluating beside the type check and stops the
//! evaluation when the program is ill-typed, so ill-typed programs are
//! evaluated too here, on a small budget (the stop comes within a few steps
//! of the check's end there; a small budget stands in for it here).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_lang::eval::{Budget, Inputs};

struct Fuzzing {
    budget: Budget,
}

impl Inputs for Fuzzing {
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }

    fn budget(&self) -> Budget {
        self.budget
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let program = tpt_lang::Program::from_text("main.tpt", src);
    let diags = tpt_lang::check(&program);
    let budget = if diags.iter().any(|d| d.is_error()) {
        Budget { steps: 100_000, bytes: 16 << 20 }
    } else {
        Budget::default()
    };
    let inputs = Fuzzing { budget };
    let envs: Vec<String> = program.module(program.root()).environments.keys().cloned().collect();
    if envs.is_empty() {
        let _ = tpt_lang::evaluate(&program, None, &inputs);
    }
    for env in envs {
        let _ = tpt_lang::evaluate(&program, Some(&env), &inputs);
    }
});

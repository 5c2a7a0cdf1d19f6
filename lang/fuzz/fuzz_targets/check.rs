//! Fuzzes the whole front end: load, check, and (when well-typed) evaluate.
//! No input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let program = tpt_lang::Program::from_text("main.tpt", src);
    let diags = tpt_lang::check(&program);
    if !diags.iter().any(|d| d.is_error()) {
        let envs: Vec<String> = program.module(program.root()).environments.keys().cloned().collect();
        if envs.is_empty() {
            let _ = tpt_lang::evaluate(&program, None, &tpt_lang::eval::NoInputs);
        }
        for env in envs {
            let _ = tpt_lang::evaluate(&program, Some(&env), &tpt_lang::eval::NoInputs);
        }
    }
});

//! Fuzzes the parser and the formatter: no input may panic, and formatting
//! what parsed must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_lang::source::FileId;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let (_file, diags) = tpt_lang::syntax::parse(FileId(0), src);
    if diags.is_empty() {
        if let Ok(formatted) = tpt_lang::fmt::format_source(FileId(0), src) {
            let (_again, diags) = tpt_lang::syntax::parse(FileId(0), &formatted);
            assert!(diags.is_empty(), "formatted output does not parse:\n{formatted}");
        }
    }
});

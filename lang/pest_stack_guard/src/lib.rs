//! pest's stack probe, answering "unknown": pest then relies on its call
//! limit and the caller's own bound on nesting, as it does without `std`.
//! See this crate's `Cargo.toml` for why tpt replaces the original.

/// The remaining native stack in bytes: never known here, so pest does not
/// probe the stack on every rule call.
#[inline(always)]
pub fn remaining_stack() -> Option<usize> {
    None
}

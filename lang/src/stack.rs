//! Room on the stack for the recursive phases.
//!
//! The parser bounds how deep one expression nests (`syntax::parser::MAX_NESTING`,
//! `MAX_DEPTH`), but a walk also follows names: a `let` that reads another
//! `let`, a function that calls another, an alias of an alias. Such chains may
//! be as long as the file. Every step that follows a name, and every
//! expression node, goes through [`guard`]: when less than [`RED_ZONE`] of the
//! thread's stack is left, the step continues on a fresh segment allocated on
//! the heap, so a chain of any length is walked on any thread (also the 2 MiB
//! threads of tests and the language server) without overflowing.

/// Below this much stack left, a step moves to a new segment. One expression
/// node's frames in a debug build fit in it with room to spare.
const RED_ZONE: usize = 256 * 1024;
/// The size of each new segment.
const SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, on a new stack segment when the current one is nearly used up.
#[inline]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

//! Room on the stack for the recursive phases.
//!
//! The parser bounds how deep one expression nests (`syntax::parser::MAX_NESTING`,
//! `MAX_DEPTH`), but a walk also follows names: a `let` that reads another
//! `let`, a function that calls another, an alias of an alias. Such chains may
//! be as long as the file. Every sixteenth nested step of the checker and the
//! evaluator (and every step of the formatter and of type resolution) goes
//! through [`guard`]: when less than [`RED_ZONE`] of the
//! thread's stack is left, the step continues on a fresh segment allocated on
//! the heap, so a chain of any length is walked on any thread (also the 2 MiB
//! threads of tests and the language server) without overflowing.

/// Below this much stack left, a step moves to a new segment. One expression
/// node's frames in a debug build fit in it with room to spare.
const RED_ZONE: usize = 256 * 1024;
/// The size of each new segment.
const SEGMENT: usize = 4 * 1024 * 1024;

/// How many nested steps of a walk run between two looks at the stack: a
/// look costs a thread-local read and a call, too much for every node, and
/// this many steps fit in the red zone many times over.
const EVERY: usize = 16;

/// Whether a walk `nest` steps deep should look at the stack now ([`guard`]).
#[inline]
pub(crate) fn due(nest: usize) -> bool {
    nest.is_multiple_of(EVERY)
}

/// Runs `f`, on a new stack segment when the current one is nearly used up.
#[inline]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

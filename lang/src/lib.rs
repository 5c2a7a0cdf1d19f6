//! The tpt language: parser, type checker, evaluator, formatter and diagnostics.
//!
//! Architecture invariant: this crate is pure. It does no IO of its own; files
//! are read through the [`program::FileSystem`] trait and named inputs (environment
//! variables of `secret_env`) through [`eval::Inputs`], both supplied by the caller.

// The grammar is derived with pest's `std` feature off (see the workspace
// manifest); its generated code names the `alloc` crate.
extern crate alloc;

/// The insertion-ordered map of the language (records, schema fields,
/// resources, inputs), hashed with foldhash: names are hashed in every phase,
/// and SipHash's defence against chosen keys buys nothing for configuration
/// files (it was a sixth of checking and evaluating).
pub type IndexMap<K, V> = indexmap::IndexMap<K, V, foldhash::fast::RandomState>;

pub mod diagnostic;
pub mod program;
pub mod source;
mod stack;
pub mod syntax;
pub mod types;
pub mod value;
pub mod yaml;

pub mod builtins;
pub mod check;
pub mod eval;
pub mod fmt;
pub mod generate;
mod insert;

pub use check::{check, Types};
pub use diagnostic::{Code, Diagnostic};
pub use eval::{
    evaluate, evaluate_alike, evaluate_with, Alike, Evaluated, Evaluation, Inputs, KnownOutputs, Lifecycle,
    ResourceInstance,
};
pub use program::{FileSystem, Program};
pub use source::{SourceMap, Span};
pub mod stdlib;

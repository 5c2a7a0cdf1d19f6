//! Implementations of the planner's `StateBackend`.

pub mod local;

pub use local::LocalBackend;

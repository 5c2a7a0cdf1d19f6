//! The planner: the check pipeline, the resource graph of an environment,
//! state and its backends' trait, refresh answers, diff and plan rendering.
//!
//! Architecture invariant: pure, like `tpt-lang` — no IO, no tokio, kube or AWS.

pub mod backend;
pub mod check;
pub mod envdiff;
pub mod graph;
pub mod plan;
pub mod refresh;
pub mod state;

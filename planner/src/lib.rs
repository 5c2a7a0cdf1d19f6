//! The planner: the resource graph of an environment (and, with the planner
//! issue, state, diff and plan rendering).
//!
//! Architecture invariant: pure, like `tpt-lang` — no IO, no tokio, kube or AWS.

pub mod backend;
pub mod envdiff;
pub mod graph;
pub mod plan;
pub mod refresh;
pub mod state;

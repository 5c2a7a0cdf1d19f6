//! The planner: resource graph, state model, diff and plan rendering.
//!
//! Architecture invariant: pure, like `tpt-lang` — no IO, no tokio, kube or AWS.
//! Its capabilities arrive with the graph and planner issues; until then the crate
//! only fixes the workspace layout of DESIGN.md §2.

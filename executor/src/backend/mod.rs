//! Implementations of the planner's `StateBackend`.

pub mod kubernetes;
pub mod local;

pub use kubernetes::KubernetesBackend;
pub use local::LocalBackend;

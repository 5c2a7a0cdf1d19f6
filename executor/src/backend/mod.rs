//! Implementations of the planner's `StateBackend`.

pub mod kubernetes;
pub mod local;
pub mod s3;

pub use kubernetes::KubernetesBackend;
pub use local::LocalBackend;
pub use s3::S3Backend;

//! The executor: the only crate that talks to the world. Today it holds the
//! state backends (`backend`); the graph walker and the providers (Kubernetes,
//! AWS EKS / RDS / Route53) arrive with the executor issue.

pub mod backend;

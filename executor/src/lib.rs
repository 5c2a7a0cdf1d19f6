//! The executor: the graph walker and the providers (Kubernetes, AWS EKS / RDS /
//! Route53). The only crate that talks to the world. Its capabilities arrive with
//! the executor issue; until then the crate only fixes the workspace layout.

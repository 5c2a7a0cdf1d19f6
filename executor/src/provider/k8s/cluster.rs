//! `k8s.KubeconfigCluster`: an existing cluster, reached through a kubeconfig
//! context. Nothing is created or deleted: the record says how the kinds that
//! run on it reach it.

use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::present;
use crate::provider::{Applied, Cx, Desired, Fields, Provider, ProviderError};

/// The schema this module applies.
pub const KIND: &str = "k8s.KubeconfigCluster";

pub struct KubeconfigCluster;

fn applied(d: &Desired) -> Result<Applied, ProviderError> {
    d.opt_str("kubeconfig")?;
    Ok(Applied {
        rendered: Default::default(),
        provider_id: d.str("context")?.to_string(),
        outputs: IndexMap::default(),
    })
}

#[async_trait::async_trait]
impl Provider for KubeconfigCluster {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("it names a context of a kubeconfig and makes nothing: declare it, and the plan records it")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            // Recording them is the update: what runs on the cluster reaches it
            // through the recorded context at its next operation.
            in_place: &["context", "kubeconfig"],
            reads: &[],
            outputs: &[],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        applied(d).map(|_| ())
    }

    async fn create(&self, _cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        applied(d)
    }

    async fn update(&self, _cx: &Cx, _prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        applied(d)
    }

    async fn delete(&self, _cx: &Cx, _prior: &ResourceState) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn read(&self, _cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        Ok(present(prior))
    }

    async fn lookup(&self, _cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        applied(d).map(Some)
    }
}

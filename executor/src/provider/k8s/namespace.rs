//! `k8s.Namespace`: a namespace with its labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value as J};
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::Kube;
use crate::provider::{Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct Namespace(pub Arc<Kube>);

/// The label the API server puts on every namespace (not the configuration's).
const SERVER_LABEL: &str = "kubernetes.io/metadata.name";

fn object(d: &Desired) -> Result<J, ProviderError> {
    Ok(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": d.str("name")?, "labels": d.json("labels")?}}))
}

#[async_trait::async_trait]
impl Provider for Namespace {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("tpt records the Kubernetes objects it applied as an inventory in the provider ID, which objects made elsewhere lack; delete them and let tpt apply them")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &["labels"],
            reads: &["labels"],
            outputs: &[],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        object(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let (_, id) = self.0.apply_set(cx, d, None, &[object(d)?], None).await?;
        Ok(Applied {
            rendered: Default::default(),
            provider_id: id,
            outputs: IndexMap::default(),
        })
    }

    async fn update(&self, cx: &Cx, _prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        // Server-side apply: labels tpt set before and no longer sets are removed.
        self.create(cx, d).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        self.0.delete_set(cx, prior).await
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let Some(live) = self
            .0
            .live_set(cx, prior)
            .await?
            .and_then(|set| set.into_iter().next())
        else {
            return Ok(Live::Gone);
        };
        let labels: BTreeMap<String, J> = live["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.as_str() != SERVER_LABEL)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut inputs = BTreeMap::new();
        inputs.insert("labels".to_string(), json!(labels));
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        self.create(cx, d).await.map(Some)
    }
}

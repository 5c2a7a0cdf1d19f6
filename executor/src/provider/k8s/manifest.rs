//! `k8s.Manifest`: any one Kubernetes object, written as YAML, applied with
//! server-side apply. Read back as the fields the text sets, so that a change
//! made by hand to any of them is drift.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as J;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{abilities, cluster_of, parse_object_id, wait_ready, Kube};
use crate::provider::{stored_str, Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct Manifest(pub Arc<Kube>);

/// The object of a `manifest` text.
fn object(text: &str) -> Result<J, ProviderError> {
    let obj: J = serde_yaml::from_str(text)
        .map_err(|e| ProviderError::permanent(format!("`manifest` is not YAML: {e}")))?;
    if !obj.is_object() {
        return Err(ProviderError::permanent("`manifest` must be one YAML object"));
    }
    for (path, v) in [
        ("apiVersion", &obj["apiVersion"]),
        ("kind", &obj["kind"]),
        ("metadata.name", &obj["metadata"]["name"]),
    ] {
        if !v.is_string() {
            return Err(ProviderError::permanent(format!(
                "the object in `manifest` needs `{path}`"
            )));
        }
    }
    Ok(obj)
}

/// What `live` has at the places `written` sets: the object as far as the
/// manifest speaks of it.
fn project(written: &J, live: &J) -> J {
    match (written, live) {
        (J::Object(w), J::Object(l)) => J::Object(
            w.iter()
                .map(|(k, wv)| (k.clone(), project(wv, l.get(k).unwrap_or(&J::Null))))
                .collect(),
        ),
        (J::Array(w), J::Array(l)) if w.len() == l.len() => {
            J::Array(w.iter().zip(l).map(|(wv, lv)| project(wv, lv)).collect())
        }
        _ => live.clone(),
    }
}

/// Equal as Kubernetes reads them: `8080` and `"8080"` differ, `1` and `1.0` do not.
fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => a == b,
    }
}

impl Manifest {
    /// Applies the object; another kind or name is another object, and the
    /// one `prior` recorded is deleted after.
    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let obj = object(d.str("manifest")?)?;
        let (client, id) = self
            .0
            .apply_set(cx, d, prior, std::slice::from_ref(&obj), d.opt_str("namespace")?)
            .await?;
        // A CRD was waited for by `apply_set`.
        let can = abilities(cx, cluster_of(d));
        if d.bool("wait")? && can.runs_pods && obj["kind"] != "CustomResourceDefinition" {
            if let Some(stub) = parse_object_id(&id) {
                let off = "set `wait = false` on the manifest to not wait (or `runs_pods = false` on its cluster if it runs no pods)";
                wait_ready(cx, &client, &stub, None, Some(off)).await?;
            }
        }
        Ok(Applied {
            rendered: Default::default(),
            provider_id: id,
            outputs: IndexMap::default(),
        })
    }
}

#[async_trait::async_trait]
impl Provider for Manifest {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("tpt records the Kubernetes objects it applied as an inventory in the provider ID, which objects made elsewhere lack; delete them and let tpt apply them")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            // Another kind or name is another object: applied, then the old one deleted.
            in_place: &["manifest", "namespace"],
            reads: &["manifest"],
            outputs: &[],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        d.opt_str("namespace")?;
        d.bool("wait")?;
        object(d.str("manifest")?).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, None).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, Some(prior)).await
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
        let mut inputs = BTreeMap::new();
        let text = stored_str(&prior.inputs, "manifest").unwrap_or_default();
        if let Ok(written) = object(text) {
            let mut seen = project(&written, &live);
            // The namespace comes from `namespace` when the text has none.
            if written["metadata"].get("namespace").is_none() {
                if let Some(m) = seen["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
            let shown = if same(&seen, &written) {
                J::String(text.to_string())
            } else {
                J::String(serde_yaml::to_string(&seen).unwrap_or_default())
            };
            inputs.insert("manifest".to_string(), shown);
        }
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        let obj = object(d.str("manifest")?)?;
        self.0
            .find_set(cx, d, std::slice::from_ref(&obj), d.opt_str("namespace")?)
            .await
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted apply is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_live_object_is_read_where_the_manifest_speaks() {
        let written = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
        let live =
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "uid": "1"}, "data": {"k": "w", "x": "y"}});
        assert_eq!(
            project(&written, &live),
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "w"}})
        );
        assert!(same(&json!({"n": 1}), &json!({"n": 1.0})));
        assert!(!same(&json!({"n": 1}), &json!({"n": "1"})));
    }
}

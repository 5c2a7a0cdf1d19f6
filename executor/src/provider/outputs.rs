//! `state.Outputs`: another configuration's root outputs, read from its state
//! through the backend it uses (local files, Kubernetes, S3). A data lookup:
//! read at every plan, never changed. Secret outputs are left out — the state
//! holds only their fingerprints.

use std::path::PathBuf;

use serde_json::Value as J;
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::state::is_sensitive;

use super::{Applied, Cx, DataSource, Desired, ProviderError};
use crate::session::BackendChoice;

pub struct RemoteOutputs;

impl RemoteOutputs {
    /// The backend the inputs name, and where its local state would be.
    fn choice(cx: &Cx, d: &Desired) -> Result<(BackendChoice, PathBuf), ProviderError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let backend = d.str("backend")?;
        let choice = match backend {
            "local" => BackendChoice::Local,
            "kubernetes" => BackendChoice::Kubernetes {
                kubeconfig: d
                    .opt_str("kubeconfig")?
                    .map(|k| cx.base_dir.join(k))
                    .or_else(|| var("KUBECONFIG").map(PathBuf::from))
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
                    .unwrap_or_default(),
                context: d.opt_str("context")?.map(str::to_string),
                namespace: d.str("namespace")?.to_string(),
            },
            "s3" => BackendChoice::S3 {
                bucket: d
                    .opt_str("bucket")?
                    .ok_or_else(|| ProviderError::permanent("`backend = \"s3\"` needs `bucket`"))?
                    .to_string(),
                prefix: d.str("prefix")?.to_string(),
                kms_key: None,
            },
            other => {
                return Err(ProviderError::permanent(format!(
                    "unknown state backend `{other}`"
                )))
            }
        };
        let dir = match (backend, d.opt_str("path")?) {
            ("local", Some(p)) => {
                let config = cx.base_dir.join(p);
                let base = if config.is_file() {
                    config.parent().map(PathBuf::from).unwrap_or_default()
                } else {
                    config
                };
                base.join(".tpt")
            }
            ("local", None) => {
                return Err(ProviderError::permanent(
                    "`backend = \"local\"` needs `path`, the other configuration's directory",
                ))
            }
            _ => PathBuf::new(),
        };
        Ok((choice, dir))
    }
}

#[async_trait::async_trait]
impl DataSource for RemoteOutputs {
    async fn read_data(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let (choice, dir) = Self::choice(cx, d)?;
        let env = d.str("environment")?.to_string();
        let shown = match &choice {
            BackendChoice::Local => format!("{}", dir.display()),
            BackendChoice::Kubernetes { namespace, .. } => format!("namespace `{namespace}`"),
            BackendChoice::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            BackendChoice::Unknown(b) => b.clone(),
        };
        // Backends run their own runtimes: read on a thread of its own.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let read_env = env.clone();
        std::thread::spawn(move || {
            let state = crate::lock::open_backend(&choice, &dir)
                .map_err(|d| d.message)
                .and_then(|b| b.read(&read_env).map_err(|e| e.to_string()));
            let _ = tx.send(state);
        });
        let state = rx
            .await
            .map_err(|_| ProviderError::permanent("the state could not be read"))?
            .map_err(|m| {
                ProviderError::permanent(format!("cannot read the state of `{env}` ({shown}): {m}"))
            })?
            .ok_or_else(|| {
                ProviderError::not_found(format!("`{env}` has no recorded state ({shown}): apply it first"))
            })?;
        let values: IndexMap<String, Value> = state
            .outputs
            .iter()
            .filter(|(_, v)| !is_sensitive(v))
            .map(|(k, v)| {
                let text = match v {
                    J::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), Value::str(text))
            })
            .collect();
        let mut outputs = IndexMap::default();
        outputs.insert("values".to_string(), Value::record(values));
        Ok(Applied {
            rendered: Default::default(),
            provider_id: format!("{shown}#{env}"),
            outputs,
        })
    }
}

//! The Kubernetes backend, for teams: the state of an environment lives in a
//! Secret (`tpt-state-ENV`, key `state.json`, the previous version under
//! `state.json.backup`), its lock is a `coordination.k8s.io/v1` Lease
//! (`tpt-lock-ENV`) whose annotation names the holder. Writes replace the
//! Secret with its `resourceVersion`, so a concurrent writer fails instead of
//! overwriting; taking the lock is a create, which only one caller can win.
//!
//! The `StateBackend` trait is synchronous; this backend runs the kube client on
//! its own single-threaded tokio runtime.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::{State, StateError};

const STATE_KEY: &str = "state.json";
const BACKUP_KEY: &str = "state.json.backup";
const HOLDER_ANNOTATION: &str = "tpt.dev/lock";

pub struct KubernetesBackend {
    runtime: tokio::runtime::Runtime,
    client: Client,
    namespace: String,
}

fn io(e: impl std::fmt::Display) -> BackendError {
    BackendError::Io(format!("Kubernetes state backend: {e}"))
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl KubernetesBackend {
    /// Connects with a kubeconfig file and context (`None`: its current context);
    /// state objects live in `namespace`, which must exist.
    pub fn connect(
        kubeconfig: &std::path::Path,
        context: Option<&str>,
        namespace: &str,
    ) -> Result<Self, BackendError> {
        crate::install_crypto();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        let kc = Kubeconfig::read_from(kubeconfig).map_err(io)?;
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let client = runtime.block_on(async {
            let config = Config::from_custom_kubeconfig(kc, &options).await.map_err(io)?;
            Client::try_from(config).map_err(io)
        })?;
        Ok(KubernetesBackend {
            runtime,
            client,
            namespace: namespace.to_string(),
        })
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn state_name(env: &str) -> String {
        format!("tpt-state-{env}")
    }

    fn lock_name(env: &str) -> String {
        format!("tpt-lock-{env}")
    }
}

fn with_name(e: StateError, what: &str) -> BackendError {
    BackendError::State(match e {
        StateError::Corrupt(m) => StateError::Corrupt(format!("{what}: {m}")),
        other => other,
    })
}

/// The Secret holding the state key of every environment in the namespace.
const KEY_SECRET: &str = "tpt-state-key";

impl StateBackend for KubernetesBackend {
    /// The Secret `tpt-state-key` of the namespace, made by whoever needs it
    /// first (the API server lets one create win).
    fn key(&self) -> Result<Vec<u8>, BackendError> {
        let api = self.secrets();
        let read = |secret: Option<Secret>| -> Result<Option<Vec<u8>>, BackendError> {
            let Some(secret) = secret else { return Ok(None) };
            match secret.data.and_then(|mut d| d.remove("key")) {
                Some(k) if !k.0.is_empty() => Ok(Some(k.0)),
                _ => Err(BackendError::Io(format!(
                    "the Secret {}/{KEY_SECRET} holds no `key`",
                    self.namespace
                ))),
            }
        };
        if let Some(k) = read(self.runtime.block_on(api.get_opt(KEY_SECRET)).map_err(io)?)? {
            return Ok(k);
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(KEY_SECRET.to_string()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "key".to_string(),
                ByteString(super::local::fresh_key().into_bytes()),
            )])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        match self.runtime.block_on(api.create(&PostParams::default(), &secret)) {
            Ok(made) => read(Some(made))?.ok_or_else(|| io("the new state key Secret is empty")),
            Err(e) if is_status(&e, 409) => {
                read(self.runtime.block_on(api.get_opt(KEY_SECRET)).map_err(io)?)?
                    .ok_or_else(|| io("the state key Secret disappeared"))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn read(&self, env: &str) -> Result<Option<State>, BackendError> {
        let name = Self::state_name(env);
        let secret = self.runtime.block_on(self.secrets().get_opt(&name)).map_err(io)?;
        let Some(bytes) = secret.and_then(|s| s.data).and_then(|mut d| d.remove(STATE_KEY)) else {
            return Ok(None);
        };
        State::parse(&bytes.0)
            .map(Some)
            .map_err(|e| with_name(e, &format!("Secret {}/{name}", self.namespace)))
    }

    fn write(&self, env: &str, state: &State) -> Result<(), BackendError> {
        let name = Self::state_name(env);
        let api = self.secrets();
        let existing = self.runtime.block_on(api.get_opt(&name)).map_err(io)?;
        let text = ByteString(state.to_json().into_bytes());
        match existing {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(STATE_KEY.to_string(), text)])),
                    type_: Some("Opaque".into()),
                    ..Default::default()
                };
                self.runtime
                    .block_on(api.create(&PostParams::default(), &secret))
                    .map_err(io)?;
            }
            Some(mut secret) => {
                let mut data = secret.data.take().unwrap_or_default();
                // Never replace what is not valid state; keep it as the backup otherwise.
                if let Some(old) = data.remove(STATE_KEY) {
                    State::parse(&old.0)
                        .map_err(|e| with_name(e, &format!("Secret {}/{name}", self.namespace)))?;
                    data.insert(BACKUP_KEY.to_string(), old);
                }
                data.insert(STATE_KEY.to_string(), text);
                secret.data = Some(data);
                // `replace` sends the resourceVersion read above: a concurrent write fails with 409.
                self.runtime
                    .block_on(api.replace(&name, &PostParams::default(), &secret))
                    .map_err(|e| {
                        if is_status(&e, 409) {
                            BackendError::Io(format!(
                                "the state Secret `{name}` changed while it was written; run again"
                            ))
                        } else {
                            io(e)
                        }
                    })?;
            }
        }
        Ok(())
    }

    fn lock(&self, env: &str, info: &LockInfo) -> Result<(), BackendError> {
        let name = Self::lock_name(env);
        let holder = serde_json::to_string(info).map_err(io)?;
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                annotations: Some(BTreeMap::from([(HOLDER_ANNOTATION.to_string(), holder)])),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(info.id.clone()),
                ..Default::default()
            }),
        };
        match self
            .runtime
            .block_on(self.leases().create(&PostParams::default(), &lease))
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 409) => match self.lock_holder(env)? {
                Some(holder) => Err(BackendError::Locked(holder)),
                None => Err(BackendError::Io(format!(
                    "the lock `{name}` changed hands; try again"
                ))),
            },
            Err(e) => Err(io(e)),
        }
    }

    fn unlock(&self, env: &str, id: &str) -> Result<(), BackendError> {
        match self.lock_holder(env)? {
            Some(holder) if holder.id == id => {
                let name = Self::lock_name(env);
                self.runtime
                    .block_on(self.leases().delete(&name, &DeleteParams::default()))
                    .map_err(io)?;
                Ok(())
            }
            held => Err(BackendError::NotLocked { held }),
        }
    }

    fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>, BackendError> {
        let name = Self::lock_name(env);
        let lease = self.runtime.block_on(self.leases().get_opt(&name)).map_err(io)?;
        let Some(lease) = lease else { return Ok(None) };
        let annotation = lease
            .metadata
            .annotations
            .and_then(|mut a| a.remove(HOLDER_ANNOTATION));
        match annotation {
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| BackendError::Io(format!("the lock Lease `{name}` is not readable: {e}"))),
            // A Lease without our annotation: someone holds it, we cannot say who.
            None => Ok(Some(LockInfo {
                id: lease.spec.and_then(|s| s.holder_identity).unwrap_or_default(),
                who: "unknown".into(),
                when: "unknown".into(),
                operation: "unknown".into(),
            })),
        }
    }
}

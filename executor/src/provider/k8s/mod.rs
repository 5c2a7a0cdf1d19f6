//! Kubernetes kinds and what they share: clients per cluster, server-side
//! apply (field manager `tpt`) of any object, reading and deleting objects,
//! waits. The kinds:
//!
//! - `namespace` (`k8s.Namespace`), `manifest` (`k8s.Manifest`: any object,
//!   CRDs included), `app` (`k8s.App`, which expands — as Threeport's
//!   workloads do — to a Deployment and a Service, and an Ingress when it has
//!   one, with its secret environment variables in a Secret);
//! - `helm`: `k8s.HelmRelease`, a chart rendered by `helm` and applied by tpt,
//!   and `ChartKind`, what every kind made of charts shares;
//! - `services`: the support services as their upstream charts:
//!   `k8s.IngressController` (ingress-nginx), `k8s.CertManager`;
//! - `cluster`: `k8s.KubeconfigCluster`, a cluster reached through a kubeconfig.
//!
//! Which cluster: an app's `cluster` refers to a `k8s.KubeconfigCluster`
//! (its kubeconfig and context) or an `aws.EksCluster`, reached at its
//! `endpoint`, trusted by its `certificate_authority`, with a token signed by
//! the AWS credentials (`eks.rs`, renewed every ten minutes). The kubeconfig
//! named by `TPT_EKS_KUBECONFIG` (and `TPT_EKS_CONTEXT`) takes its place when
//! set (a proxy, a test cluster).

pub mod app;
pub mod cluster;
pub mod gateway;
pub mod helm;
pub mod identity;
pub mod manifest;
pub mod namespace;
pub mod services;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::{Api, Client, Config};
use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{found, stored_str, Cx, Desired, ErrorKind, ProviderError, Referenced};

const MANAGER: &str = "tpt";

fn kube_err(what: &str, e: kube::Error) -> ProviderError {
    match &e {
        kube::Error::Api(s) if s.code == 404 => ProviderError::not_found(format!("{what}: {}", s.message)),
        kube::Error::Api(s) if s.code == 429 || s.code >= 500 => {
            ProviderError::transient(format!("{what}: {} ({})", s.message, s.code))
        }
        kube::Error::Api(s) => ProviderError::permanent(format!("{what}: {} ({})", s.message, s.code)),
        // Connection trouble, timeouts, TLS hiccups: worth another try.
        _ => ProviderError::transient(format!("{what}: {e}")),
    }
}

pub(crate) fn s(v: impl Into<String>) -> Value {
    Value::str(v.into())
}

/// Clients by cluster, made on first use.
pub struct Kube {
    /// For the tokens of EKS clusters.
    aws: Arc<super::aws::Aws>,
    /// Clients by cluster address, with when their token was made if it expires.
    clients: Mutex<BTreeMap<String, (Client, Option<Instant>)>>,
}

impl Kube {
    /// The AWS clients (the IAM roles of service accounts on EKS).
    pub(crate) fn aws(&self) -> &super::aws::Aws {
        &self.aws
    }

    pub fn new(aws: Arc<super::aws::Aws>) -> Kube {
        Kube {
            aws,
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// A client for the EKS cluster `r` at its endpoint, with a fresh token.
    async fn eks_client(&self, address: &str, r: &Referenced) -> Result<Client, ProviderError> {
        let output = |field: &str| stored_str(&r.outputs, field).filter(|v| !v.is_empty());
        let (Some(endpoint), Some(ca)) = (output("endpoint"), output("certificate_authority")) else {
            return Err(ProviderError::permanent(format!(
                "the EKS cluster `{address}` has no endpoint and certificate authority recorded yet"
            )));
        };
        let name = output("arn")
            .and_then(|a| a.rsplit('/').next())
            .map_or_else(|| super::default_name(address), str::to_string);
        let region = stored_str(&r.inputs, "region").unwrap_or("us-east-1");
        let credentials = self.aws.credentials().await.map_err(ProviderError::permanent)?;
        let token = super::aws::eks_token::token(&credentials, region, &name, std::time::SystemTime::now())
            .map_err(ProviderError::permanent)?;
        let config = super::aws::eks_token::config(endpoint, ca, token)
            .map_err(|e| ProviderError::permanent(format!("EKS cluster `{address}`: {e}")))?;
        Client::try_from(config)
            .map_err(|e| ProviderError::permanent(format!("EKS cluster `{address}`: {e}")))
    }

    /// The client for the cluster `d`'s `cluster` field refers to.
    async fn client_for(&self, cx: &Cx, cluster: Option<&str>) -> Result<Client, ProviderError> {
        let Some(address) = cluster else {
            return Err(ProviderError::permanent("the resource names no cluster"));
        };
        let cached = self.clients.lock().ok().and_then(|m| m.get(address).cloned());
        if let Some((c, made)) = cached {
            if made.is_none_or(|t| t.elapsed() < super::aws::eks_token::TOKEN_LIFETIME) {
                return Ok(c);
            }
        }
        let Some(r) = cx.refs.get(address) else {
            return Err(ProviderError::permanent(format!(
                "the cluster `{address}` is not applied yet"
            )));
        };
        let (path, context) = match r.kind.as_str() {
            cluster::KIND => (
                stored_str(&r.inputs, "kubeconfig").map(std::path::PathBuf::from),
                stored_str(&r.inputs, "context").map(str::to_string),
            ),
            super::aws::eks::KIND => match std::env::var_os("TPT_EKS_KUBECONFIG") {
                Some(p) => (
                    Some(std::path::PathBuf::from(p)),
                    std::env::var("TPT_EKS_CONTEXT").ok(),
                ),
                None => {
                    let client = self.eks_client(address, r).await?;
                    if let Ok(mut m) = self.clients.lock() {
                        m.insert(address.to_string(), (client.clone(), Some(Instant::now())));
                    }
                    return Ok(client);
                }
            },
            other => {
                return Err(ProviderError::permanent(format!(
                    "`{address}` is a `{other}`, not a cluster"
                )))
            }
        };
        let kubeconfig = match path {
            Some(p) => Kubeconfig::read_from(&p)
                .map_err(|e| ProviderError::permanent(format!("cluster `{address}`: {e}")))?,
            None => Kubeconfig::read()
                .map_err(|e| ProviderError::permanent(format!("cannot read the kubeconfig: {e}")))?,
        };
        let options = KubeConfigOptions {
            context,
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| ProviderError::permanent(format!("kubeconfig of `{address}`: {e}")))?;
        let client = Client::try_from(config)
            .map_err(|e| ProviderError::permanent(format!("cluster `{address}`: {e}")))?;
        if let Ok(mut m) = self.clients.lock() {
            m.insert(address.to_string(), (client.clone(), None));
        }
        Ok(client)
    }

    async fn client(&self, cx: &Cx, d: &Desired) -> Result<Client, ProviderError> {
        self.client_for(cx, Some(d.reference("cluster")?)).await
    }

    async fn client_of(&self, cx: &Cx, prior: &ResourceState) -> Result<Client, ProviderError> {
        let cluster = prior
            .inputs
            .get("cluster")
            .and_then(|c| c.get("$resource"))
            .and_then(J::as_str);
        self.client_for(cx, cluster).await
    }
}

/// Whether the API server serves the kind of `obj` now (one discovery, no
/// waiting for a CRD to become served).
async fn served(cx: &Cx, client: &Client, obj: &J) -> Result<bool, ProviderError> {
    let (gvk, what) = kind_of(obj);
    let r = cx
        .call(&what, || async {
            kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|e| match e {
                    // The group is served but not this kind.
                    kube::Error::Discovery(_) => ProviderError::not_found(format!("{what}: {e}")),
                    e => kube_err(&what, e),
                })
        })
        .await;
    Ok(found(r)?.is_some())
}

/// The group, version and kind of `obj`, and the name of discovering it.
fn kind_of(obj: &J) -> (GroupVersionKind, String) {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    (
        GroupVersionKind::gvk(group, version, kind),
        format!("discover {api_version} {kind}"),
    )
}

/// The API of an object's kind, found by discovery (a kind a CRD just added
/// may take a moment to be served: that is retried).
async fn api_for(
    cx: &Cx,
    client: &Client,
    obj: &J,
    default_ns: Option<&str>,
) -> Result<(Api<DynamicObject>, String, Option<String>), ProviderError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return Err(ProviderError::permanent(
            "the object needs `apiVersion`, `kind` and `metadata.name`",
        ));
    }
    let (gvk, what) = kind_of(obj);
    let (ar, caps): (ApiResource, _) = cx
        .call(&what, || async {
            kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| {
                let mut err = kube_err(&what, e);
                // Not served (yet): a CRD applied a moment ago becomes served soon.
                if err.kind == ErrorKind::NotFound {
                    err.kind = ErrorKind::Transient;
                }
                err
            })
        })
        .await?;
    if caps.scope == Scope::Namespaced {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .or(default_ns)
            .unwrap_or("default")
            .to_string();
        Ok((Api::namespaced_with(client.clone(), &ns, &ar), name, Some(ns)))
    } else {
        Ok((Api::all_with(client.clone(), &ar), name, None))
    }
}

/// Server-side applies one object; returns it as the server has it now.
async fn apply_object(
    cx: &Cx,
    client: &Client,
    obj: &J,
    default_ns: Option<&str>,
) -> Result<J, ProviderError> {
    let (api, name, ns) = api_for(cx, client, obj, default_ns).await?;
    let mut obj = obj.clone();
    if let Some(ns) = &ns {
        obj["metadata"]["namespace"] = J::String(ns.clone());
    }
    let what = format!("apply {} `{name}`", obj["kind"].as_str().unwrap_or_default());
    let params = PatchParams::apply(MANAGER).force();
    let got = cx
        .call(&what, || async {
            api.patch(&name, &params, &Patch::Apply(&obj))
                .await
                .map_err(|e| kube_err(&what, e))
        })
        .await?;
    serde_json::to_value(got).map_err(|e| ProviderError::permanent(e.to_string()))
}

async fn get_object(
    cx: &Cx,
    client: &Client,
    obj: &J,
    default_ns: Option<&str>,
) -> Result<Option<J>, ProviderError> {
    let (api, name, _) = api_for(cx, client, obj, default_ns).await?;
    let what = format!("get {} `{name}`", obj["kind"].as_str().unwrap_or_default());
    let got = cx
        .call(&what, || async {
            api.get_opt(&name).await.map_err(|e| kube_err(&what, e))
        })
        .await?;
    got.map(|o| serde_json::to_value(o).map_err(|e| ProviderError::permanent(e.to_string())))
        .transpose()
}

async fn delete_object(
    cx: &Cx,
    client: &Client,
    obj: &J,
    default_ns: Option<&str>,
) -> Result<(), ProviderError> {
    // The kind is gone (its CRD deleted): so is the object.
    let Some((api, name, _)) = found(api_for(cx, client, obj, default_ns).await)? else {
        return Ok(());
    };
    let what = format!("delete {} `{name}`", obj["kind"].as_str().unwrap_or_default());
    let r = cx
        .call(&what, || async {
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(|e| kube_err(&what, e))
        })
        .await;
    if found(r)?.is_none() {
        return Ok(());
    }
    // Objects with finalizers (namespaces, CRDs) linger: wait until they are
    // gone, so that what is applied next does not meet the old one.
    let gone = format!(
        "{} `{name}` to be deleted",
        obj["kind"].as_str().unwrap_or_default()
    );
    cx.wait_for(&gone, || async {
        let o = api.get_opt(&name).await.map_err(|e| kube_err(&gone, e))?;
        Ok(o.is_none().then_some(()))
    })
    .await
}

/// A reference to an object, enough to get or delete it.
fn stub(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> J {
    let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = namespace {
        o["metadata"]["namespace"] = J::String(ns.to_string());
    }
    o
}

/// An Ingress, as apps and gateways make one.
struct Ingress<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: &'a J,
    /// The host routed, or any host.
    host: Option<&'a str>,
    paths: &'a [String],
    /// The Service routed to, and its port.
    service: &'a str,
    port: i64,
    /// The ingress class (from the controller named), else the cluster's default.
    class: Option<&'a str>,
    /// The `ClusterIssuer` of the certificate (from the cert-manager named).
    issuer: Option<&'a str>,
    /// Serve HTTPS (needs a host): the certificate in `<name>-tls`.
    tls: bool,
    https_redirect: bool,
}

impl Ingress<'_> {
    fn object(&self) -> J {
        let tls = self.tls && self.host.is_some();
        let mut annotations = serde_json::Map::new();
        if let (true, Some(issuer)) = (tls, self.issuer) {
            annotations.insert(
                "cert-manager.io/cluster-issuer".into(),
                J::String(issuer.to_string()),
            );
        }
        if tls {
            annotations.insert(
                "nginx.ingress.kubernetes.io/ssl-redirect".into(),
                J::String(self.https_redirect.to_string()),
            );
        }
        let paths: Vec<J> = self
            .paths
            .iter()
            .map(|p| {
                json!({
                    "path": p,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": self.service, "port": {"number": self.port}}},
                })
            })
            .collect();
        let mut rule = json!({"http": {"paths": paths}});
        if let Some(host) = self.host {
            rule["host"] = J::String(host.to_string());
        }
        let mut spec = json!({"rules": [rule]});
        if let Some(class) = self.class {
            spec["ingressClassName"] = J::String(class.to_string());
        }
        if let (true, Some(host)) = (tls, self.host) {
            spec["tls"] = json!([{"hosts": [host], "secretName": format!("{}-tls", self.name)}]);
        }
        let mut metadata = json!({"name": self.name, "namespace": self.namespace, "labels": self.labels});
        // No empty map: the server keeps none, and it would read back as drift.
        if !annotations.is_empty() {
            metadata["annotations"] = J::Object(annotations);
        }
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec})
    }
}

/// `apiVersion:kind:namespace:name`, the provider ID of one object.
fn object_id(obj: &J) -> String {
    format!(
        "{}:{}:{}:{}",
        obj["apiVersion"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn parse_object_id(id: &str) -> Option<J> {
    let mut p = id.splitn(4, ':');
    let (av, kind, ns, name) = (p.next()?, p.next()?, p.next()?, p.next()?);
    Some(stub(av, kind, (!ns.is_empty()).then_some(ns), name))
}

/// Whether an object reports itself ready (Available, Ready or Established).
fn is_ready(obj: &J) -> bool {
    let conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conditions.is_empty() {
        // Objects without conditions are ready once they exist.
        return obj["kind"] != "Deployment" && obj["kind"] != "CustomResourceDefinition";
    }
    conditions.iter().any(|c| {
        matches!(c["type"].as_str(), Some("Available" | "Ready" | "Established")) && c["status"] == "True"
    })
}

/// The first load balancer address in an object's status.
fn load_balancer(obj: &J) -> Option<String> {
    let first = &obj["status"]["loadBalancer"]["ingress"][0];
    first["hostname"]
        .as_str()
        .or_else(|| first["ip"].as_str())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// Waits until `obj` reports itself ready; `off` says how to turn the wait
/// off (`None`: it cannot be).
async fn wait_ready(
    cx: &Cx,
    client: &Client,
    obj: &J,
    ns: Option<&str>,
    off: Option<&str>,
) -> Result<J, ProviderError> {
    let what = format!(
        "{} `{}` to be ready",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    );
    cx.wait_until(&what, off, || async {
        Ok(get_object(cx, client, obj, ns).await?.filter(is_ready))
    })
    .await
}

/// What a cluster can do, as its `@setting`s say (`registry::CLUSTER_SETTINGS`):
/// the waits that can end there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    pub load_balancers: bool,
    pub runs_pods: bool,
}

/// The abilities of the cluster `cluster` (an address), read from the operation's
/// references; a cluster recorded before the settings existed can do everything.
pub fn abilities(cx: &Cx, cluster: Option<&str>) -> Abilities {
    let setting = |name: &str| referred(cx, cluster, name).and_then(J::as_bool).unwrap_or(true);
    Abilities {
        load_balancers: setting("load_balancers"),
        runs_pods: setting("runs_pods"),
    }
}

/// Input `field` of the resource at `address` that the operated one refers
/// to (a cluster's settings, a controller's class): as recorded, or as the
/// configuration gives it while rendering; `None` when unknown (validating).
fn referred<'a>(cx: &'a Cx, address: Option<&str>, field: &str) -> Option<&'a J> {
    cx.refs.get(address?)?.inputs.get(field)
}

/// The address `cluster` of a resource that runs on one.
pub fn cluster_of(d: &Desired) -> Option<&str> {
    d.reference("cluster").ok()
}

async fn wait_load_balancer(
    cx: &Cx,
    client: &Client,
    obj: &J,
    ns: Option<&str>,
) -> Result<String, ProviderError> {
    let what = format!(
        "a load balancer for {} `{}`",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    );
    let off = "set `load_balancers = false` on the cluster if it has none";
    cx.wait_until(&what, Some(off), || async {
        Ok(get_object(cx, client, obj, ns)
            .await?
            .as_ref()
            .and_then(load_balancer))
    })
    .await
}

async fn ensure_namespace(cx: &Cx, client: &Client, ns: &str) -> Result<(), ProviderError> {
    if ns == "default" {
        return Ok(());
    }
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    apply_object(cx, client, &obj, None).await.map(|_| ())
}

/// Deletes the objects of `prior_id` that `now_id` no longer has (a set of
/// objects that dropped some), the last applied first.
async fn prune(cx: &Cx, client: &Client, prior_id: &str, now_id: &str) -> Result<(), ProviderError> {
    // One object whatever its API version (`policy/v1beta1` → `policy/v1` is
    // the same PodDisruptionBudget): compared by group, kind, namespace, name.
    let now: std::collections::BTreeSet<String> = now_id.split(',').map(same_object).collect();
    // A namespace that still holds an object of the new set stays.
    let namespaces: std::collections::BTreeSet<&str> =
        now_id.split(',').filter_map(|id| id.split(':').nth(2)).collect();
    for id in prior_id
        .split(',')
        .rev()
        .filter(|id| !now.contains(&same_object(id)))
    {
        let Some(o) = parse_object_id(id) else { continue };
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        if o["kind"] == "Namespace" && namespaces.contains(name) {
            continue;
        }
        delete_object(cx, client, &o, None).await?;
    }
    Ok(())
}

/// An object ID without the version of its API (`apps:Deployment:ns:web`).
fn same_object(id: &str) -> String {
    let mut parts = id.splitn(4, ':');
    let api = parts.next().unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let rest: Vec<&str> = parts.collect();
    format!("{group}:{}", rest.join(":"))
}

/// A live object whose objects are all there, with nothing read back.
fn present(prior: &ResourceState) -> Live {
    Live::Present {
        inputs: BTreeMap::new(),
        outputs: prior.outputs.clone(),
    }
}

/// Sets of objects: what the kinds made of objects (charts rendered by helm,
/// a manifest, a namespace) are recorded as, by the IDs of their objects,
/// comma-separated (the provider ID).
impl Kube {
    /// Applies `objects` in order (CRDs waited for until established) on
    /// `d`'s cluster; what `prior`'s set had and this one has not is deleted
    /// after. Returns the client and the set's ID.
    async fn apply_set(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
        objects: &[J],
        ns: Option<&str>,
    ) -> Result<(Client, String), ProviderError> {
        let client = self.client(cx, d).await?;
        let mut ids = Vec::new();
        for o in objects {
            let got = apply_object(cx, &client, o, ns).await?;
            if o["kind"] == "CustomResourceDefinition" {
                wait_ready(cx, &client, &got, None, None).await?;
            }
            ids.push(object_id(&got));
        }
        let id = ids.join(",");
        if let Some(p) = prior {
            prune(cx, &client, &p.provider_id, &id).await?;
        }
        Ok((client, id))
    }

    /// The IDs of the objects of a set (rendered, not applied) that exist,
    /// without waiting for any; `None` when none does. A set is applied in
    /// order, so the first one missing ends the search (the kinds of later
    /// ones may not be served yet: their CRDs come first).
    async fn find_set(
        &self,
        cx: &Cx,
        d: &Desired,
        objects: &[J],
        ns: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        let client = self.client(cx, d).await?;
        let mut ids = Vec::new();
        for o in objects {
            // A kind not served (its CRD not made yet) has no object: asked once.
            if !served(cx, &client, o).await? {
                break;
            }
            match get_object(cx, &client, o, ns).await? {
                Some(got) => ids.push(object_id(&got)),
                None => break,
            }
        }
        Ok((!ids.is_empty()).then(|| ids.join(",")))
    }

    /// The objects of a recorded set as they are now; `None` when one is gone.
    async fn live_set(&self, cx: &Cx, prior: &ResourceState) -> Result<Option<Vec<J>>, ProviderError> {
        let client = self.client_of(cx, prior).await?;
        let mut out = Vec::new();
        for one in prior.provider_id.split(',') {
            let Some(o) = parse_object_id(one) else { continue };
            match get_object(cx, &client, &o, None).await? {
                Some(got) => out.push(got),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Deletes every object of a recorded set, the last applied first
    /// (namespaces and CRDs, applied first, go last).
    async fn delete_set(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let client = self.client_of(cx, prior).await?;
        prune(cx, &client, &prior.provider_id, "").await
    }
}

//! Kubernetes, through `kube` with server-side apply (field manager `tpt`).
//!
//! - `k8s.Namespace`, `k8s.Manifest` (any object, CRDs included), and
//!   `k8s.App`, which expands — as Threeport's workloads do — to a Deployment
//!   and a Service (and an Ingress when it has one), with its secret
//!   environment variables (the database connection) in a Secret.
//! - `k8s.IngressController` (ingress-nginx) and `k8s.CertManager` are
//!   applied as sets of objects rendered by tpt.
//! - `k8s.KubeconfigCluster` records a cluster reached through a kubeconfig.
//!
//! Which cluster: an app's `cluster` refers to a `k8s.KubeconfigCluster`
//! (its kubeconfig and context) or an `aws.EksCluster`, reached at its
//! `endpoint`, trusted by its `certificate_authority`, with a token signed by
//! the AWS credentials (`eks.rs`, renewed every ten minutes). The kubeconfig
//! named by `TPT_EKS_KUBECONFIG` (and `TPT_EKS_CONTEXT`) takes its place when
//! set (a proxy, a test cluster).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use indexmap::IndexMap;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::{Api, Client, Config};
use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{reveal, stored_str, Applied, Cx, Desired, ErrorKind, Provider, ProviderError, Referenced};

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

fn s(v: impl Into<String>) -> Value {
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
        let token = super::eks::token(&credentials, region, &name, std::time::SystemTime::now())
            .map_err(ProviderError::permanent)?;
        let config = super::eks::config(endpoint, ca, token)
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
            if made.is_none_or(|t| t.elapsed() < super::eks::TOKEN_LIFETIME) {
                return Ok(c);
            }
        }
        let Some(r) = cx.refs.get(address) else {
            return Err(ProviderError::permanent(format!(
                "the cluster `{address}` is not applied yet"
            )));
        };
        let (path, context) = match r.schema.as_str() {
            "k8s.KubeconfigCluster" => (
                stored_str(&r.inputs, "kubeconfig").map(std::path::PathBuf::from),
                stored_str(&r.inputs, "context").map(str::to_string),
            ),
            "aws.EksCluster" => match std::env::var_os("TPT_EKS_KUBECONFIG") {
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
        self.client_for(cx, d.reference("cluster")).await
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
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let what = format!("discover {api_version} {kind}");
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
    let (api, name, _) = match api_for(cx, client, obj, default_ns).await {
        Ok(x) => x,
        // The kind is gone (its CRD deleted): so is the object.
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let what = format!("delete {} `{name}`", obj["kind"].as_str().unwrap_or_default());
    let r = cx
        .call(&what, || async {
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(|e| kube_err(&what, e))
        })
        .await;
    match r {
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(_) => {}
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

async fn wait_ready(cx: &Cx, client: &Client, obj: &J, ns: Option<&str>) -> Result<J, ProviderError> {
    let what = format!(
        "{} `{}` to be ready",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    );
    cx.wait_for(&what, || async {
        Ok(get_object(cx, client, obj, ns).await?.filter(is_ready))
    })
    .await
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
    cx.wait_for(&what, || async {
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

// ------------------------------------------------------------------ App

/// The objects of an app: Secret (if any secret env), Deployment, Service,
/// Ingress (if any), in apply order.
fn app_objects(cx: &Cx, d: &Desired) -> (String, String, Vec<J>) {
    let name = d.name_or_default("name");
    let ns = d.str("namespace").unwrap_or("default").to_string();
    let port = d.int("port").unwrap_or(8080);
    let mut labels: serde_json::Map<String, J> = match d.json("labels") {
        J::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    labels.insert("app.kubernetes.io/name".into(), J::String(name.clone()));
    labels.insert("app.kubernetes.io/managed-by".into(), J::String("tpt".into()));
    let selector = json!({"app.kubernetes.io/name": name});
    let secret_name = format!("{name}-env");
    let mut env = Vec::new();
    let mut secret_data = serde_json::Map::new();
    if let Some(Value::Record(m)) = d.inputs.get("env") {
        for (k, v) in m.iter() {
            let (inner, sensitive) = v.unwrap_secret();
            let text = match reveal(inner) {
                J::String(t) => t,
                other => other.to_string(),
            };
            if sensitive {
                secret_data.insert(
                    k.clone(),
                    J::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
                );
                env.push(json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k}}}));
            } else {
                env.push(json!({"name": k, "value": text}));
            }
        }
    }
    let resources = d.json("resources");
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    if let Some(c) = resources["cpu"].as_str() {
        requests.insert("cpu".into(), J::String(c.into()));
    }
    if let Some(m) = resources["memory"].as_str() {
        requests.insert("memory".into(), J::String(m.into()));
        limits.insert(
            "memory".into(),
            J::String(resources["memory_limit"].as_str().unwrap_or(m).into()),
        );
    }
    if let Some(c) = resources["cpu_limit"].as_str() {
        limits.insert("cpu".into(), J::String(c.into()));
    }
    let health = d.str("health_path").unwrap_or("/healthz");
    let probe = json!({"httpGet": {"path": health, "port": port}});
    let mut objects = Vec::new();
    let mut pod_annotations = serde_json::Map::new();
    if !secret_data.is_empty() {
        // Pods restart when a secret value changes; the fingerprint is keyed.
        let all = serde_json::to_string(&secret_data).unwrap_or_default();
        pod_annotations.insert(
            "tpt.dev/env-fingerprint".into(),
            J::String(cx.secrets.fingerprint(&all)),
        );
        objects.push(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": ns, "labels": labels},
            "type": "Opaque",
            "data": secret_data,
        }));
    }
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": d.int("replicas").unwrap_or(1),
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": pod_annotations},
                "spec": {"containers": [{
                    "name": name,
                    "image": d.str("image").unwrap_or_default(),
                    "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                    "env": env,
                    "resources": {"requests": requests, "limits": limits},
                    "readinessProbe": probe,
                    "livenessProbe": probe,
                }]},
            },
        },
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }));
    let ingress = d.json("ingress");
    if let Some(host) = ingress["host"].as_str() {
        let tls = ingress["tls"].as_bool().unwrap_or(true);
        let mut annotations = serde_json::Map::new();
        if tls {
            annotations.insert(
                "cert-manager.io/cluster-issuer".into(),
                J::String("letsencrypt".into()),
            );
            annotations.insert(
                "nginx.ingress.kubernetes.io/ssl-redirect".into(),
                J::String(ingress["https_redirect"].as_bool().unwrap_or(true).to_string()),
            );
        }
        let mut spec = json!({
            "ingressClassName": "nginx",
            "rules": [{"host": host, "http": {"paths": [{
                "path": ingress["path"].as_str().unwrap_or("/"),
                "pathType": "Prefix",
                "backend": {"service": {"name": name, "port": {"number": port}}},
            }]}}],
        });
        if tls {
            spec["tls"] = json!([{"hosts": [host], "secretName": format!("{name}-tls")}]);
        }
        objects.push(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": spec,
        }));
    }
    (name, ns, objects)
}

impl Kube {
    async fn apply_app(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let client = self.client(cx, d).await?;
        let (name, ns, objects) = app_objects(cx, d);
        ensure_namespace(cx, &client, &ns).await?;
        for o in &objects {
            apply_object(cx, &client, o, Some(&ns)).await?;
        }
        // What the app no longer has (its secret, its ingress) is deleted.
        if prior.is_some() {
            let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
            if !kinds.contains(&"Secret") {
                delete_object(
                    cx,
                    &client,
                    &stub("v1", "Secret", Some(&ns), &format!("{name}-env")),
                    None,
                )
                .await?;
            }
            if !kinds.contains(&"Ingress") {
                delete_object(
                    cx,
                    &client,
                    &stub("networking.k8s.io/v1", "Ingress", Some(&ns), &name),
                    None,
                )
                .await?;
            }
        }
        if d.bool("wait").unwrap_or(true) {
            let deployment = stub("apps/v1", "Deployment", Some(&ns), &name);
            let replicas = d.int("replicas").unwrap_or(1);
            let what = format!("deployment `{name}` to roll out");
            cx.wait_for(&what, || async {
                let Some(o) = get_object(cx, &client, &deployment, None).await? else {
                    return Err(ProviderError::permanent(format!(
                        "deployment `{name}` disappeared"
                    )));
                };
                let st = &o["status"];
                let done = st["observedGeneration"].as_i64() >= o["metadata"]["generation"].as_i64()
                    && st["updatedReplicas"].as_i64().unwrap_or(0) == replicas
                    && st["availableReplicas"].as_i64().unwrap_or(0) == replicas;
                Ok(done.then_some(()))
            })
            .await?;
        }
        let port = d.int("port").unwrap_or(8080);
        let hostname = if objects.iter().any(|o| o["kind"] == "Ingress") {
            let ingress = stub("networking.k8s.io/v1", "Ingress", Some(&ns), &name);
            wait_load_balancer(cx, &client, &ingress, None).await?
        } else {
            String::new()
        };
        let mut outputs = IndexMap::new();
        outputs.insert("service_name".to_string(), s(name.as_str()));
        outputs.insert("url".to_string(), s(format!("http://{name}.{ns}.svc:{port}")));
        outputs.insert("ingress_hostname".to_string(), s(hostname));
        Ok(Applied {
            provider_id: format!("{ns}/{name}"),
            outputs,
        })
    }

    async fn delete_app(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let client = self.client_of(cx, prior).await?;
        let (ns, name) = prior
            .provider_id
            .split_once('/')
            .unwrap_or(("default", &prior.provider_id));
        for o in [
            stub("networking.k8s.io/v1", "Ingress", Some(ns), name),
            stub("v1", "Service", Some(ns), name),
            stub("apps/v1", "Deployment", Some(ns), name),
            stub("v1", "Secret", Some(ns), &format!("{name}-env")),
        ] {
            delete_object(cx, &client, &o, None).await?;
        }
        Ok(())
    }

    async fn read_app(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.client_of(cx, prior).await?;
        let (ns, name) = prior
            .provider_id
            .split_once('/')
            .unwrap_or(("default", &prior.provider_id));
        let Some(dep) = get_object(cx, &client, &stub("apps/v1", "Deployment", Some(ns), name), None).await?
        else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(r) = dep["spec"]["replicas"].as_i64() {
            inputs.insert("replicas".to_string(), J::from(r));
        }
        let container = &dep["spec"]["template"]["spec"]["containers"][0];
        if let Some(i) = container["image"].as_str() {
            inputs.insert("image".to_string(), J::String(i.to_string()));
        }
        if let Some(p) = container["ports"][0]["containerPort"].as_i64() {
            inputs.insert("port".to_string(), J::from(p));
        }
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }
}

// ------------------------------------------------------------------ support services

/// The objects of a support service, in apply order.
fn bundle(d: &Desired) -> (Vec<J>, Option<J>) {
    match d.schema.as_str() {
        "k8s.IngressController" => ingress_nginx(d),
        "k8s.CertManager" => (cert_manager(d), None),
        _ => (Vec::new(), None),
    }
}

/// ingress-nginx: its namespace, account and permissions, the controller, its
/// load-balanced Service (returned second: its address is the output) and
/// the IngressClass apps use.
fn ingress_nginx(d: &Desired) -> (Vec<J>, Option<J>) {
    let ns = "ingress-nginx";
    let class = d.str("class_name").unwrap_or("nginx");
    let chart = d.str("version").unwrap_or("4.11.2");
    // Chart 4.x.y ships controller 1.x.y.
    let controller = match chart.split_once('.') {
        Some((_, rest)) => format!("v1.{rest}"),
        None => "v1.11.2".to_string(),
    };
    let labels = json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/managed-by": "tpt"});
    let mut service_annotations = serde_json::Map::new();
    if d.bool("internal").unwrap_or(false) {
        service_annotations.insert(
            "service.beta.kubernetes.io/aws-load-balancer-internal".into(),
            J::String("true".into()),
        );
    }
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ingress-nginx-controller", "namespace": ns, "labels": labels, "annotations": service_annotations},
        "spec": {"type": "LoadBalancer", "selector": labels, "ports": [
            {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"},
        ]},
    });
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ingress-nginx", "namespace": ns, "labels": labels}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "tpt-ingress-nginx", "labels": labels},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps", "endpoints", "nodes", "pods", "secrets", "namespaces", "services"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "tpt-ingress-nginx", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tpt-ingress-nginx"},
            "subjects": [{"kind": "ServiceAccount", "name": "ingress-nginx", "namespace": ns}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ingress-nginx-controller", "namespace": ns, "labels": labels},
        "spec": {"replicas": d.int("replicas").unwrap_or(2), "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "ingress-nginx",
                "containers": [{
                    "name": "controller",
                    "image": format!("registry.k8s.io/ingress-nginx/controller:{controller}"),
                    "args": ["/nginx-ingress-controller", format!("--ingress-class={class}"),
                        format!("--controller-class=k8s.io/ingress-nginx"),
                        format!("--publish-service={ns}/ingress-nginx-controller")],
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
                              {"name": "https", "containerPort": 443, "protocol": "TCP"}],
                }]}}}}),
        service.clone(),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": class, "labels": labels},
            "spec": {"controller": "k8s.io/ingress-nginx"}}),
    ];
    (objects, Some(service))
}

/// A CRD of cert-manager's that keeps any spec (the controller validates).
fn cert_manager_crd(kind: &str, plural: &str, scope: &str) -> J {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.cert-manager.io")},
        "spec": {"group": "cert-manager.io", "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_ascii_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    })
}

/// cert-manager: its CRDs, namespace, account and permissions, the
/// controller, and the `letsencrypt` ClusterIssuer apps' ingresses name.
fn cert_manager(d: &Desired) -> Vec<J> {
    let ns = "cert-manager";
    let version = d.str("version").unwrap_or("v1.15.3");
    let labels = json!({"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/managed-by": "tpt"});
    let server = if d.str("issuer") == Some("staging") {
        "https://acme-staging-v02.api.letsencrypt.org/directory"
    } else {
        "https://acme-v02.api.letsencrypt.org/directory"
    };
    let solver = if d.bool("dns01").unwrap_or(false) {
        json!({"dns01": {"route53": {}}})
    } else {
        json!({"http01": {"ingress": {"ingressClassName": "nginx"}}})
    };
    vec![
        cert_manager_crd("Certificate", "certificates", "Namespaced"),
        cert_manager_crd("CertificateRequest", "certificaterequests", "Namespaced"),
        cert_manager_crd("Issuer", "issuers", "Namespaced"),
        cert_manager_crd("ClusterIssuer", "clusterissuers", "Cluster"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "cert-manager", "namespace": ns, "labels": labels}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "tpt-cert-manager", "labels": labels},
        "rules": [
            {"apiGroups": ["cert-manager.io", "acme.cert-manager.io"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["secrets", "events", "services", "pods", "configmaps"], "verbs": ["*"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["*"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "tpt-cert-manager", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tpt-cert-manager"},
            "subjects": [{"kind": "ServiceAccount", "name": "cert-manager", "namespace": ns}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cert-manager", "namespace": ns, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "cert-manager",
                "containers": [{
                    "name": "controller",
                    "image": format!("quay.io/jetstack/cert-manager-controller:{version}"),
                    "args": [format!("--cluster-resource-namespace={ns}"), "--leader-election-namespace=cert-manager"],
                }]}}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": "letsencrypt", "labels": labels},
            "spec": {"acme": {"server": server, "email": d.str("admin_email").unwrap_or_default(),
                "privateKeySecretRef": {"name": "letsencrypt-account"}, "solvers": [solver]}}}),
    ]
}

impl Kube {
    async fn apply_bundle(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.client(cx, d).await?;
        let (objects, service) = bundle(d);
        let mut ids = Vec::new();
        for o in &objects {
            let got = apply_object(cx, &client, o, None).await?;
            if o["kind"] == "CustomResourceDefinition" {
                wait_ready(cx, &client, &got, None).await?;
            }
            ids.push(object_id(&got));
        }
        let mut outputs = IndexMap::new();
        if let Some(svc) = service {
            let host = wait_load_balancer(cx, &client, &svc, None).await?;
            outputs.insert("hostname".to_string(), s(host));
        }
        Ok(Applied {
            provider_id: ids.join(","),
            outputs,
        })
    }

    async fn delete_ids(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let client = self.client_of(cx, prior).await?;
        // Reverse order: the objects first, the namespaces and CRDs last.
        for id in prior.provider_id.split(',').rev() {
            if let Some(o) = parse_object_id(id) {
                delete_object(cx, &client, &o, None).await?;
            }
        }
        Ok(())
    }

    async fn read_ids(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.client_of(cx, prior).await?;
        for id in prior.provider_id.split(',') {
            let Some(o) = parse_object_id(id) else { continue };
            if get_object(cx, &client, &o, None).await?.is_none() {
                return Ok(Live::Gone);
            }
        }
        Ok(Live::Present {
            inputs: BTreeMap::new(),
            outputs: prior.outputs.clone(),
        })
    }

    async fn apply_manifest(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.client(cx, d).await?;
        let text = d.str("manifest").unwrap_or_default();
        let obj: J = serde_yaml::from_str(text)
            .map_err(|e| ProviderError::permanent(format!("`manifest` is not YAML: {e}")))?;
        if !obj.is_object() {
            return Err(ProviderError::permanent("`manifest` must be one YAML object"));
        }
        let ns = d.str("namespace");
        let got = apply_object(cx, &client, &obj, ns).await?;
        if d.bool("wait").unwrap_or(false) || obj["kind"] == "CustomResourceDefinition" {
            wait_ready(cx, &client, &got, None).await?;
        }
        Ok(Applied {
            provider_id: object_id(&got),
            outputs: IndexMap::new(),
        })
    }

    async fn apply_namespace(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.client(cx, d).await?;
        let name = d.str("name").unwrap_or_default();
        let obj = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": d.json("labels")}});
        let got = apply_object(cx, &client, &obj, None).await?;
        Ok(Applied {
            provider_id: object_id(&got),
            outputs: IndexMap::new(),
        })
    }

    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        match d.schema.as_str() {
            "k8s.App" => self.apply_app(cx, d, prior).await,
            "k8s.Manifest" => self.apply_manifest(cx, d).await,
            "k8s.Namespace" => self.apply_namespace(cx, d).await,
            "k8s.IngressController" | "k8s.CertManager" => self.apply_bundle(cx, d).await,
            "k8s.KubeconfigCluster" => {
                // Reachable? Listing namespaces proves the kubeconfig works.
                let id = d.str("context").unwrap_or_default().to_string();
                Ok(Applied {
                    provider_id: id,
                    outputs: IndexMap::new(),
                })
            }
            other => Err(ProviderError::permanent(format!(
                "no provider can apply `{other}` yet"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Provider for Kube {
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, None).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let applied = self.apply(cx, d, Some(prior)).await?;
        // A manifest or bundle that dropped objects: delete what is gone.
        if d.schema != "k8s.App" && prior.provider_id.contains(':') {
            let now: Vec<&str> = applied.provider_id.split(',').collect();
            let client = self.client(cx, d).await?;
            for id in prior.provider_id.split(',').rev().filter(|id| !now.contains(id)) {
                if let Some(o) = parse_object_id(id) {
                    delete_object(cx, &client, &o, None).await?;
                }
            }
        }
        Ok(applied)
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        match prior.schema.as_str() {
            "k8s.App" => self.delete_app(cx, prior).await,
            "k8s.KubeconfigCluster" => Ok(()),
            _ => self.delete_ids(cx, prior).await,
        }
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        match prior.schema.as_str() {
            "k8s.App" => self.read_app(cx, prior).await,
            "k8s.KubeconfigCluster" => Ok(Live::Present {
                inputs: BTreeMap::new(),
                outputs: prior.outputs.clone(),
            }),
            _ => self.read_ids(cx, prior).await,
        }
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted apply is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

//! `k8s.App`: a Deployment and a Service, an Ingress when it has one, and a
//! Secret holding its secret environment variables.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{
    abilities, apply_object, cluster_of, delete_object, ensure_namespace, get_object, referred, s, stub,
    wait_load_balancer, Ingress, Kube,
};
use crate::provider::{reveal, Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct App(pub Arc<Kube>);

/// Labels tpt puts on every object of an app (not the configuration's).
const OWN_LABELS: &[&str] = &["app.kubernetes.io/name", "app.kubernetes.io/managed-by"];

/// An app's objects, rendered from its inputs.
struct Rendered {
    name: String,
    ns: String,
    port: i64,
    replicas: i64,
    wait: bool,
    /// Secret (if any secret env), Deployment, Service, Ingress (if any), in apply order.
    objects: Vec<J>,
}

/// What an app's Ingress takes from the services it names: the ingress
/// controller's class and cert-manager's issuer, read from their records
/// (unknown while validating: no references then).
struct Used {
    class: Option<String>,
    issuer: Option<String>,
}

fn used(cx: &Cx, ingress: &J) -> Used {
    let input = |field: &str, name: &str| {
        referred(cx, ingress[field]["$resource"].as_str(), name)
            .and_then(J::as_str)
            .map(str::to_string)
    };
    Used {
        class: input("controller", "class_name"),
        issuer: input("certificates", "issuer_name"),
    }
}

fn render(cx: &Cx, d: &Desired) -> Result<Rendered, ProviderError> {
    let name = d.name_or_default("name")?;
    let ns = d.str("namespace")?.to_string();
    let port = d.int("port")?;
    let replicas = d.int("replicas")?;
    let mut labels: serde_json::Map<String, J> = match d.json("labels")? {
        J::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    labels.insert("app.kubernetes.io/name".into(), J::String(name.clone()));
    labels.insert("app.kubernetes.io/managed-by".into(), J::String("tpt".into()));
    let selector = json!({"app.kubernetes.io/name": name});
    let secret_name = format!("{name}-env");
    let mut env = Vec::new();
    let mut secret_data = serde_json::Map::new();
    if let Value::Record(m) = d.value("env")? {
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
    let resources = d.json("resources")?;
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
    let probe = json!({"httpGet": {"path": d.str("health_path")?, "port": port}});
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
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": pod_annotations},
                "spec": {"containers": [{
                    "name": name,
                    "image": d.str("image")?,
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
    let ingress = d.json("ingress")?;
    let used = used(cx, &ingress);
    if let Some(host) = ingress["host"].as_str() {
        let path = [ingress["path"].as_str().unwrap_or("/").to_string()];
        objects.push(
            Ingress {
                name: &name,
                namespace: &ns,
                labels: &J::Object(labels.clone()),
                host: Some(host),
                paths: &path,
                service: &name,
                port,
                class: used.class.as_deref(),
                issuer: used.issuer.as_deref(),
                tls: ingress["tls"].as_bool().unwrap_or(true),
                https_redirect: ingress["https_redirect"].as_bool().unwrap_or(true),
            }
            .object(),
        );
    }
    Ok(Rendered {
        name,
        ns,
        port,
        replicas,
        wait: d.bool("wait")?,
        objects,
    })
}

/// `namespace/name`, an app's provider ID.
fn id_parts(prior: &ResourceState) -> (&str, &str) {
    prior
        .provider_id
        .split_once('/')
        .unwrap_or(("default", &prior.provider_id))
}

/// A Kubernetes quantity in its smallest unit (millicores, bytes), to tell
/// `0.5` from `500m` apart from text.
fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let units: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// The live quantity, as recorded when they are the same amount.
fn as_recorded(recorded: &J, live: Option<&str>) -> J {
    match (recorded.as_str(), live) {
        (Some(r), Some(l)) if quantity(r).is_some() && quantity(r) == quantity(l) => recorded.clone(),
        (_, Some(l)) => J::String(l.to_string()),
        (_, None) => J::Null,
    }
}

/// The inputs an app's objects show, in stored form.
/// The container's environment in stored form: plain values as they are,
/// values from the app's Secret as the keyed fingerprint state keeps of a
/// secret (never in the clear), so a value changed by hand shows as drift.
fn env_read_back(cx: &Cx, deployment: &J, secret: Option<&J>) -> J {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut env = serde_json::Map::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else { continue };
        if let Some(v) = e["value"].as_str() {
            env.insert(name.to_string(), J::String(v.to_string()));
            continue;
        }
        let key = &e["valueFrom"]["secretKeyRef"]["key"];
        let encoded = secret.and_then(|s| s["data"][key.as_str().unwrap_or(name)].as_str());
        let plain = encoded
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        // A key missing from the Secret reads as a value nobody wrote.
        let text = serde_json::to_string(&J::String(plain.unwrap_or_default())).unwrap_or_default();
        env.insert(
            name.to_string(),
            json!({"$sensitive": cx.secrets.fingerprint(&text)}),
        );
    }
    J::Object(env)
}

fn read_back(prior: &ResourceState, deployment: &J, ingress: Option<&J>) -> BTreeMap<String, J> {
    let mut inputs = BTreeMap::new();
    if let Some(r) = deployment["spec"]["replicas"].as_i64() {
        inputs.insert("replicas".to_string(), J::from(r));
    }
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    if let Some(i) = container["image"].as_str() {
        inputs.insert("image".to_string(), J::String(i.to_string()));
    }
    if let Some(p) = container["ports"][0]["containerPort"].as_i64() {
        inputs.insert("port".to_string(), J::from(p));
    }
    if let Some(p) = container["readinessProbe"]["httpGet"]["path"].as_str() {
        inputs.insert("health_path".to_string(), J::String(p.to_string()));
    }
    let recorded = prior.inputs.get("resources").cloned().unwrap_or(J::Null);
    let requests = &container["resources"]["requests"];
    let limits = &container["resources"]["limits"];
    let memory = as_recorded(&recorded["memory"], requests["memory"].as_str());
    // No limit written: the limit is the memory requested.
    let memory_limit = if recorded["memory_limit"].is_null() && limits["memory"] == requests["memory"] {
        J::Null
    } else {
        as_recorded(&recorded["memory_limit"], limits["memory"].as_str())
    };
    inputs.insert(
        "resources".to_string(),
        json!({
            "cpu": as_recorded(&recorded["cpu"], requests["cpu"].as_str()),
            "memory": memory,
            "cpu_limit": as_recorded(&recorded["cpu_limit"], limits["cpu"].as_str()),
            "memory_limit": memory_limit,
        }),
    );
    let labels: BTreeMap<String, J> = deployment["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !OWN_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    inputs.insert("labels".to_string(), json!(labels));
    let ingress = ingress.map_or(J::Null, |i| {
        let rule = &i["spec"]["rules"][0];
        let tls = i["spec"]["tls"].as_array().is_some_and(|t| !t.is_empty());
        let redirect = i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"]
            .as_str()
            .map_or(prior.inputs["ingress"]["https_redirect"].clone(), |r| {
                J::Bool(r == "true")
            });
        // The services it names are not on the object: as recorded.
        let named = |f: &str| prior.inputs["ingress"].get(f).cloned().unwrap_or(J::Null);
        json!({
            "host": rule["host"],
            "path": rule["http"]["paths"][0]["path"],
            "controller": named("controller"),
            "certificates": named("certificates"),
            "tls": tls,
            "https_redirect": redirect,
        })
    });
    inputs.insert("ingress".to_string(), ingress);
    inputs
}

#[async_trait::async_trait]
impl Provider for App {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("tpt records the Kubernetes objects it applied as an inventory in the provider ID, which objects made elsewhere lack; delete them and let tpt apply them")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &[
                "image",
                "replicas",
                "port",
                "env",
                "resources",
                "health_path",
                "ingress",
                "labels",
            ],
            reads: &[
                "image",
                "replicas",
                "port",
                "env",
                "resources",
                "health_path",
                "ingress",
                "labels",
            ],
            outputs: &["service_name", "url", "ingress_hostname"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        // Rendering needs no call; fingerprints use a throwaway key here.
        let cx = Cx::offline(&d.address);
        render(&cx, d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, None).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, Some(prior)).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let client = self.0.client_of(cx, prior).await?;
        let (ns, name) = id_parts(prior);
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

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.0.client_of(cx, prior).await?;
        let (ns, name) = id_parts(prior);
        let Some(dep) = get_object(cx, &client, &stub("apps/v1", "Deployment", Some(ns), name), None).await?
        else {
            return Ok(Live::Gone);
        };
        let ingress = get_object(
            cx,
            &client,
            &stub("networking.k8s.io/v1", "Ingress", Some(ns), name),
            None,
        )
        .await?;
        let secret = get_object(
            cx,
            &client,
            &stub("v1", "Secret", Some(ns), &format!("{name}-env")),
            None,
        )
        .await?;
        let mut inputs = read_back(prior, &dep, ingress.as_ref());
        inputs.insert("env".to_string(), env_read_back(cx, &dep, secret.as_ref()));
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        let client = self.0.client(cx, d).await?;
        let r = render(cx, d)?;
        let deployment = stub("apps/v1", "Deployment", Some(&r.ns), &r.name);
        let found = get_object(cx, &client, &deployment, None).await?;
        Ok(found.map(|_| format!("{}/{}", r.ns, r.name)))
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted apply is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

impl App {
    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let client = self.0.client(cx, d).await?;
        let r = render(cx, d)?;
        let (name, ns) = (&r.name, &r.ns);
        ensure_namespace(cx, &client, ns).await?;
        for o in &r.objects {
            apply_object(cx, &client, o, Some(ns)).await?;
        }
        // What the app no longer has (its secret, its ingress) is deleted.
        if prior.is_some() {
            let kinds: Vec<&str> = r.objects.iter().filter_map(|o| o["kind"].as_str()).collect();
            if !kinds.contains(&"Secret") {
                let secret = stub("v1", "Secret", Some(ns), &format!("{name}-env"));
                delete_object(cx, &client, &secret, None).await?;
            }
            if !kinds.contains(&"Ingress") {
                let ingress = stub("networking.k8s.io/v1", "Ingress", Some(ns), name);
                delete_object(cx, &client, &ingress, None).await?;
            }
        }
        let can = abilities(cx, cluster_of(d));
        if r.wait && can.runs_pods {
            let deployment = stub("apps/v1", "Deployment", Some(ns), name);
            let what = format!("deployment `{name}` to roll out");
            let off = "set `wait = false` on the app to not wait for its rollout (or `runs_pods = false` on its cluster if it runs no pods)";
            cx.wait_until(&what, Some(off), || async {
                let Some(o) = get_object(cx, &client, &deployment, None).await? else {
                    return Err(ProviderError::permanent(format!(
                        "deployment `{name}` disappeared"
                    )));
                };
                let st = &o["status"];
                let done = st["observedGeneration"].as_i64() >= o["metadata"]["generation"].as_i64()
                    && st["updatedReplicas"].as_i64().unwrap_or(0) == r.replicas
                    && st["availableReplicas"].as_i64().unwrap_or(0) == r.replicas;
                Ok(done.then_some(()))
            })
            .await?;
        }
        let hostname = if can.load_balancers && r.objects.iter().any(|o| o["kind"] == "Ingress") {
            let ingress = stub("networking.k8s.io/v1", "Ingress", Some(ns), name);
            wait_load_balancer(cx, &client, &ingress, None).await?
        } else {
            String::new()
        };
        let mut outputs = IndexMap::default();
        outputs.insert("service_name".to_string(), s(name.as_str()));
        outputs.insert("url".to_string(), s(format!("http://{name}.{ns}.svc:{}", r.port)));
        outputs.insert("ingress_hostname".to_string(), s(hostname));
        Ok(Applied {
            rendered: Default::default(),
            provider_id: format!("{ns}/{name}"),
            outputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_by_amount() {
        assert_eq!(quantity("500m"), quantity("0.5"));
        assert_eq!(quantity("1Gi"), quantity("1024Mi"));
        assert_ne!(quantity("1G"), quantity("1Gi"));
        assert_eq!(as_recorded(&json!("0.5"), Some("500m")), json!("0.5"));
        assert_eq!(as_recorded(&json!("1"), Some("2")), json!("2"));
    }
}

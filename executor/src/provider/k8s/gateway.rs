//! `k8s.Gateway`: Threeport's gateway, exposing a Service of the cluster
//! outside it. HTTP is an Ingress on the controller the gateway names (its
//! class), at `SUBDOMAIN.DOMAIN` with a certificate from the cert-manager it
//! names (its issuer) and the DNS record kept by the external-dns it names
//! (whose zones must hold the host), or, without a domain, at the
//! controller's load balancer. TCP ports are a LoadBalancer Service of their
//! own (`<name>-tcp`) selecting the service's pods.
//!
//! A set of objects like a chart's: rendered before planning (the rendered
//! input `objects`, so the plan shows each object's change), applied with
//! server-side apply, read back where the record speaks, pruned and deleted
//! through the inventory in the provider ID.

use std::sync::Arc;

use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::helm::{key_of, read_objects};
use super::{
    abilities, cluster_of, ensure_namespace, get_object, referred, s, stub, wait_load_balancer, Ingress, Kube,
};
use crate::provider::{Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct Gateway(pub Arc<Kube>);

/// What the gateway takes from the services it names: the controller's
/// class, cert-manager's issuer, external-dns's zones (read from their
/// records; unknown while validating).
#[derive(Default)]
struct Used {
    class: Option<String>,
    issuer: Option<String>,
    zones: Option<Vec<String>>,
}

fn used(cx: &Cx, d: &Desired) -> Used {
    let input = |field: &str, name: &str| match d.value(field) {
        Ok(Value::Resource(a)) => referred(cx, Some(a), name).cloned(),
        _ => None,
    };
    Used {
        class: input("controller", "class_name").and_then(|v| v.as_str().map(str::to_string)),
        issuer: input("certificates", "issuer_name").and_then(|v| v.as_str().map(str::to_string)),
        zones: input("dns", "zones").and_then(|v| serde_json::from_value(v).ok()),
    }
}

/// The gateway as its inputs describe it.
struct Spec {
    name: String,
    ns: String,
    service: String,
    service_port: i64,
    http: bool,
    paths: Vec<String>,
    host: Option<String>,
    tls: bool,
    https_redirect: bool,
    /// (port on the load balancer, the service's port)
    tcp: Vec<(i64, i64)>,
    dns: bool,
}

fn spec(d: &Desired) -> Result<Spec, ProviderError> {
    let domain = d.opt_str("domain")?.map(|x| x.trim_end_matches('.').to_string());
    let subdomain = d.opt_str("subdomain")?;
    let (http, tls) = (d.bool("http")?, d.bool("tls")?);
    let dns = !matches!(d.value("dns")?, Value::Null);
    let host = match (&domain, subdomain) {
        (Some(domain), Some(sub)) => Some(format!("{sub}.{domain}")),
        (Some(domain), None) => Some(domain.clone()),
        (None, Some(_)) => {
            return Err(ProviderError::permanent(
                "`subdomain` is given without a `domain` to be under: give the `domain`",
            ))
        }
        (None, None) => None,
    };
    if host.is_none() && http && tls {
        return Err(ProviderError::permanent(
            "`tls` needs a `domain` to issue the certificate for (a load balancer's host name gets none): give a `domain`, or set `tls = false`",
        ));
    }
    if host.is_none() && dns {
        return Err(ProviderError::permanent(
            "`dns` keeps the record of the gateway's domain, but it has none: give a `domain`, or leave out `dns`",
        ));
    }
    let tcp: Vec<(i64, i64)> = match d.json("tcp_ports")? {
        J::Array(ports) => ports
            .iter()
            .filter_map(|p| {
                let port = p["port"].as_i64()?;
                Some((port, p["target_port"].as_i64().unwrap_or(port)))
            })
            .collect(),
        _ => Vec::new(),
    };
    let paths = d.strings("paths")?;
    if http && paths.is_empty() {
        return Err(ProviderError::permanent(
            "`paths` is empty: give at least one path prefix to route (`\"/\"` routes every path)",
        ));
    }
    let name = d.name_or_default("name")?;
    if !tcp.is_empty() && name.len() > 59 {
        return Err(ProviderError::permanent(format!(
            "the TCP Service `{name}-tcp` would be longer than the 63 characters Kubernetes allows: give a shorter `name`"
        )));
    }
    if !http && tcp.is_empty() {
        return Err(ProviderError::permanent(
            "the gateway exposes nothing: `http` is false and there are no `tcp_ports`",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some((port, _)) = tcp.iter().find(|(p, _)| !seen.insert(*p)) {
        return Err(ProviderError::permanent(format!("two TCP ports are {port}")));
    }
    // Read, even where they do not matter, so that every input is read.
    d.value("controller")?;
    d.value("certificates")?;
    Ok(Spec {
        name,
        ns: d.str("namespace")?.to_string(),
        service: d.str("service")?.to_string(),
        service_port: d.int("service_port")?,
        http,
        paths,
        host,
        tls,
        https_redirect: d.bool("https_redirect")?,
        tcp,
        dns,
    })
}

/// Whether `host` is `zone` or under it.
fn in_zone(host: &str, zone: &str) -> bool {
    let zone = zone.trim_end_matches('.');
    host == zone || host.ends_with(&format!(".{zone}"))
}

/// The gateway's objects (the TCP Service without its selector, which is the
/// service's and read when applying).
fn objects(spec: &Spec, used: &Used) -> Result<Vec<J>, ProviderError> {
    if let (Some(host), Some(zones)) = (&spec.host, &used.zones) {
        if !zones.iter().any(|z| in_zone(host, z)) {
            return Err(ProviderError::permanent(format!(
                "`{host}` is in none of the zones of its `dns` ({}): external-dns would not make its record; add the zone there, or change the `domain`",
                zones.join(", ")
            )));
        }
    }
    let labels = json!({"app.kubernetes.io/name": spec.name, "app.kubernetes.io/managed-by": "tpt"});
    let mut out = Vec::new();
    if spec.http {
        out.push(
            Ingress {
                name: &spec.name,
                namespace: &spec.ns,
                labels: &labels,
                host: spec.host.as_deref(),
                paths: &spec.paths,
                service: &spec.service,
                port: spec.service_port,
                class: used.class.as_deref(),
                issuer: used.issuer.as_deref(),
                tls: spec.tls,
                https_redirect: spec.https_redirect,
            }
            .object(),
        );
    }
    if !spec.tcp.is_empty() {
        let ports: Vec<J> = spec
            .tcp
            .iter()
            .map(|(port, target)| json!({"name": format!("tcp-{port}"), "port": port, "targetPort": target, "protocol": "TCP"}))
            .collect();
        let mut annotations = serde_json::Map::new();
        // The host's record is the Ingress's when it serves HTTP: one name, one target.
        if let (true, false, Some(host)) = (spec.dns, spec.http, &spec.host) {
            annotations.insert(
                "external-dns.alpha.kubernetes.io/hostname".into(),
                J::String(host.clone()),
            );
        }
        let mut metadata =
            json!({"name": format!("{}-tcp", spec.name), "namespace": spec.ns, "labels": labels});
        if !annotations.is_empty() {
            metadata["annotations"] = J::Object(annotations);
        }
        out.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": metadata,
            "spec": {"type": "LoadBalancer", "ports": ports},
        }));
    }
    Ok(out)
}

impl Gateway {
    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let spec = spec(d)?;
        let mut objects = objects(&spec, &used(cx, d))?;
        let client = self.0.client(cx, d).await?;
        ensure_namespace(cx, &client, &spec.ns).await?;
        if !spec.tcp.is_empty() {
            // The TCP Service selects the pods the exposed service selects.
            let target = stub("v1", "Service", Some(&spec.ns), &spec.service);
            let selector = get_object(cx, &client, &target, None)
                .await?
                .map(|svc| svc["spec"]["selector"].clone())
                .filter(J::is_object)
                .ok_or_else(|| {
                    ProviderError::permanent(format!(
                        "service `{}/{}` does not exist, or selects no pods: a TCP port forwards to its pods",
                        spec.ns, spec.service
                    ))
                })?;
            if let Some(svc) = objects.iter_mut().find(|o| o["kind"] == "Service") {
                svc["spec"]["selector"] = selector;
            }
        }
        let (client, id) = self.0.apply_set(cx, d, prior, &objects, None).await?;
        let exposed = objects
            .iter()
            .find(|o| o["kind"] == "Ingress")
            .or(objects.first());
        let hostname = match exposed {
            Some(o) if abilities(cx, cluster_of(d)).load_balancers => {
                wait_load_balancer(cx, &client, o, None).await?
            }
            _ => String::new(),
        };
        let path = spec.paths.first().map_or("/", String::as_str);
        let url = match (&spec.host, spec.http) {
            (Some(host), true) => {
                let scheme = if spec.tls { "https" } else { "http" };
                format!("{scheme}://{host}{path}")
            }
            (None, true) if !hostname.is_empty() => format!("http://{hostname}{path}"),
            _ => String::new(),
        };
        Ok(Applied {
            rendered: rendered(&objects),
            provider_id: id,
            outputs: IndexMap::from_iter([
                ("hostname".to_string(), s(hostname)),
                ("url".to_string(), s(url)),
            ]),
        })
    }
}

/// The rendered input `objects`, by `Kind namespace/name` (the TCP Service
/// without the selector it is given when applied).
fn rendered(objects: &[J]) -> IndexMap<String, Value> {
    let by_key = objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            if let Some(spec) = o["spec"].as_object_mut() {
                spec.remove("selector");
            }
            (key_of(&o), Value::from_json(&o))
        })
        .collect();
    IndexMap::from_iter([("objects".to_string(), Value::record(by_key))])
}

#[async_trait::async_trait]
impl Provider for Gateway {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("tpt records the Kubernetes objects it applied as an inventory in the provider ID, which objects made elsewhere lack; delete them and let tpt apply them")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects"],
            in_place: &[
                "service",
                "service_port",
                "http",
                "paths",
                "domain",
                "subdomain",
                "tls",
                "https_redirect",
                "tcp_ports",
                "controller",
                "certificates",
                "dns",
            ],
            reads: &["objects"],
            outputs: &["hostname", "url"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        objects(&spec(d)?, &Used::default()).map(|_| ())
    }

    async fn render(&self, cx: &Cx, d: &Desired) -> Result<IndexMap<String, Value>, ProviderError> {
        Ok(rendered(&objects(&spec(d)?, &used(cx, d))?))
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
        let client = self.0.client_of(cx, prior).await?;
        let Some(objects) = read_objects(cx, &client, prior).await? else {
            return Ok(Live::Gone);
        };
        Ok(Live::Present {
            inputs: std::collections::BTreeMap::from([("objects".to_string(), objects)]),
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        let objects = objects(&spec(d)?, &used(cx, d))?;
        self.0.find_set(cx, d, &objects, None).await
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted apply is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(set: &[(&str, Value)]) -> Desired {
        let mut inputs = IndexMap::from_iter([
            ("cluster".to_string(), Value::Resource("dev".into())),
            ("name".to_string(), Value::Null),
            ("namespace".to_string(), s("shop")),
            ("service".to_string(), s("web")),
            ("service_port".to_string(), Value::Int(8080)),
            ("http".to_string(), Value::Bool(true)),
            ("paths".to_string(), Value::List(vec![s("/")].into())),
            ("domain".to_string(), s("acme.io")),
            ("subdomain".to_string(), s("shop")),
            ("tls".to_string(), Value::Bool(true)),
            ("https_redirect".to_string(), Value::Bool(true)),
            ("tcp_ports".to_string(), Value::List(Vec::new().into())),
            ("controller".to_string(), Value::Null),
            ("certificates".to_string(), Value::Null),
            ("dns".to_string(), Value::Null),
            ("wait_timeout".to_string(), Value::Null),
        ]);
        for (k, v) in set {
            inputs.insert((*k).to_string(), v.clone());
        }
        Desired::new("gw", "k8s.Gateway", inputs)
    }

    fn err(d: &Desired) -> String {
        spec(d).err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn what_cannot_work_is_refused_before_anything_runs() {
        assert!(err(&desired(&[("domain", Value::Null)])).contains("`subdomain` is given without"));
        let no_domain = desired(&[("domain", Value::Null), ("subdomain", Value::Null)]);
        assert!(err(&no_domain).contains("`tls` needs a `domain`"));
        let nothing = desired(&[("http", Value::Bool(false))]);
        assert!(err(&nothing).contains("exposes nothing"));
        let tcp = |p: i64| Value::from_json(&json!({"port": p, "target_port": null}));
        let twice = desired(&[("tcp_ports", Value::List(vec![tcp(5432), tcp(5432)].into()))]);
        assert!(err(&twice).contains("two TCP ports"));
        let zones = Used {
            zones: Some(vec!["other.dev".into()]),
            ..Used::default()
        };
        let s = spec(&desired(&[])).expect("a valid gateway");
        let e = objects(&s, &zones).err().map(|e| e.message).unwrap_or_default();
        assert!(e.contains("in none of the zones"), "{e}");
    }

    #[test]
    fn the_ingress_takes_class_issuer_and_host_from_what_it_names() {
        let used = Used {
            class: Some("public".into()),
            issuer: Some("letsencrypt".into()),
            zones: Some(vec!["acme.io.".into()]),
        };
        let tcp = Value::from_json(&json!({"port": 5432, "target_port": 6543}));
        let s = spec(&desired(&[("tcp_ports", Value::List(vec![tcp].into()))])).expect("a valid gateway");
        let made = objects(&s, &used).expect("objects");
        let ingress = &made[0];
        assert_eq!(ingress["spec"]["ingressClassName"], "public");
        assert_eq!(ingress["spec"]["rules"][0]["host"], "shop.acme.io");
        assert_eq!(
            ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
            "letsencrypt"
        );
        assert_eq!(ingress["spec"]["tls"][0]["secretName"], "gw-tls");
        assert_eq!(
            ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
            json!({"name": "web", "port": {"number": 8080}})
        );
        let tcp = &made[1];
        assert_eq!(tcp["metadata"]["name"], "gw-tcp");
        assert_eq!(tcp["spec"]["ports"][0]["targetPort"], 6543);
        let bare = spec(&desired(&[
            ("domain", Value::Null),
            ("subdomain", Value::Null),
            ("tls", Value::Bool(false)),
        ]))
        .expect("a gateway without a domain");
        let objects = objects(&bare, &Used::default()).expect("objects");
        assert!(objects[0]["spec"]["rules"][0].get("host").is_none());
        assert!(objects[0]["spec"].get("tls").is_none());
    }
}

//! `k8s.IngressController` (ingress-nginx) and `k8s.CertManager`: support
//! services applied as sets of objects rendered by tpt (to be replaced by
//! their upstream Helm charts). A set is recorded as the IDs of its objects;
//! an update applies the new set and deletes what it no longer has.

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Value as J};
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{abilities, cluster_of, s, wait_load_balancer, Kube};
use crate::provider::{Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct IngressController(pub Arc<Kube>);
pub struct CertManager(pub Arc<Kube>);

/// ingress-nginx: its namespace, account and permissions, the controller, its
/// load-balanced Service (returned second: its address is the output) and
/// the IngressClass apps use.
fn ingress_nginx(d: &Desired) -> Result<(Vec<J>, J), ProviderError> {
    let ns = "ingress-nginx";
    let class = d.str("class_name")?;
    let chart = d.str("version")?;
    // Chart 4.x.y ships controller 1.x.y.
    let controller = match chart.split_once('.') {
        Some((_, rest)) => format!("v1.{rest}"),
        None => "v1.11.2".to_string(),
    };
    let labels = json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/managed-by": "tpt"});
    let mut service_annotations = serde_json::Map::new();
    if d.bool("internal")? {
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
        "metadata": {"name": "ingress-nginx-controller", "namespace": ns,
            "labels": with_label(&labels, CHART_LABEL, &format!("ingress-nginx-{chart}"))},
        "spec": {"replicas": d.int("replicas")?, "selector": {"matchLabels": labels},
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
    Ok((objects, service))
}

/// The label Helm charts put on what they render: `<chart>-<version>`. The
/// version of a set is read back from it.
const CHART_LABEL: &str = "helm.sh/chart";

/// `labels` and one more.
fn with_label(labels: &J, key: &str, value: &str) -> J {
    let mut l = labels.clone();
    if let Some(m) = l.as_object_mut() {
        m.insert(key.to_string(), J::String(value.to_string()));
    }
    l
}

/// The version of `chart` a Deployment of a set was rendered from.
fn chart_version(objects: &[J], chart: &str) -> Option<J> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .find_map(|o| {
            o["metadata"]["labels"][CHART_LABEL]
                .as_str()?
                .strip_prefix(&format!("{chart}-"))
                .map(|v| J::String(v.to_string()))
        })
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

/// Let's Encrypt's ACME directories.
const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// cert-manager: its CRDs, namespace, account and permissions, the
/// controller, and the `letsencrypt` ClusterIssuer apps' ingresses name.
fn cert_manager(d: &Desired) -> Result<Vec<J>, ProviderError> {
    let ns = "cert-manager";
    let version = d.str("version")?;
    let labels = json!({"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/managed-by": "tpt"});
    let server = if d.str("issuer")? == "staging" {
        STAGING
    } else {
        PRODUCTION
    };
    let solver = if d.bool("dns01")? {
        json!({"dns01": {"route53": {}}})
    } else {
        json!({"http01": {"ingress": {"ingressClassName": "nginx"}}})
    };
    Ok(vec![
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
        "metadata": {"name": "cert-manager", "namespace": ns,
            "labels": with_label(&labels, CHART_LABEL, &format!("cert-manager-{version}"))},
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
            "spec": {"acme": {"server": server, "email": d.str("admin_email")?,
                "privateKeySecretRef": {"name": "letsencrypt-account"}, "solvers": [solver]}}}),
    ])
}

impl IngressController {
    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let (objects, service) = ingress_nginx(d)?;
        let (client, id) = self.0.apply_set(cx, d, prior, &objects, None).await?;
        let host = if abilities(cx, cluster_of(d)).load_balancers {
            wait_load_balancer(cx, &client, &service, None).await?
        } else {
            String::new()
        };
        let mut outputs = IndexMap::new();
        outputs.insert("hostname".to_string(), s(host));
        Ok(Applied {
            provider_id: id,
            outputs,
        })
    }
}

#[async_trait::async_trait]
impl Provider for IngressController {
    fn fields(&self) -> Fields {
        Fields {
            in_place: &["version", "replicas", "class_name", "internal"],
            reads: &["version", "replicas", "class_name", "internal"],
            outputs: &["hostname"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        ingress_nginx(d).map(|_| ())
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
        let Some(objects) = self.0.live_set(cx, prior).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(v) = chart_version(&objects, "ingress-nginx") {
            inputs.insert("version".to_string(), v);
        }
        for o in &objects {
            if o["kind"] == "IngressClass" {
                inputs.insert("class_name".to_string(), o["metadata"]["name"].clone());
            }
            if o["kind"] == "Deployment" {
                if let Some(r) = o["spec"]["replicas"].as_i64() {
                    inputs.insert("replicas".to_string(), J::from(r));
                }
            }
            if o["kind"] == "Service" {
                let internal = o["metadata"]["annotations"]
                    ["service.beta.kubernetes.io/aws-load-balancer-internal"]
                    == "true";
                inputs.insert("internal".to_string(), J::Bool(internal));
            }
        }
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        self.0.find_set(cx, d, &ingress_nginx(d)?.0, None).await
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted apply is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

impl CertManager {
    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let (_, id) = self.0.apply_set(cx, d, prior, &cert_manager(d)?, None).await?;
        Ok(Applied {
            provider_id: id,
            outputs: IndexMap::new(),
        })
    }
}

#[async_trait::async_trait]
impl Provider for CertManager {
    fn fields(&self) -> Fields {
        Fields {
            in_place: &["version", "admin_email", "issuer", "dns01"],
            reads: &["version", "admin_email", "issuer", "dns01"],
            outputs: &[],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        cert_manager(d).map(|_| ())
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
        let Some(objects) = self.0.live_set(cx, prior).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(v) = chart_version(&objects, "cert-manager") {
            inputs.insert("version".to_string(), v);
        }
        if let Some(issuer) = objects.iter().find(|o| o["kind"] == "ClusterIssuer") {
            let acme = &issuer["spec"]["acme"];
            if let Some(e) = acme["email"].as_str() {
                inputs.insert("admin_email".to_string(), J::String(e.to_string()));
            }
            if let Some(server) = acme["server"].as_str() {
                let issuer = if server == STAGING {
                    "staging"
                } else {
                    "production"
                };
                inputs.insert("issuer".to_string(), J::String(issuer.to_string()));
            }
            let dns01 = acme["solvers"][0].get("dns01").is_some();
            inputs.insert("dns01".to_string(), J::Bool(dns01));
        }
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        self.0.find_set(cx, d, &cert_manager(d)?, None).await
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        self.apply(cx, d, None).await.map(Some)
    }
}

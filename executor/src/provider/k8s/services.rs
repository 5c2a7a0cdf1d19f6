//! The support services of a cluster, each the upstream Helm chart (through
//! [`Charted`](super::helm::Charted): rendered by `helm`, applied by tpt) with
//! values computed from the kind's typed fields, an escape hatch of extra
//! values (`extra_values`, merged last), and a chart repository that can be
//! pointed at a mirror (`repo`):
//!
//! - `k8s.IngressController`: ingress-nginx;
//! - `k8s.CertManager`: cert-manager with its CRDs, and a `ClusterIssuer` for
//!   Let's Encrypt (http01 through the ingress class, or dns01 on Route53);
//! - `k8s.ExternalDns`: external-dns;
//! - `k8s.ExternalSecrets`: external-secrets with its CRDs, and a
//!   `ClusterSecretStore` for AWS Secrets Manager or Parameter Store;
//! - `k8s.Observability`: kube-prometheus-stack, loki, promtail and grafana.
//!
//! On an EKS cluster, those that call AWS (external-dns, external-secrets,
//! cert-manager with dns01) get an IAM role for their service account with a
//! least-privilege policy ([`ChartKind::aws_policy`], `identity.rs`).
//!
//! The values of each are a pure function of the fields ([`ingress_nginx`],
//! [`cert_manager`], [`external_dns`], [`external_secrets`]), snapshot-tested
//! field by field.

use kube::Client;
use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;

use super::helm::{merge, values_map, ChartInfo, ChartKind, Spec};
use super::identity::{self, Eks};
use super::{abilities, cluster_of, s, wait_load_balancer};
use crate::provider::{Cx, Desired, Fields, ProviderError};

/// `extra_values` merged over the values tpt computes.
fn with_extra(mut values: J, d: &Desired) -> Result<J, ProviderError> {
    merge(&mut values, values_map(d.str("extra_values")?, "extra_values")?);
    Ok(values)
}

/// The one chart of a support service: release, namespace and chart all
/// `name`, from the kind's `repo` at its `version`; `values` as computed
/// (with `extra_values`), `extra` applied once the chart is ready.
fn single(d: &Desired, name: &str, values: J, extra: Vec<J>) -> Result<Vec<Spec>, ProviderError> {
    Ok(vec![Spec {
        release: name.to_string(),
        namespace: name.to_string(),
        repo: Some(d.str("repo")?.to_string()),
        chart: name.to_string(),
        version: Some(d.str("version")?.to_string()),
        values,
        secrets: Vec::new(),
        extra,
    }])
}

// ------------------------------------------------------------ ingress-nginx

/// `k8s.IngressController`: the ingress-nginx chart.
pub struct IngressController;

/// The ingress-nginx values for `d` (the chart's layout: `controller.*`).
pub fn ingress_nginx(d: &Desired) -> Result<J, ProviderError> {
    let class = d.str("class_name")?;
    let mut annotations = serde_json::Map::new();
    if d.bool("internal")? {
        annotations.insert(
            "service.beta.kubernetes.io/aws-load-balancer-internal".into(),
            J::String("true".into()),
        );
    }
    with_extra(
        json!({
            "controller": {
                "replicaCount": d.int("replicas")?,
                "ingressClass": class,
                "ingressClassResource": {
                    "name": class,
                    "enabled": true,
                    "default": false,
                    // One controller per cluster: upstream's controller value.
                    "controllerValue": "k8s.io/ingress-nginx",
                },
                "service": {"type": "LoadBalancer", "annotations": annotations},
            }
        }),
        d,
    )
}

#[async_trait::async_trait]
impl ChartKind for IngressController {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks"],
            in_place: &[
                "version",
                "repo",
                "replicas",
                "class_name",
                "internal",
                "extra_values",
            ],
            reads: &["objects"],
            outputs: &["hostname"],
        }
    }

    fn specs(&self, _cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        single(d, "ingress-nginx", ingress_nginx(d)?, Vec::new())
    }

    async fn outputs(
        &self,
        cx: &Cx,
        client: &Client,
        d: &Desired,
        _charts: &[ChartInfo],
        objects: &[J],
    ) -> Result<IndexMap<String, Value>, ProviderError> {
        let service = objects
            .iter()
            .find(|o| o["kind"] == "Service" && o["spec"]["type"] == "LoadBalancer");
        let host = match service {
            Some(svc) if abilities(cx, cluster_of(d)).load_balancers => {
                wait_load_balancer(cx, client, svc, None).await?
            }
            _ => String::new(),
        };
        Ok(IndexMap::from_iter([("hostname".to_string(), s(host))]))
    }
}

// ------------------------------------------------------------ cert-manager

/// `k8s.CertManager`: the cert-manager chart with its CRDs, and a ClusterIssuer.
pub struct CertManager;

/// Let's Encrypt's ACME directories.
const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The cert-manager values for `d`.
pub fn cert_manager(d: &Desired) -> Result<J, ProviderError> {
    with_extra(
        json!({
            // The CRDs are part of the release (and deleted with it).
            "crds": {"enabled": true, "keep": false},
        }),
        d,
    )
}

/// The ClusterIssuer apps' certificates name.
pub fn cluster_issuer(d: &Desired) -> Result<J, ProviderError> {
    let server = if d.str("issuer")? == "staging" {
        STAGING
    } else {
        PRODUCTION
    };
    let class = d.str("http01_class")?;
    let solver = if d.bool("dns01")? {
        json!({"dns01": {"route53": {}}})
    } else {
        json!({"http01": {"ingress": {"ingressClassName": class}}})
    };
    Ok(json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": d.str("issuer_name")?},
        "spec": {"acme": {
            "server": server,
            "email": d.str("admin_email")?,
            "privateKeySecretRef": {"name": format!("{}-account", d.str("issuer_name")?)},
            "solvers": [solver],
        }},
    }))
}

#[async_trait::async_trait]
impl ChartKind for CertManager {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks", identity::FIELD],
            in_place: &[
                "version",
                "repo",
                "admin_email",
                "issuer",
                "issuer_name",
                "dns01",
                "http01_class",
                "extra_values",
            ],
            reads: &["objects", identity::FIELD],
            outputs: &[],
        }
    }

    fn specs(&self, _cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        let issuer = cluster_issuer(d)?;
        single(d, "cert-manager", cert_manager(d)?, vec![issuer])
    }

    /// With dns01: the TXT records of ACME challenges (`_acme-challenge.…`)
    /// in any zone, and nothing else.
    fn aws_policy(&self, d: &Desired, eks: &Eks) -> Result<Option<J>, ProviderError> {
        if !d.bool("dns01")? {
            return Ok(None);
        }
        Ok(Some(identity::policy(vec![
            json!({
                "Effect": "Allow",
                "Action": "route53:GetChange",
                "Resource": eks.global_arn("route53", "change/*"),
            }),
            json!({
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": eks.global_arn("route53", "hostedzone/*"),
                "Condition": {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"],
                    },
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                    },
                },
            }),
            json!({
                "Effect": "Allow",
                "Action": "route53:ListResourceRecordSets",
                "Resource": eks.global_arn("route53", "hostedzone/*"),
            }),
            json!({
                "Effect": "Allow",
                "Action": "route53:ListHostedZonesByName",
                "Resource": "*",
            }),
        ])))
    }
}

// ------------------------------------------------------------ external-dns

/// `k8s.ExternalDns`: the external-dns chart.
pub struct ExternalDns;

/// The external-dns values for `d` (the chart's layout: `provider.name`,
/// `domainFilters`, `policy`, `txtOwnerId`).
pub fn external_dns(d: &Desired) -> Result<J, ProviderError> {
    let zones: Vec<String> = d
        .strings("zones")?
        .into_iter()
        .map(|z| z.trim_end_matches('.').to_string())
        .collect();
    with_extra(
        json!({
            "provider": {"name": d.str("provider")?},
            "domainFilters": zones,
            "policy": d.str("policy")?,
            "registry": "txt",
            "txtOwnerId": d.name_or_default("owner_id")?,
            "sources": ["service", "ingress"],
        }),
        d,
    )
}

#[async_trait::async_trait]
impl ChartKind for ExternalDns {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks", identity::FIELD],
            in_place: &[
                "zones",
                "provider",
                "policy",
                "owner_id",
                "version",
                "repo",
                "extra_values",
            ],
            reads: &["objects", identity::FIELD],
            outputs: &[],
        }
    }

    fn specs(&self, _cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        single(d, "external-dns", external_dns(d)?, Vec::new())
    }

    /// On Route53: changes of records named in the zones given (the zone's
    /// own name and every name under it), and the lists it syncs from.
    fn aws_policy(&self, d: &Desired, eks: &Eks) -> Result<Option<J>, ProviderError> {
        if d.str("provider")? != "aws" {
            return Ok(None);
        }
        let names: Vec<String> = d
            .strings("zones")?
            .iter()
            .map(|z| z.trim_end_matches('.').to_string())
            .flat_map(|z| [z.clone(), format!("*.{z}")])
            .collect();
        Ok(Some(identity::policy(vec![
            json!({
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": eks.global_arn("route53", "hostedzone/*"),
                "Condition": {"ForAllValues:StringLike": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                }},
            }),
            json!({
                "Effect": "Allow",
                "Action": [
                    "route53:ListHostedZones",
                    "route53:ListResourceRecordSets",
                    "route53:ListTagsForResource",
                ],
                "Resource": "*",
            }),
        ])))
    }
}

// ------------------------------------------------------------ external-secrets

/// `k8s.ExternalSecrets`: the external-secrets chart with its CRDs, and a
/// `ClusterSecretStore` for AWS.
pub struct ExternalSecrets;

/// The external-secrets values for `d`.
pub fn external_secrets(d: &Desired) -> Result<J, ProviderError> {
    with_extra(json!({"installCRDs": true}), d)
}

/// The store `ExternalSecret`s name (`secretStoreRef: {kind: ClusterSecretStore, name}`).
pub fn secret_store(d: &Desired) -> Result<J, ProviderError> {
    let service = match d.str("store")? {
        "aws-parameter-store" => "ParameterStore",
        _ => "SecretsManager",
    };
    let refresh = d.opt_duration("refresh")?.map_or(3600, |r| r.as_secs());
    Ok(json!({
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": d.str("store_name")?},
        "spec": {
            "refreshInterval": refresh,
            "provider": {"aws": {
                "service": service,
                "region": d.str("region")?,
                "auth": {"jwt": {"serviceAccountRef": {
                    "name": "external-secrets",
                    "namespace": "external-secrets",
                }}},
            }},
        },
    }))
}

#[async_trait::async_trait]
impl ChartKind for ExternalSecrets {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks", identity::FIELD],
            in_place: &[
                "version",
                "repo",
                "store",
                "store_name",
                "region",
                "refresh",
                "secrets",
                "extra_values",
            ],
            reads: &["objects", identity::FIELD],
            outputs: &[],
        }
    }

    fn specs(&self, _cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        readable(d)?;
        let store = secret_store(d)?;
        single(d, "external-secrets", external_secrets(d)?, vec![store])
    }

    /// Reading the secrets (or parameters) given, and no others; nothing
    /// when none is given.
    fn aws_policy(&self, d: &Desired, eks: &Eks) -> Result<Option<J>, ProviderError> {
        let names = readable(d)?;
        if names.is_empty() {
            return Ok(None);
        }
        let region = d.str("region")?;
        let on = |service: &str, resource: String| eks.arn(service, region, &resource);
        let statement = if d.str("store")? == "aws-parameter-store" {
            // `shop/*` also grants the path `shop` (`GetParametersByPath` asks for it).
            let arns: Vec<String> = names
                .iter()
                .flat_map(|n| {
                    let n = n.trim_start_matches('/');
                    let path = n.strip_suffix("/*").map(|p| on("ssm", format!("parameter/{p}")));
                    path.into_iter().chain([on("ssm", format!("parameter/{n}"))])
                })
                .collect();
            json!({
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                "Resource": arns,
            })
        } else {
            // A secret's ARN ends in `-` and six random characters.
            let arns: Vec<String> = names
                .iter()
                .map(|n| {
                    let suffix = if n.ends_with('*') { "" } else { "-??????" };
                    on("secretsmanager", format!("secret:{n}{suffix}"))
                })
                .collect();
            json!({
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:ListSecretVersionIds",
                ],
                "Resource": arns,
            })
        };
        Ok(Some(identity::policy(vec![statement])))
    }
}

/// The names of the secrets (or parameters) the store may read.
fn readable(d: &Desired) -> Result<Vec<String>, ProviderError> {
    d.strings("secrets")
}

// ------------------------------------------------------------ observability

/// `k8s.Observability`: kube-prometheus-stack (metrics), loki and promtail
/// (logs), grafana (dashboards), each turned on by its field.
pub struct Observability;

/// A duration as Prometheus and Loki write one: whole hours (`360h`).
fn hours(d: std::time::Duration) -> String {
    format!("{}h", d.as_secs().div_ceil(3600).max(1))
}

/// The values of the observability stack's charts, by chart name; Grafana's
/// admin password is `password` (generated from the state key).
pub fn observability(d: &Desired, password: &str) -> Result<IndexMap<&'static str, J>, ProviderError> {
    let ns = d.str("namespace")?;
    let retention = hours(d.opt_duration("retention")?.unwrap_or_default());
    let disk = format!("{}Gi", d.int("storage_gb")?);
    let (metrics, logs, dashboards) = (d.bool("metrics")?, d.bool("logs")?, d.bool("dashboards")?);
    let extra = d.string_map("extra_values")?;
    for chart in extra.keys() {
        if !["kube-prometheus-stack", "loki", "promtail", "grafana"].contains(&chart.as_str()) {
            return Err(ProviderError::permanent(format!(
                "`extra_values` names the chart `{chart}`: the stack's charts are kube-prometheus-stack, loki, promtail and grafana"
            )));
        }
    }
    let mut out = IndexMap::default();
    let mut put = |chart: &'static str, mut values: J| -> Result<(), ProviderError> {
        if let Some(text) = extra.get(chart) {
            merge(
                &mut values,
                values_map(text, &format!("extra_values[\"{chart}\"]"))?,
            );
        }
        out.insert(chart, values);
        Ok(())
    };
    if metrics {
        put(
            "kube-prometheus-stack",
            json!({
                // Grafana is the `grafana` chart below, with both data sources.
                "grafana": {"enabled": false},
                "prometheus": {"prometheusSpec": {
                    "retention": retention,
                    "storageSpec": {"volumeClaimTemplate": {"spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": disk}},
                    }}},
                }},
            }),
        )?;
    }
    if logs {
        put(
            "loki",
            json!({
                "deploymentMode": "SingleBinary",
                "loki": {
                    "commonConfig": {"replication_factor": 1},
                    "storage": {"type": "filesystem"},
                    "schemaConfig": {"configs": [{
                        "from": "2024-04-01", "store": "tsdb", "object_store": "filesystem",
                        "schema": "v13", "index": {"prefix": "loki_index_", "period": "24h"},
                    }]},
                    "limits_config": {"retention_period": retention},
                    "compactor": {"retention_enabled": true, "delete_request_store": "filesystem"},
                },
                "singleBinary": {"replicas": 1, "persistence": {"size": disk}},
                "backend": {"replicas": 0},
                "read": {"replicas": 0},
                "write": {"replicas": 0},
            }),
        )?;
        put(
            "promtail",
            json!({"config": {"clients": [{"url": format!("http://loki-gateway.{ns}.svc/loki/api/v1/push")}]}}),
        )?;
    }
    if dashboards {
        let mut sources = Vec::new();
        if metrics {
            sources.push(
                json!({"name": "Prometheus", "type": "prometheus", "isDefault": true,
                "url": format!("http://kube-prometheus-stack-prometheus.{ns}.svc:9090")}),
            );
        }
        if logs {
            sources.push(json!({"name": "Loki", "type": "loki", "isDefault": !metrics,
                "url": format!("http://loki-gateway.{ns}.svc")}));
        }
        put(
            "grafana",
            json!({
                "adminPassword": password,
                "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": sources}},
            }),
        )?;
    }
    Ok(out)
}

#[async_trait::async_trait]
impl ChartKind for Observability {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks"],
            in_place: &[
                "namespace",
                "metrics",
                "metrics_version",
                "logs",
                "logs_version",
                "log_collector_version",
                "dashboards",
                "dashboards_version",
                "retention",
                "storage_gb",
                "metrics_repo",
                "grafana_repo",
                "extra_values",
            ],
            reads: &["objects"],
            outputs: &[],
        }
    }

    fn specs(&self, cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        let password = cx.secrets.password(&d.address, "grafana-admin");
        let ns = d.str("namespace")?.to_string();
        let (metrics_repo, grafana_repo) = (d.str("metrics_repo")?, d.str("grafana_repo")?);
        let versions = [
            ("kube-prometheus-stack", metrics_repo, d.str("metrics_version")?),
            ("loki", grafana_repo, d.str("logs_version")?),
            ("promtail", grafana_repo, d.str("log_collector_version")?),
            ("grafana", grafana_repo, d.str("dashboards_version")?),
        ];
        let values = observability(d, &password)?;
        Ok(versions
            .into_iter()
            .filter_map(|(chart, repo, version)| {
                let v = values.get(chart)?.clone();
                Some(Spec {
                    release: chart.to_string(),
                    namespace: ns.clone(),
                    repo: Some(repo.to_string()),
                    chart: chart.to_string(),
                    version: Some(version.to_string()),
                    values: v,
                    secrets: if chart == "grafana" {
                        vec![password.clone()]
                    } else {
                        Vec::new()
                    },
                    extra: Vec::new(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs of `kind`, as the evaluator gives them.
    fn desired(kind: &str, set: &[(&str, Value)]) -> Desired {
        let mut inputs = IndexMap::default();
        for (k, v) in set {
            inputs.insert((*k).to_string(), v.clone());
        }
        Desired::new("svc", kind, inputs)
    }

    fn yaml(v: &J) -> String {
        tpt_lang::yaml::to_yaml(v)
    }

    /// Each field's effect on the values, as a diff from the defaults.
    fn per_field(
        kind: &str,
        base: &[(&str, Value)],
        changes: &[(&str, Value)],
        values: fn(&Desired) -> J,
    ) -> String {
        let start = values(&desired(kind, base));
        let mut out = format!("# defaults\n{}", yaml(&start));
        for (field, v) in changes {
            let mut set: Vec<(&str, Value)> = base.iter().filter(|(k, _)| k != field).cloned().collect();
            set.push((field, v.clone()));
            let now = values(&desired(kind, &set));
            out.push_str(&format!("\n# {field} = {}\n", v.to_json()));
            for line in similar::TextDiff::from_lines(&yaml(&start), &yaml(&now))
                .iter_all_changes()
                .filter(|c| c.tag() != similar::ChangeTag::Equal)
            {
                let sign = if line.tag() == similar::ChangeTag::Insert {
                    "+"
                } else {
                    "-"
                };
                out.push_str(&format!("{sign} {}", line.value()));
            }
        }
        out
    }

    #[test]
    fn ingress_nginx_values_field_by_field() {
        let base = [
            ("version", s("4.11.2")),
            ("repo", s("https://kubernetes.github.io/ingress-nginx")),
            ("replicas", Value::Int(2)),
            ("class_name", s("nginx")),
            ("internal", Value::Bool(false)),
            ("extra_values", s("")),
        ];
        let changes = [
            ("replicas", Value::Int(3)),
            ("class_name", s("public")),
            ("internal", Value::Bool(true)),
            ("extra_values", s("controller:\n  metrics:\n    enabled: true")),
        ];
        let text = per_field("k8s.IngressController", &base, &changes, |d| {
            ingress_nginx(d).unwrap_or_else(|e| panic!("{e}"))
        });
        insta::assert_snapshot!(text);
    }

    #[test]
    fn external_dns_values_field_by_field() {
        let base = [
            ("zones", Value::list(vec![s("acme.io")])),
            ("provider", s("aws")),
            ("policy", s("upsert-only")),
            ("owner_id", Value::Null),
            ("version", s("1.15.0")),
            ("repo", s("https://kubernetes-sigs.github.io/external-dns")),
            ("extra_values", s("")),
        ];
        let changes = [
            ("zones", Value::list(vec![s("acme.io"), s("acme.dev.")])),
            ("provider", s("google")),
            ("policy", s("sync")),
            ("owner_id", s("prod-eu")),
            ("extra_values", s("interval: 5m")),
        ];
        let text = per_field("k8s.ExternalDns", &base, &changes, |d| {
            external_dns(d).unwrap_or_else(|e| panic!("{e}"))
        });
        insta::assert_snapshot!(text);
    }

    #[test]
    fn external_secrets_values_and_store_field_by_field() {
        let base = [
            ("version", s("0.10.4")),
            ("repo", s("https://charts.external-secrets.io")),
            ("store", s("aws-secrets-manager")),
            ("store_name", s("aws")),
            ("region", s("us-east-1")),
            ("refresh", Value::Duration(3_600_000)),
            ("extra_values", s("")),
        ];
        let changes = [
            ("store", s("aws-parameter-store")),
            ("store_name", s("params")),
            ("region", s("eu-west-1")),
            ("refresh", Value::Duration(300_000)),
            ("extra_values", s("replicaCount: 2")),
        ];
        let text = per_field("k8s.ExternalSecrets", &base, &changes, |d| {
            let mut both = external_secrets(d).unwrap_or_else(|e| panic!("{e}"));
            both["(ClusterSecretStore)"] = secret_store(d).unwrap_or_else(|e| panic!("{e}"));
            both
        });
        insta::assert_snapshot!(text);
    }

    /// An EKS cluster in the tests' account.
    fn eks() -> Eks {
        Eks {
            name: "main".into(),
            region: "eu-west-1".into(),
            partition: "aws".into(),
            account: "123456789012".into(),
            issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC".into(),
            provider_arn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
                .into(),
        }
    }

    /// The IAM policy of each service that calls AWS, per field that shapes it.
    #[test]
    fn iam_policies_on_eks_field_by_field() {
        fn policy(kind: &dyn ChartKind, d: &Desired) -> J {
            kind.aws_policy(d, &eks())
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or(J::Null)
        }
        let dns = per_field(
            "k8s.ExternalDns",
            &[("zones", list(&["acme.io"])), ("provider", s("aws"))],
            &[
                ("zones", list(&["acme.io", "shop.acme.dev."])),
                ("provider", s("cloudflare")),
            ],
            |d| policy(&ExternalDns, d),
        );
        let secrets = per_field(
            "k8s.ExternalSecrets",
            &[
                ("secrets", list(&["shop/*", "billing/stripe"])),
                ("store", s("aws-secrets-manager")),
                ("region", s("us-east-1")),
            ],
            &[
                ("store", s("aws-parameter-store")),
                ("region", s("eu-west-1")),
                ("secrets", list(&[])),
            ],
            |d| policy(&ExternalSecrets, d),
        );
        let certs = per_field(
            "k8s.CertManager",
            &[("dns01", Value::Bool(true))],
            &[("dns01", Value::Bool(false))],
            |d| policy(&CertManager, d),
        );
        insta::assert_snapshot!(format!(
            "## external-dns\n{dns}\n## external-secrets\n{secrets}\n## cert-manager\n{certs}"
        ));
    }

    fn list(xs: &[&str]) -> Value {
        Value::List(xs.iter().map(|x| s(*x)).collect::<Vec<_>>().into())
    }

    #[test]
    fn observability_values_field_by_field() {
        let base = [
            ("namespace", s("monitoring")),
            ("metrics", Value::Bool(true)),
            ("metrics_version", s("62.7.0")),
            ("logs", Value::Bool(true)),
            ("logs_version", s("6.16.0")),
            ("log_collector_version", s("6.16.6")),
            ("dashboards", Value::Bool(true)),
            ("dashboards_version", s("8.5.2")),
            ("retention", Value::Duration(15 * 24 * 3_600_000)),
            ("storage_gb", Value::Int(50)),
            (
                "metrics_repo",
                s("https://prometheus-community.github.io/helm-charts"),
            ),
            ("grafana_repo", s("https://grafana.github.io/helm-charts")),
            ("extra_values", Value::record(IndexMap::default())),
        ];
        let changes = [
            ("namespace", s("obs")),
            ("metrics", Value::Bool(false)),
            ("logs", Value::Bool(false)),
            ("dashboards", Value::Bool(false)),
            ("retention", Value::Duration(7 * 24 * 3_600_000)),
            ("storage_gb", Value::Int(200)),
            (
                "extra_values",
                Value::record(IndexMap::from_iter([("grafana".to_string(), s("replicas: 2"))])),
            ),
        ];
        let text = per_field("k8s.Observability", &base, &changes, |d| {
            let all = observability(d, "(generated)").unwrap_or_else(|e| panic!("{e}"));
            J::Object(all.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        });
        insta::assert_snapshot!(text);
    }

    #[test]
    fn cert_manager_values_and_issuer_field_by_field() {
        let base = [
            ("version", s("v1.15.3")),
            ("repo", s("https://charts.jetstack.io")),
            ("admin_email", s("ops@example.com")),
            ("issuer", s("production")),
            ("issuer_name", s("letsencrypt")),
            ("dns01", Value::Bool(false)),
            ("http01_class", s("nginx")),
            ("extra_values", s("")),
        ];
        let changes = [
            ("admin_email", s("sec@example.com")),
            ("issuer", s("staging")),
            ("issuer_name", s("le")),
            ("dns01", Value::Bool(true)),
            ("http01_class", s("public")),
            ("extra_values", s("replicaCount: 2")),
        ];
        let text = per_field("k8s.CertManager", &base, &changes, |d| {
            let mut both = cert_manager(d).unwrap_or_else(|e| panic!("{e}"));
            both["(ClusterIssuer)"] = cluster_issuer(d).unwrap_or_else(|e| panic!("{e}"));
            both
        });
        insta::assert_snapshot!(text);
    }
}

//! End-to-end conformance of every kind, generated from the registry and the
//! schemas, against moto and the Kubernetes API server. The sample
//! (`tests/conformance/live.tpt`) has one resource of every registered kind;
//! through a library session (`tpt_executor::session`) the test
//!
//! 1. creates them all, and reads every field each kind declares it reads
//!    back from the servers: each equals what was recorded;
//! 2. for every field a kind updates in place (its `fields().in_place`):
//!    changes that field alone → the plan is exactly one update of exactly
//!    that field → apply → the server has the new value → the next plan is
//!    empty; then changes it back on the server by hand → the plan shows drift
//!    of exactly that field, and puts it right;
//! 3. for every `@replace` field of the schema: changes it → the plan is a
//!    replacement that names it.
//!
//! A change "by hand" is the kind's own update sent without recording it
//! (`Engine::update_unrecorded`), made only after step 2 has shown that the
//! same update reaches the server and reads back. What the servers cannot do
//! is listed in [`NOT_LIVE`], what a kind cannot read in [`NOT_READ`], and a
//! change by hand that leaves the recorded object gone in [`DRIFT_AS_GONE`],
//! each with its reason; a field in neither and without a value in
//! [`CHANGES`] fails the test, so a new field cannot go untested.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tpt_executor::provider::registry::KINDS;
use tpt_executor::session::{self, Options, Planned, Session, Settings};
use tpt_lang::ResourceInstance;
use tpt_planner::plan::Action;
use tpt_planner::refresh::Live;

use super::{kube, moto, moto_config, reset_moto, runtime, FakeControllers};

/// Another value for each field the test changes: (address, field, tpt expression).
const CHANGES: &[(&str, &str, &str)] = &[
    // aws.EksCluster
    (
        "cluster",
        "node_groups",
        r#"[{ name = "general", instance_type = "m6i.xlarge", min = 2, max = 6, desired = 2, disk_gb = 40, labels = { team = "b" } }]"#,
    ),
    ("cluster", "high_availability", "true"),
    ("cluster", "public_endpoint", "false"),
    ("cluster", "tags", r#"{ owner = "b", cost = "x" }"#),
    ("cluster", "name", r#""conf2""#),
    ("cluster", "region", r#""eu-west-1""#),
    ("cluster", "zone_count", "3"),
    ("cluster", "vpc_cidr", r#""10.2.0.0/16""#),
    (
        "cluster",
        "role_arn",
        r#""arn:aws:iam::123456789012:role/conf-other""#,
    ),
    (
        "cluster",
        "node_role_arn",
        r#""arn:aws:iam::123456789012:role/conf-other""#,
    ),
    // aws.Postgres
    ("orders", "version", r#""16""#),
    ("orders", "port", "6544"),
    ("orders", "storage_gb", "50"),
    ("orders", "storage_type", r#""gp2""#),
    ("orders", "size", r#""Large""#),
    ("orders", "instance", r#""db.m6g.large""#),
    ("orders", "backup_days", "5"),
    ("orders", "multi_az", "true"),
    ("orders", "deletion_protection", "true"),
    ("orders", "final_snapshot", "true"),
    ("orders", "tags", r#"{ owner = "b" }"#),
    ("orders", "identifier", r#""conf-pg2""#),
    ("orders", "region", r#""eu-west-1""#),
    (
        "orders",
        "network",
        r#"{ vpc_id = "vpc-1", subnet_ids = ["subnet-1", "subnet-2"], security_group_id = "sg-1" }"#,
    ),
    ("orders", "database", r#""orders2""#),
    ("orders", "username", r#""owner2""#),
    // aws.MySql
    ("users", "version", r#""8.4""#),
    ("users", "port", "3308"),
    ("users", "storage_gb", "60"),
    ("users", "storage_type", r#""gp3""#),
    ("users", "size", r#""Medium""#),
    ("users", "instance", r#""db.m6g.large""#),
    ("users", "backup_days", "2"),
    ("users", "multi_az", "true"),
    ("users", "deletion_protection", "true"),
    ("users", "final_snapshot", "true"),
    ("users", "tags", "{}"),
    ("users", "identifier", r#""conf-my2""#),
    ("users", "region", r#""eu-west-1""#),
    (
        "users",
        "network",
        r#"{ vpc_id = "vpc-1", subnet_ids = ["subnet-1", "subnet-2"], security_group_id = "sg-1" }"#,
    ),
    ("users", "database", r#""users2""#),
    ("users", "username", r#""owner2""#),
    // aws.HostedZone
    ("zone", "vpc_ids", r#"["@VPC_A@", "@VPC_B@"]"#),
    ("zone", "comment", r#""two""#),
    ("zone", "name", r#""conf2.example.com""#),
    ("zone", "private", "false"),
    // aws.DnsRecord
    ("www", "ttl", "120"),
    ("www", "values", r#"["two", "three"]"#),
    ("www", "zone", r#""other.example.com""#),
    ("www", "name", r#""api.conf.example.com""#),
    ("www", "type", r#""CAA""#),
    // aws.Secret
    ("token", "value", r#"sensitive("another-conformance-value")"#),
    ("token", "description", r#""another description""#),
    ("token", "tags", r#"{ owner = "b", cost = "x" }"#),
    ("token", "recovery_days", "7"),
    ("token", "name", r#""conf/token2""#),
    ("token", "region", r#""eu-west-1""#),
    // k8s.Gateway
    // The gateway's own TCP Service exists once applied, and selects the same pods.
    ("gate", "service", r#""gate-tcp""#),
    ("gate", "service_port", "8082"),
    ("gate", "http", "false"),
    ("gate", "paths", r#"["/", "/api"]"#),
    ("gate", "domain", r#""sub.conf.example.com""#),
    ("gate", "subdomain", r#""gate2""#),
    ("gate", "tls", "false"),
    ("gate", "https_redirect", "true"),
    ("gate", "tcp_ports", r#"[{ port = 5433 }]"#),
    ("gate", "controller", "null"),
    ("gate", "certificates", "null"),
    ("gate", "dns", "null"),
    ("gate", "name", r#""gate2""#),
    ("gate", "namespace", r#""conf-team""#),
    ("gate", "cluster", "other"),
    // aws.Bucket
    ("media", "versioning", "true"),
    ("media", "kms_key_id", r#""alias/conf-other""#),
    ("media", "block_public_access", "false"),
    (
        "media",
        "lifecycle_rules",
        r#"[{ id = "logs", prefix = "tmp/", enabled = false, transition_days = 10, transition_class = "GLACIER_IR", expire_days = 60 }, { id = "old", noncurrent_expire_days = 5, abort_multipart_days = 1 }]"#,
    ),
    ("media", "tags", r#"{ owner = "b", cost = "x" }"#),
    ("media", "force_destroy", "false"),
    ("media", "name", r#""conf-media2""#),
    ("media", "region", r#""eu-west-1""#),
    // k8s.KubeconfigCluster
    ("dev", "context", r#""local-again""#),
    ("dev", "kubeconfig", r#""@KUBECONFIG@.2""#),
    // k8s.Namespace
    ("team", "labels", r#"{ team = "b", tier = "x" }"#),
    ("team", "cluster", "other"),
    ("team", "name", r#""conf-team2""#),
    // k8s.App
    ("web", "image", r#""nginx:1.28""#),
    ("web", "replicas", "3"),
    ("web", "port", "8082"),
    ("web", "env", r#"{ MODE = "live", EXTRA = "1" }"#),
    (
        "web",
        "resources",
        r#"{ cpu = "200m", memory = "128Mi", cpu_limit = "2", memory_limit = "256Mi" }"#,
    ),
    ("web", "health_path", r#""/healthz""#),
    (
        "web",
        "ingress",
        r#"{ host = "www.conf.example.com", path = "/", tls = false, https_redirect = false }"#,
    ),
    ("web", "labels", r#"{ team = "b" }"#),
    ("web", "cluster", "other"),
    ("web", "namespace", r#""conf-web2""#),
    ("web", "name", r#""web2""#),
    // k8s.Manifest
    (
        "settings",
        "manifest",
        r#""""
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
    data:
      mode: live
  """"#,
    ),
    ("settings", "namespace", r#""conf-web""#),
    ("settings", "cluster", "other"),
    // k8s.HelmRelease (the chart servers hold what each change names)
    ("chart", "chart", r#""sidecar""#),
    ("chart", "repo", r#""@OCI@""#),
    ("chart", "version", r#""0.2.0""#),
    ("chart", "values", r#""message: from values""#),
    ("chart", "override_values", r#""message: from the overlay""#),
    (
        "chart",
        "secret_values",
        r#"{ "auth.password" = sensitive("another-helm-secret") }"#,
    ),
    (
        "chart",
        "extra_manifests",
        r#"["apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf-extra\ndata:\n  a: c\n"]"#,
    ),
    ("chart", "cluster", "other"),
    ("chart", "name", r#""conf2""#),
    ("chart", "namespace", r#""conf-helm2""#),
    // k8s.IngressController
    ("ingress", "version", r#""4.11.2""#),
    ("ingress", "repo", r#""@OCI@""#),
    ("ingress", "replicas", "2"),
    ("ingress", "class_name", r#""private""#),
    ("ingress", "internal", "false"),
    (
        "ingress",
        "extra_values",
        r#""controller:\n  metrics:\n    enabled: true""#,
    ),
    ("ingress", "cluster", "other"),
    // k8s.ExternalDns
    ("dns", "zones", r#"["conf.example.com", "conf2.example.com"]"#),
    ("dns", "provider", r#""google""#),
    ("dns", "policy", r#""upsert-only""#),
    ("dns", "owner_id", r#""conf2""#),
    ("dns", "version", r#""1.14.0""#),
    ("dns", "repo", r#""@OCI@""#),
    ("dns", "extra_values", r#""interval: 5m""#),
    ("dns", "cluster", "other"),
    // k8s.ExternalSecrets
    ("secrets", "version", r#""0.10.3""#),
    ("secrets", "repo", r#""@OCI@""#),
    ("secrets", "store", r#""aws-parameter-store""#),
    ("secrets", "store_name", r#""params""#),
    ("secrets", "region", r#""eu-west-1""#),
    ("secrets", "refresh", "5m"),
    ("secrets", "secrets", r#"["shop/*", "billing/stripe"]"#),
    ("secrets", "extra_values", r#""webhook:\n  create: false""#),
    ("secrets", "cluster", "other"),
    // k8s.Observability
    ("obs", "namespace", r#""conf-obs2""#),
    ("obs", "metrics", "false"),
    ("obs", "metrics_version", r#""62.6.0""#),
    ("obs", "logs", "false"),
    ("obs", "logs_version", r#""6.15.0""#),
    ("obs", "log_collector_version", r#""6.16.5""#),
    ("obs", "dashboards", "false"),
    ("obs", "dashboards_version", r#""8.5.1""#),
    ("obs", "retention", "30d"),
    ("obs", "storage_gb", "40"),
    ("obs", "metrics_repo", r#""@OCI@""#),
    ("obs", "grafana_repo", r#""@OCI@""#),
    ("obs", "extra_values", r#"{ grafana = "replicas: 2" }"#),
    ("obs", "cluster", "other"),
    // k8s.CertManager
    ("certs", "version", r#""v1.15.3""#),
    ("certs", "repo", r#""@OCI@""#),
    ("certs", "admin_email", r#""sec@example.com""#),
    ("certs", "issuer", r#""production""#),
    ("certs", "issuer_name", r#""letsencrypt""#),
    ("certs", "dns01", "false"),
    ("certs", "http01_class", r#""nginx""#),
    (
        "certs",
        "extra_values",
        r#""startupapicheck:\n  enabled: false\nreplicaCount: 2""#,
    ),
    ("certs", "cluster", "other"),
];

/// Fields the servers cannot take, and why (the rest of the kind is tested).
const NOT_LIVE: &[(&str, &str, &str)] = &[
    (
        "cluster",
        "version",
        "moto does not implement EKS UpdateClusterVersion; the request is built and checked by `validate`",
    ),
    (
        "orders",
        "port",
        "moto's ModifyDBInstance stores DBPortNumber but keeps reporting the old port; the port a database is created with is tested",
    ),
    (
        "users",
        "port",
        "moto's ModifyDBInstance stores DBPortNumber but keeps reporting the old port; the port a database is created with is tested",
    ),
    (
        "cluster",
        "tags",
        "moto's EKS TagResource tags clusters only, and tpt tags the node groups too; tags made with a new node group, and removed, are tested by `e2e_aws_kinds_send_every_change_they_record`",
    ),
];

/// In-place fields a kind does not read back, and why.
const NOT_READ: &[(&str, &str, &str)] = &[
    (
        "aws.EksCluster",
        "high_availability",
        "a rule on node counts, not a property AWS keeps: its effect is read back in `node_groups`",
    ),
    (
        "aws.Postgres",
        "size",
        "a name for an instance class: read back as `instance`",
    ),
    (
        "aws.MySql",
        "size",
        "a name for an instance class: read back as `instance`",
    ),
    (
        "aws.Secret",
        "recovery_days",
        "tpt's own: honoured when tpt deletes the secret",
    ),
    (
        "k8s.ExternalSecrets",
        "secrets",
        "the policy of the operator's IAM role, made only on EKS: read back as `aws_role` by `e2e_services_on_eks_get_least_privilege_roles`",
    ),
    (
        "k8s.Gateway",
        "service",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "service_port",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "http",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "paths",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "domain",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "subdomain",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "tls",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "https_redirect",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "tcp_ports",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "controller",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "certificates",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "k8s.Gateway",
        "dns",
        "read back through the objects it makes (`objects`)",
    ),
    (
        "aws.Bucket",
        "force_destroy",
        "tpt's own: honoured when tpt deletes the bucket",
    ),
    (
        "aws.Postgres",
        "final_snapshot",
        "tpt's own: honoured when tpt deletes the database",
    ),
    (
        "aws.MySql",
        "final_snapshot",
        "tpt's own: honoured when tpt deletes the database",
    ),
    (
        "k8s.KubeconfigCluster",
        "context",
        "a pointer to a cluster: nothing on a server holds it",
    ),
    (
        "k8s.KubeconfigCluster",
        "kubeconfig",
        "a pointer to a cluster: nothing on a server holds it",
    ),
    (
        "k8s.HelmRelease",
        "chart",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "repo",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "version",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "override_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "secret_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.HelmRelease",
        "extra_manifests",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "version",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "repo",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "replicas",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "class_name",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "internal",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.IngressController",
        "extra_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "version",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "repo",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "admin_email",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "issuer",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "issuer_name",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "dns01",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "http01_class",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.CertManager",
        "extra_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "zones",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "provider",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "policy",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "owner_id",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "version",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "repo",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalDns",
        "extra_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "version",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "repo",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "store",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "store_name",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "region",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "refresh",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.ExternalSecrets",
        "extra_values",
        "read back through what the chart renders: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "namespace",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "metrics",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "metrics_version",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "logs",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "logs_version",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "log_collector_version",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "dashboards",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "dashboards_version",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "retention",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "storage_gb",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "metrics_repo",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "grafana_repo",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Observability",
        "extra_values",
        "read back through what the charts render: the objects (`objects`)",
    ),
    (
        "k8s.Manifest",
        "namespace",
        "the object is found in its recorded namespace, and an object cannot move namespace on the server",
    ),
];

/// In-place fields whose change by hand makes another object, so that the
/// recorded one reads as deleted outside tpt (drift: gone), and why.
const DRIFT_AS_GONE: &[(&str, &str, &str)] = &[];

/// The sample with the test's values, and `envs/live.tpt` with `overlay`.
fn write(dir: &Path, sample: &str, overlay: &BTreeMap<(String, String), String>) {
    let mut by_address: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((address, field), expr) in overlay {
        by_address
            .entry(address)
            .or_default()
            .push(format!("    {field} = {expr}"));
    }
    let mut env = String::from("environment live {\n");
    for (address, fields) in by_address {
        env.push_str(&format!("  {address} {{\n{}\n  }}\n", fields.join("\n")));
    }
    env.push_str("}\n");
    std::fs::write(dir.join("main.tpt"), sample).expect("main.tpt");
    std::fs::create_dir_all(dir.join("envs")).expect("envs");
    std::fs::write(dir.join("envs/live.tpt"), env).expect("envs/live.tpt");
}

struct Run<'a> {
    dir: &'a Path,
    settings: Settings,
}

impl Run<'_> {
    /// Loads the configuration as it is now and runs `f` with a session on it.
    fn with<T>(&self, f: impl FnOnce(&Session<'_>) -> T) -> T {
        let checked = session::load(self.dir);
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let s = Session::open(&checked, self.settings.clone()).unwrap_or_else(|d| panic!("{d:#?}"));
        f(&s)
    }

    fn plan(s: &Session<'_>) -> Planned {
        let options = Options {
            refresh: true,
            ..Options::default()
        };
        s.plan(&options, &|_| {})
            .unwrap_or_else(|d| panic!("the plan failed: {d:#?}"))
    }

    /// Plans and applies; the plan it applied.
    fn apply(&self, what: &str) -> Planned {
        self.with(|s| {
            let planned = Self::plan(s);
            let problems = s.cannot_apply(&planned);
            assert!(problems.is_empty(), "{what}: {problems:#?}");
            let (report, _) = s.apply(&planned, 4, tpt_executor::events::Events::none());
            assert!(report.ok(), "{what}: {:#?}", report.outcomes);
            assert!(
                report.mismatches.is_empty(),
                "{what}: applied differs from planned: {:#?}",
                report.mismatches
            );
            planned
        })
    }

    /// A plan with no change and no drift; its desired instances.
    fn assert_settled(&self, what: &str) -> Vec<ResourceInstance> {
        self.with(|s| {
            let planned = Self::plan(s);
            let changes: Vec<_> = planned
                .plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| (c.address.clone(), c.action, c.fields.clone()))
                .collect();
            assert!(
                changes.is_empty(),
                "{what}: the next plan is not empty: {changes:#?}"
            );
            assert!(
                planned.plan.drift.is_empty(),
                "{what}: drift after apply: {:#?}",
                planned.plan.drift
            );
            planned.resources
        })
    }

    /// Every field `address`'s kind reads, read back from the server, equals what is recorded.
    fn assert_reads_back(&self, address: &str, kind: &str) {
        self.with(|s| {
            let state = s.backend().read(&s.env_name).expect("state").expect("recorded");
            let key = self.settings.state_key.clone().expect("a key");
            let (live, failures) = s.engine.refresh(&state, &key).expect("not interrupted");
            assert!(failures.is_empty(), "{failures:?}");
            let Some(Live::Present { inputs, .. }) = live.get(address) else {
                panic!("`{address}` is not on the server: {:?}", live.get(address));
            };
            let recorded = &state.resources[address].inputs;
            let fields = s.engine.fields(kind).expect("a kind");
            for f in fields.reads {
                assert_eq!(
                    inputs.get(*f),
                    recorded.get(*f),
                    "`{address}.{f}` ({kind}) read back from the server differs from what was recorded"
                );
            }
        })
    }
}

#[test]
fn e2e_every_kind_applies_reads_back_and_drifts_field_by_field() {
    let Some(moto) = moto() else { return };
    let Some(kubeconfig) = kube() else { return };
    let Some(helm) = super::charts::helm() else { return };
    reset_moto(&moto);
    // The charts of `k8s.HelmRelease`: a chart repository and an OCI registry.
    let charts_dir = tempfile::tempdir().expect("a temporary directory");
    let (repo_dir, oci_dir) = (charts_dir.path().join("repo"), charts_dir.path().join("oci"));
    for d in [&repo_dir, &oci_dir] {
        std::fs::create_dir_all(d).expect("a directory");
    }
    let demo = super::repo_root().join("tests/charts/demo");
    let sidecar = demo.join("charts/sidecar");
    let in_repo = [
        super::charts::package(&helm, &demo, "0.1.0", "1.0", &repo_dir),
        super::charts::package(&helm, &sidecar, "0.1.0", "1.0", &repo_dir),
    ];
    let mirror = super::repo_root().join("tests/charts/mirror");
    let (nginx, certs) = (mirror.join("ingress-nginx"), mirror.join("cert-manager"));
    let mut in_repo = in_repo.to_vec();
    in_repo.push(super::charts::package(
        &helm, &nginx, "4.11.1", "1.11.1", &repo_dir,
    ));
    in_repo.push(super::charts::package(
        &helm, &certs, "v1.15.2", "v1.15.2", &repo_dir,
    ));
    in_repo.push(super::charts::package(
        &helm, &nginx, "4.11.2", "1.11.2", &repo_dir,
    ));
    in_repo.push(super::charts::package(
        &helm, &certs, "v1.15.3", "v1.15.3", &repo_dir,
    ));
    let (dns, secrets) = (mirror.join("external-dns"), mirror.join("external-secrets"));
    for (chart, version) in [
        (&dns, "1.15.0"),
        (&dns, "1.14.0"),
        (&secrets, "0.10.4"),
        (&secrets, "0.10.3"),
    ] {
        in_repo.push(super::charts::package(&helm, chart, version, version, &repo_dir));
    }
    for (chart, versions) in [
        ("kube-prometheus-stack", ["62.7.0", "62.6.0"]),
        ("loki", ["6.16.0", "6.15.0"]),
        ("promtail", ["6.16.6", "6.16.5"]),
        ("grafana", ["8.5.2", "8.5.1"]),
    ] {
        for version in versions {
            in_repo.push(super::charts::package(
                &helm,
                &mirror.join(chart),
                version,
                version,
                &repo_dir,
            ));
        }
    }
    let repo = super::charts::repository(&helm, &repo_dir, &in_repo);
    let mut in_oci = vec![
        ("sidecar", "0.1.0", &sidecar, "1.0"),
        ("sidecar", "0.2.0", &sidecar, "1.0"),
        ("ingress-nginx", "4.11.1", &nginx, "1.11.1"),
        ("ingress-nginx", "4.11.2", &nginx, "1.11.2"),
        ("cert-manager", "v1.15.2", &certs, "v1.15.2"),
        ("cert-manager", "v1.15.3", &certs, "v1.15.3"),
    ];
    in_oci.extend([
        ("external-dns", "1.14.0", &dns, "1.14.0"),
        ("external-secrets", "0.10.3", &secrets, "0.10.3"),
    ]);
    let stack: Vec<(&str, std::path::PathBuf)> = ["kube-prometheus-stack", "loki", "promtail", "grafana"]
        .into_iter()
        .map(|c| (c, mirror.join(c)))
        .collect();
    for (chart, dir) in &stack {
        let version = match *chart {
            "kube-prometheus-stack" => "62.6.0",
            "loki" => "6.15.0",
            "promtail" => "6.16.5",
            _ => "8.5.1",
        };
        in_oci.push((chart, version, dir, version));
    }
    let in_oci: Vec<(&str, &str, std::path::PathBuf)> = in_oci
        .into_iter()
        .map(|(name, version, dir, app)| {
            (
                name,
                version,
                super::charts::package(&helm, dir, version, app, &oci_dir),
            )
        })
        .collect();
    let oci = super::charts::registry("charts", &in_oci);
    std::env::set_var("TPT_HELM", &helm);
    std::env::set_var("TPT_CACHE_DIR", charts_dir.path().join("cache"));
    for (k, v) in super::aws_vars(&moto) {
        std::env::set_var(k, v);
    }
    // Load balancers get host names (the Ingress of `web`, the controller's Service).
    let _fake = FakeControllers::start(&kubeconfig, std::time::Duration::from_millis(100));
    let (vpc_a, vpc_b) = runtime().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&moto_config(&moto, "us-east-1").await);
        let mut ids = Vec::new();
        for cidr in ["10.50.0.0/16", "10.51.0.0/16"] {
            let v = ec2.create_vpc().cidr_block(cidr).send().await.expect("a VPC");
            ids.push(v.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string());
        }
        (ids[0].clone(), ids[1].clone())
    });
    // Another kubeconfig file, with another name for the same context.
    let mut copy = kube::config::Kubeconfig::read_from(&kubeconfig).expect("the kubeconfig");
    let mut again = copy.contexts.first().cloned().expect("a context");
    again.name = "local-again".into();
    copy.contexts.push(again);
    let kube_dir = tempfile::tempdir().expect("a temporary directory");
    let copy_path = kube_dir.path().join("kubeconfig").display().to_string();
    for path in [copy_path.clone(), format!("{copy_path}.2")] {
        std::fs::write(&path, serde_json::to_string(&copy).expect("JSON is YAML")).expect("the copy");
    }
    let fill = |text: &str| {
        text.replace("@KUBECONFIG@", &copy_path)
            .replace("@VPC_A@", &vpc_a)
            .replace("@VPC_B@", &vpc_b)
            .replace("@REPO@", &repo.url)
            .replace("@OCI@", &oci.url)
    };
    let sample_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/live.tpt");
    let sample = fill(&std::fs::read_to_string(sample_path).expect("the sample"));
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    let mut settings = Settings::from_env(dir);
    settings.env = Some("live".into());
    settings.backend = session::BackendChoice::Local;
    settings.state_key = Some(b"conformance-key".to_vec());
    settings.wait_limit = Some(std::time::Duration::from_secs(60));
    let run = Run { dir, settings };

    // Every registered kind has a sample; every field a change or a reason.
    let mut overlay: BTreeMap<(String, String), String> = BTreeMap::new();
    write(dir, &sample, &overlay);
    let checked = session::load(dir);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let resources = checked
        .evaluate(Some("live"), &Default::default())
        .unwrap_or_else(|d| panic!("{d:#?}"))
        .resources;
    let kinds: BTreeSet<&str> = resources.iter().map(|r| r.kind.as_str()).collect();
    for k in KINDS {
        assert!(
            kinds.contains(k.schema),
            "`{}` has no resource in {sample_path}",
            k.schema
        );
    }
    let change = |address: &str, field: &str| {
        CHANGES
            .iter()
            .find(|(a, f, _)| *a == address && *f == field)
            .map(|(_, _, e)| fill(e))
    };
    let not_live = |address: &str, field: &str| NOT_LIVE.iter().any(|(a, f, _)| *a == address && *f == field);
    // (address, kind, field, in place?)
    let mut cases = Vec::new();
    let mut missing = Vec::new();
    let providers = tpt_executor::provider::Providers::default();
    let mut sampled = BTreeSet::new();
    // The first resource of each kind is its sample (others are helpers).
    for r in resources.iter().filter(|r| sampled.insert(r.kind.clone())) {
        let schema = checked.program.schema(r.schema);
        let fields = providers.get(&r.kind).expect("a kind").fields();
        for (field, f) in schema.fields.iter().filter(|(_, f)| !f.output && !f.setting) {
            let in_place = fields.in_place.contains(&field.as_str());
            if in_place
                && !fields.reads.contains(&field.as_str())
                && !NOT_READ.iter().any(|(k, x, _)| *k == r.kind && x == field)
            {
                missing.push(format!(
                    "`{}.{field}` is updated in place but not read back: read it, or say why in NOT_READ",
                    r.kind
                ));
            }
            if not_live(&r.address, field) {
                continue;
            }
            if !in_place && !f.replace {
                continue;
            }
            if change(&r.address, field).is_none() {
                missing.push(format!(
                    "`{}.{field}` (`{}`) has no other value in CHANGES and no reason in NOT_LIVE",
                    r.address, r.kind
                ));
            }
            cases.push((r.address.clone(), r.kind.clone(), field.clone(), in_place));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");

    // 1. Create everything; what each kind reads equals what was recorded.
    run.apply("the first apply");
    let mut before = run.assert_settled("after the first apply");
    for r in &resources {
        run.assert_reads_back(&r.address, &r.kind);
    }

    // 2. Each in-place field alone: update, read back, settle; drift by hand, settle.
    for (address, kind, field, _) in cases.iter().filter(|c| c.3) {
        let what = format!("`{address}.{field}` ({kind})");
        let value = change(address, field).expect("checked above");
        overlay.insert((address.clone(), field.clone()), value);
        write(dir, &sample, &overlay);
        run.with(|s| {
            let planned = Run::plan(s);
            // What a kind renders (a chart's objects) changes with the field,
            // and so may what others render from it (a gateway's Ingress takes
            // the controller's class): rendered fields are left out.
            let rendered = |address: &str| {
                resources
                    .iter()
                    .find(|r| r.address == address)
                    .and_then(|r| providers.get(&r.kind))
                    .map_or(&[][..], |p| p.fields().rendered)
            };
            let changed: Vec<_> = planned
                .plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| {
                    (
                        c.address.clone(),
                        c.action,
                        c.fields
                            .iter()
                            .map(|f| f.field.clone())
                            .filter(|f| !rendered(&c.address).contains(&f.as_str()))
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(a, _, fields)| a == address || !fields.is_empty())
                .collect();
            assert_eq!(
                changed,
                vec![(address.clone(), Action::Update, vec![field.clone()])],
                "{what}: the plan is not exactly an update of that field"
            );
        });
        run.apply(&what);
        let reads = providers
            .get(kind)
            .expect("a kind")
            .fields()
            .reads
            .contains(&field.as_str());
        if reads {
            run.assert_reads_back(address, kind);
        }
        let after = run.assert_settled(&what);
        if reads {
            // By hand: the old value sent to the server, not recorded.
            let old = before
                .iter()
                .find(|r| &r.address == address)
                .expect("the resource before");
            run.with(|s| {
                let state = s.backend().read(&s.env_name).expect("state").expect("recorded");
                let key = run.settings.state_key.clone().expect("a key");
                s.engine
                    .update_unrecorded(&state, &key, old)
                    .unwrap_or_else(|e| panic!("{what}: the change by hand failed: {e}"));
                let planned = Run::plan(s);
                let drift: Vec<_> = planned
                    .plan
                    .drift
                    .iter()
                    .map(|d| {
                        (
                            d.address.clone(),
                            d.changed
                                .as_ref()
                                .map(|c| c.iter().map(|f| f.field.clone()).collect::<Vec<_>>()),
                        )
                    })
                    .collect();
                let gone = DRIFT_AS_GONE.iter().any(|(k, f, _)| k == kind && f == field);
                let expected = if gone { None } else { Some(vec![field.clone()]) };
                assert_eq!(
                    drift,
                    vec![(address.clone(), expected)],
                    "{what}: a change by hand shows as drift of exactly that field"
                );
            });
            run.apply(&format!("{what}, put right after the change by hand"));
            run.assert_settled(&format!("{what}, put right"));
        }
        before = after;
    }

    // 3. Each @replace field: a replacement that names it (planned, not applied).
    for (address, kind, field, _) in cases.iter().filter(|c| !c.3) {
        let what = format!("`{address}.{field}` ({kind})");
        let mut with = overlay.clone();
        with.insert(
            (address.clone(), field.clone()),
            change(address, field).expect("checked above"),
        );
        write(dir, &sample, &with);
        run.with(|s| {
            let planned = Run::plan(s);
            let c = planned
                .plan
                .changes
                .iter()
                .find(|c| &c.address == address)
                .expect("the resource is planned");
            assert_eq!(c.action, Action::Replace, "{what}: {c:#?}");
            assert!(
                c.reason
                    .as_deref()
                    .is_some_and(|r| r.contains(&format!("`{field}`"))),
                "{what}: the replacement does not name the field: {:?}",
                c.reason
            );
        });
    }

    // Clean up: protection lifted, then everything deleted.
    for db in ["orders", "users"] {
        overlay.insert((db.into(), "deletion_protection".into()), "false".into());
    }
    write(dir, &sample, &overlay);
    run.apply("lifting deletion protection");
    run.with(|s| {
        let options = Options {
            destroy: true,
            ..Options::default()
        };
        let planned = s.plan(&options, &|_| {}).unwrap_or_else(|d| panic!("{d:#?}"));
        let (report, _) = s.apply(&planned, 4, tpt_executor::events::Events::none());
        assert!(report.ok(), "the destroy: {:#?}", report.outcomes);
    });
}

//! End-to-end: `tpt apply` against real servers — the moto AWS emulator
//! (`TPT_TEST_MOTO_URL`) and a real Kubernetes API server
//! (`TPT_TEST_KUBECONFIG`), both started by `.ci/run` (see
//! `tests/targets/`). Without them a test says why and skips, unless
//! `TPT_REQUIRE_MOTO` / `TPT_REQUIRE_KUBE` is set (CI), where it fails.
//!
//! These tests share the servers, so nextest runs them one at a time (test
//! group `real-targets` in `.config/nextest.toml`); each resets moto first.

// Skipping prints why (locally); CI requires the servers instead.
#![allow(clippy::print_stderr)]

mod support;

#[path = "e2e/conformance.rs"]
mod conformance;

#[path = "e2e/charts.rs"]
mod charts;

#[path = "e2e/helm.rs"]
mod helm;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{copy_dir, repo_root, Output};

fn moto() -> Option<String> {
    match std::env::var("TPT_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("TPT_REQUIRE_MOTO").is_none(),
                "TPT_REQUIRE_MOTO is set but TPT_TEST_MOTO_URL is not: the AWS emulator did not start"
            );
            eprintln!(
                "skipping: no AWS emulator (set TPT_TEST_MOTO_URL, e.g. after `bash tests/targets/start-moto.sh`)"
            );
            None
        }
    }
}

fn kube() -> Option<String> {
    match std::env::var("TPT_TEST_KUBECONFIG") {
        Ok(k) if !k.is_empty() => Some(k),
        _ => {
            assert!(
                std::env::var_os("TPT_REQUIRE_KUBE").is_none(),
                "TPT_REQUIRE_KUBE is set but TPT_TEST_KUBECONFIG is not: the Kubernetes API server did not start"
            );
            eprintln!(
                "skipping: no Kubernetes API server (set TPT_TEST_KUBECONFIG, e.g. after `bash tests/targets/start-kube.sh`)"
            );
            None
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Clears everything moto holds.
fn reset_moto(url: &str) {
    let rt = runtime();
    rt.block_on(async {
        let addr = url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("moto is reachable");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(
            format!("POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("reset request");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        assert!(String::from_utf8_lossy(&buf).contains("200"), "moto reset failed");
    });
}

fn aws_vars(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ("TPT_STATE_KEY", "e2e-test-key".into()),
    ]
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, String)]) -> Output {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    support::tpt_with(dir, args, &vars)
}

/// The SDK configuration for moto at `endpoint` in `region`, with test credentials.
async fn moto_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_eks::config::Credentials::new("test", "test", None, None, "e2e");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .load()
        .await
}

/// The networks tpt made for clusters in `region`: per VPC (tagged
/// `tpt:cluster`) its subnets, internet gateways and tpt's route tables.
fn cluster_networks(endpoint: &str, region: &str) -> Vec<(String, usize, usize, usize)> {
    let rt = runtime();
    rt.block_on(async {
        let conf = moto_config(endpoint, region).await;
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let by = |name: &str, value: &str| {
            aws_sdk_ec2::types::Filter::builder()
                .name(name)
                .values(value)
                .build()
        };
        let vpcs = ec2
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values("tpt:cluster")
                    .build(),
            )
            .send()
            .await
            .expect("list VPCs");
        let mut out = Vec::new();
        for id in vpcs.vpcs().iter().filter_map(|v| v.vpc_id()) {
            let subnets = ec2
                .describe_subnets()
                .filters(by("vpc-id", id))
                .send()
                .await
                .expect("subnets");
            let gateways = ec2
                .describe_internet_gateways()
                .filters(by("attachment.vpc-id", id))
                .send()
                .await
                .expect("gateways");
            let tables = ec2
                .describe_route_tables()
                .filters(by("vpc-id", id))
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag-key")
                        .values("tpt:cluster")
                        .build(),
                )
                .send()
                .await
                .expect("route tables");
            out.push((
                id.to_string(),
                subnets.subnets().len(),
                gateways.internet_gateways().len(),
                tables.route_tables().len(),
            ));
        }
        out
    })
}

/// The IAM role of the EKS cluster `name`.
fn cluster_role(endpoint: &str, region: &str, name: &str) -> String {
    let rt = runtime();
    rt.block_on(async {
        let conf = moto_config(endpoint, region).await;
        let out = aws_sdk_eks::Client::new(&conf)
            .describe_cluster()
            .name(name)
            .send()
            .await
            .expect("the cluster");
        out.cluster()
            .and_then(|c| c.role_arn())
            .unwrap_or_default()
            .to_string()
    })
}

/// What moto holds, by kind: EKS clusters, RDS instances, hosted zones (names).
fn aws_inventory(endpoint: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let rt = runtime();
    rt.block_on(async {
        let mut clusters = Vec::new();
        let mut dbs = Vec::new();
        for region in ["us-east-1", "us-east-2", "eu-west-1"] {
            let conf = moto_config(endpoint, region).await;
            let eks = aws_sdk_eks::Client::new(&conf);
            clusters.extend(
                eks.list_clusters()
                    .send()
                    .await
                    .expect("list clusters")
                    .clusters()
                    .to_vec(),
            );
            let rds = aws_sdk_rds::Client::new(&conf);
            dbs.extend(
                rds.describe_db_instances()
                    .send()
                    .await
                    .expect("list databases")
                    .db_instances()
                    .iter()
                    .filter_map(|d| d.db_instance_identifier().map(str::to_string)),
            );
        }
        let conf = moto_config(endpoint, "us-east-1").await;
        let zones = aws_sdk_route53::Client::new(&conf)
            .list_hosted_zones()
            .send()
            .await
            .expect("list zones")
            .hosted_zones()
            .iter()
            .map(|z| z.name().to_string())
            .collect();
        (clusters, dbs, zones)
    })
}

/// Plays what the local API server lacks (it runs the controller manager but
/// no kubelet and no cloud): every LoadBalancer Service and every Ingress gets
/// a host name, and every pod becomes ready `rollout_delay` after it was first
/// seen — except in the namespaces in `held`, whose pods wait until they leave
/// it. Deployments then roll out through the real controllers.
struct FakeControllers {
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<HashSet<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeControllers {
    fn start(kubeconfig: &str, rollout_delay: Duration) -> FakeControllers {
        let stop = Arc::new(AtomicBool::new(false));
        let held: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (flag, holds) = (stop.clone(), held.clone());
        let kubeconfig = PathBuf::from(kubeconfig);
        let thread = std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                use k8s_openapi::api::core::v1::{Pod, Service};
                use k8s_openapi::api::networking::v1::Ingress;
                use kube::api::{ListParams, Patch, PatchParams};
                let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
                let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .expect("config");
                let client = kube::Client::try_from(config).expect("client");
                let status = |host: &str| {
                    serde_json::json!({"status": {"loadBalancer": {"ingress": [{"hostname": host}]}}})
                };
                let mut first_seen: HashMap<String, std::time::Instant> = HashMap::new();
                while !flag.load(Ordering::SeqCst) {
                    let services: kube::Api<Service> = kube::Api::all(client.clone());
                    if let Ok(list) = services.list(&ListParams::default()).await {
                        for s in list {
                            let is_lb = s.spec.as_ref().and_then(|x| x.type_.as_deref()) == Some("LoadBalancer");
                            let has = s
                                .status
                                .as_ref()
                                .and_then(|x| x.load_balancer.as_ref())
                                .and_then(|l| l.ingress.as_ref())
                                .is_some_and(|i| !i.is_empty());
                            if is_lb && !has {
                                let ns = s.metadata.namespace.clone().unwrap_or_default();
                                let name = s.metadata.name.clone().unwrap_or_default();
                                let api: kube::Api<Service> = kube::Api::namespaced(client.clone(), &ns);
                                let _ = api
                                    .patch_status(
                                        &name,
                                        &PatchParams::default(),
                                        &Patch::Merge(status(&format!("{name}.elb.example.com"))),
                                    )
                                    .await;
                            }
                        }
                    }
                    let ingresses: kube::Api<Ingress> = kube::Api::all(client.clone());
                    if let Ok(list) = ingresses.list(&ListParams::default()).await {
                        for i in list {
                            let has = i
                                .status
                                .as_ref()
                                .and_then(|x| x.load_balancer.as_ref())
                                .and_then(|l| l.ingress.as_ref())
                                .is_some_and(|x| !x.is_empty());
                            if !has {
                                let ns = i.metadata.namespace.clone().unwrap_or_default();
                                let name = i.metadata.name.clone().unwrap_or_default();
                                let api: kube::Api<Ingress> = kube::Api::namespaced(client.clone(), &ns);
                                let _ = api
                                    .patch_status(
                                        &name,
                                        &PatchParams::default(),
                                        &Patch::Merge(status("ingress.elb.example.com")),
                                    )
                                    .await;
                            }
                        }
                    }
                    // The kubelet's part: pods become ready, and the API server's
                    // own ReplicaSet and Deployment controllers report the rollout.
                    let pods: kube::Api<Pod> = kube::Api::all(client.clone());
                    if let Ok(list) = pods.list(&ListParams::default()).await {
                        for pod in list {
                            let ns = pod.metadata.namespace.clone().unwrap_or_default();
                            let name = pod.metadata.name.clone().unwrap_or_default();
                            let uid = pod.metadata.uid.clone().unwrap_or_default();
                            let ready = pod
                                .status
                                .as_ref()
                                .and_then(|s| s.conditions.as_ref())
                                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                            if ready || holds.lock().is_ok_and(|h| h.contains(&ns)) {
                                continue;
                            }
                            let seen = *first_seen.entry(uid).or_insert_with(std::time::Instant::now);
                            if seen.elapsed() < rollout_delay {
                                continue;
                            }
                            let now = k8s_openapi::jiff::Timestamp::now().to_string();
                            let running = serde_json::json!({"status": {
                                "phase": "Running",
                                "conditions": [
                                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                                ],
                            }});
                            let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), &ns);
                            let _ = api
                                .patch_status(&name, &PatchParams::default(), &Patch::Merge(running))
                                .await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        });
        FakeControllers {
            stop,
            held,
            thread: Some(thread),
        }
    }

    /// Pods in `namespace` do not become ready until [`FakeControllers::release`].
    fn hold(&self, namespace: &str) {
        if let Ok(mut h) = self.held.lock() {
            h.insert(namespace.to_string());
        }
    }

    fn release(&self, namespace: &str) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(namespace);
        }
    }
}

impl Drop for FakeControllers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `kubectl`-free look at the cluster: the object's JSON, or `None`.
fn kube_get(kubeconfig: &str, path: &str) -> Option<serde_json::Value> {
    let rt = runtime();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).ok()?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .ok()?;
        let client = kube::Client::try_from(config).ok()?;
        let req = http::Request::get(path).body(Vec::new()).ok()?;
        client.request::<serde_json::Value>(req).await.ok()
    })
}

/// Changes an object outside tpt, as someone with `kubectl` would (a merge patch).
fn kube_merge_patch(kubeconfig: &str, path: &str, patch: serde_json::Value) {
    let rt = runtime();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let req = http::Request::patch(format!("{path}?fieldManager=kubectl-edit"))
            .header("Content-Type", "application/merge-patch+json")
            .body(patch.to_string().into_bytes())
            .expect("request");
        client
            .request::<serde_json::Value>(req)
            .await
            .expect("the patch is accepted");
    });
}

/// The shop example, with an environment for the test servers: dev's
/// settings, the rollout wait bounded.
fn shop_copy() -> tempfile::TempDir {
    // dev, with the rollout wait bounded: the rollouts are the fake controllers'.
    shop_with(
        "ci",
        "environment ci extends dev {\n  main { role_arn = \"arn:aws:iam::123456789012:role/ci-eks\" }\n  shop { wait_timeout = 60s }\n}\n",
    )
}

/// The stand-in charts of the support services (`tests/charts/mirror`),
/// served once per test process as a chart repository: what the tests'
/// environments point the shop's ingress controller and cert-manager at (no
/// internet here, and the local API server is older than upstream's charts accept).
fn mirror() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let helm = charts::helm().expect("the shop's tests need `helm` (checked by the test)");
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        let archives = charts::package_all(&helm, &repo_root().join("tests/charts/mirror"), &dir);
        charts::repository(&helm, &dir, &archives).url
    })
    .clone()
}

/// A copy of the shop example without state, with `envs/NAME.tpt` holding
/// `text` (an environment), its support services from [`mirror`].
fn shop_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&repo_root().join("examples/shop"), dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join(".tpt"));
    std::fs::write(dir.path().join(format!("envs/{name}.tpt")), with_mirror(text)).expect("env file");
    dir
}

/// An environment of the shop (`environment … { … }`) with its support
/// services from [`mirror`].
fn with_mirror(text: &str) -> String {
    let url = mirror();
    // The API check Job of cert-manager never completes on a cluster without nodes.
    let services = format!(
        "  ingress {{ repo = \"{url}\" }}\n  certs {{ repo = \"{url}\", extra_values = \"startupapicheck:\\n  enabled: false\" }}\n}}\n"
    );
    match text.trim_end().strip_suffix('}') {
        Some(open) => format!("{open}{services}"),
        None => text.to_string(),
    }
}

fn assert_ok(what: &str, out: &Output) {
    assert_eq!(out.code, 0, "{what} failed:\n{}\n{}", out.stdout, out.stderr);
}

#[test]
fn e2e_shop_apply_change_destroy() {
    let (Some(moto), Some(kubeconfig), Some(_)) = (moto(), kube(), charts::helm()) else {
        return;
    };
    reset_moto(&moto);
    let _controllers = FakeControllers::start(&kubeconfig, Duration::from_secs(1));
    let dir = shop_copy();
    let mut vars = aws_vars(&moto);
    vars.push(("TPT_EKS_KUBECONFIG", kubeconfig.clone()));
    let d = dir.path();

    let apply = run(
        d,
        &[
            "apply",
            ".",
            "--env",
            "ci",
            "--auto-approve",
            "--wait-timeout",
            "60s",
        ],
        &vars,
    );
    assert_ok("the first apply", &apply);
    assert!(
        apply.stdout.contains("Apply complete: 7 created"),
        "{}",
        apply.stdout
    );
    let (clusters, dbs, zones) = aws_inventory(&moto);
    assert_eq!(clusters, ["main"]);
    assert_eq!(
        cluster_role(&moto, "us-east-2", "main"),
        "arn:aws:iam::123456789012:role/ci-eks",
        "the cluster acts as the role given"
    );
    assert_eq!(dbs, ["orders"]);
    assert_eq!(zones, ["dev.acme.dev."]);
    // The cluster's own network: a VPC, a subnet in each of 3 zones, a gateway, routes.
    let networks = cluster_networks(&moto, "us-east-2");
    assert_eq!(networks.len(), 1, "{networks:?}");
    let (_, subnets, gateways, tables) = &networks[0];
    assert_eq!((*subnets, *gateways, *tables), (3, 1, 1), "{networks:?}");
    let deployment =
        kube_get(&kubeconfig, "/apis/apps/v1/namespaces/shop/deployments/shop").expect("the deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    // The database URL reaches the app as a Secret, never in the Deployment.
    let secret = kube_get(&kubeconfig, "/api/v1/namespaces/shop/secrets/shop-env").expect("the env secret");
    let url = secret["data"]["DATABASE_URL"]
        .as_str()
        .expect("DATABASE_URL in the secret");
    let url = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, url).expect("base64"),
    )
    .expect("text");
    let password = url
        .strip_prefix("postgres://app:")
        .and_then(|r| r.split('@').next())
        .expect("a URL with a password")
        .to_string();
    assert!(password.len() >= 16, "{url}");
    assert!(!deployment.to_string().contains(&password));
    // The generated password is in no output and no state file.
    let state = std::fs::read_to_string(d.join(".tpt/state/ci.json")).expect("the state file");
    for (what, text) in [
        ("apply output", format!("{}{}", apply.stdout, apply.stderr)),
        ("state", state),
    ] {
        assert!(!text.contains(&password), "the password leaks into the {what}");
    }
    let ingress = kube_get(
        &kubeconfig,
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/shop",
    )
    .expect("the shop's Ingress");
    // The class of the controller and the issuer of the cert-manager it names.
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );

    // Nothing changed: a refreshed plan is empty.
    let plan = run(d, &["plan", ".", "--env", "ci", "--detailed-exitcode"], &vars);
    assert_eq!(
        plan.code, 0,
        "a plan after apply changes nothing:\n{}{}",
        plan.stdout, plan.stderr
    );

    // A change: plan shows the updates, apply makes them, the next plan is empty.
    std::fs::write(
        d.join("envs/ci.tpt"),
        with_mirror("environment ci extends dev {\n  replicas = 3\n  main { role_arn = \"arn:aws:iam::123456789012:role/ci-eks\" }\n  orders { storage_gb = 30 }\n  shop { wait_timeout = 60s }\n}\n"),
    )
    .expect("env file");
    let plan = run(d, &["plan", ".", "--env", "ci", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("~ shop (k8s.App) will be updated in place"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("replicas: 1 → 3"), "{}", plan.stdout);
    assert!(plan.stdout.contains("storage_gb: 20 → 30"), "{}", plan.stdout);
    let apply = run(d, &["apply", ".", "--env", "ci", "--auto-approve"], &vars);
    assert_ok("the second apply", &apply);
    assert!(apply.stdout.contains("0 created, 2 updated"), "{}", apply.stdout);
    let deployment =
        kube_get(&kubeconfig, "/apis/apps/v1/namespaces/shop/deployments/shop").expect("the deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let plan = run(d, &["plan", ".", "--env", "ci", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    // Drift: someone scales the app by hand; refresh finds it, apply undoes it.
    kube_merge_patch(
        &kubeconfig,
        "/apis/apps/v1/namespaces/shop/deployments/shop",
        serde_json::json!({"spec": {"replicas": 5}}),
    );
    let plan = run(d, &["plan", ".", "--env", "ci", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("! shop (k8s.App) was changed outside tpt"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("replicas: 5 → 3"), "{}", plan.stdout);
    let apply = run(d, &["apply", ".", "--env", "ci", "--auto-approve"], &vars);
    assert_ok("the apply that undoes the drift", &apply);
    let deployment =
        kube_get(&kubeconfig, "/apis/apps/v1/namespaces/shop/deployments/shop").expect("the deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let plan = run(d, &["plan", ".", "--env", "ci", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    // Destroy leaves nothing behind.
    let destroy = run(d, &["destroy", ".", "--env", "ci", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
    assert!(destroy.stdout.contains("7 deleted"), "{}", destroy.stdout);
    let (clusters, dbs, zones) = aws_inventory(&moto);
    assert!(
        clusters.is_empty() && dbs.is_empty() && zones.is_empty(),
        "{clusters:?} {dbs:?} {zones:?}"
    );
    assert_eq!(
        cluster_networks(&moto, "us-east-2"),
        [],
        "the cluster's network is gone too"
    );
    for path in [
        "/apis/apps/v1/namespaces/shop/deployments/shop",
        "/api/v1/namespaces/shop/services/shop",
        "/api/v1/namespaces/shop/secrets/shop-env",
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/shop",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterissuers.cert-manager.io",
        "/apis/networking.k8s.io/v1/ingressclasses/nginx",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/tpt-ingress-nginx",
    ] {
        assert!(kube_get(&kubeconfig, path).is_none(), "{path} is left behind");
    }
    let state = run(d, &["state", "list", "--env", "ci", "."], &vars);
    assert_eq!(state.stdout.trim(), "", "{}", state.stdout);
}

/// Many independent AWS objects: zones, records, databases.
const FLEET: &str = r#"
import std.aws

resource zone: aws.HostedZone {
  name = "fleet.example.com"
}

resource other: aws.HostedZone {
  name = "other.example.com"
}

for i in ["a", "b", "c", "d", "e", "f", "g", "h"] {
  resource record: aws.DnsRecord {
    zone = zone.name
    name = "${i}.fleet.example.com"
    type = "A"
    values = ["10.0.0.1"]
  }
}

for i in ["one", "two", "three"] {
  resource db: aws.Postgres {
    identifier = "db-${i}"
    region = "us-east-1"
  }
}
"#;

#[test]
fn e2e_kill_9_then_apply_again_converges() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.tpt"), FLEET).expect("config");
    let vars = aws_vars(&moto);
    let runs = 20;
    let mut killed_mid_run = 0;
    for n in 0..runs {
        // Apply and destroy in turn, each killed at a random moment, so that
        // creates and deletes are interrupted at every stage.
        let verb = if n % 2 == 0 { "apply" } else { "destroy" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_tpt"))
            .args([verb, ".", "--auto-approve", "--parallelism", "4"])
            .current_dir(dir.path())
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tpt starts");
        let delay = rand::random_range(10..250u64);
        std::thread::sleep(Duration::from_millis(delay));
        if matches!(child.try_wait(), Ok(None)) {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // A killed run leaves its lock: release it as an operator would.
        let _ = std::fs::remove_file(dir.path().join(".tpt/state/default.lock"));
    }
    assert!(
        killed_mid_run >= runs / 2,
        "only {killed_mid_run} of {runs} runs were killed while running"
    );
    let out = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the converging apply", &out);
    let plan = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let (_, mut dbs, mut zones) = aws_inventory(&moto);
    dbs.sort();
    zones.sort();
    assert_eq!(
        dbs,
        ["db-one", "db-three", "db-two"],
        "no duplicate or orphaned database"
    );
    assert_eq!(
        zones,
        ["fleet.example.com.", "other.example.com."],
        "no duplicate or orphaned zone"
    );
    let state = run(dir.path(), &["state", "list", "--env", "default", "."], &vars);
    assert_eq!(state.stdout.lines().count(), 13, "{}", state.stdout);
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("the final destroy", &destroy);
    let (_, dbs, zones) = aws_inventory(&moto);
    assert!(dbs.is_empty() && zones.is_empty(), "{dbs:?} {zones:?}");
}

#[test]
fn e2e_two_concurrent_applies_one_runs() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.tpt"), FLEET).expect("config");
    let vars = aws_vars(&moto);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tpt"))
            .args(["apply", ".", "--auto-approve", "--color", "never"])
            .current_dir(dir.path())
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tpt starts")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    let codes = [a.status.code(), b.status.code()];
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "one runs, one is refused: {codes:?}\n{stderr}"
    );
    assert!(
        stderr.contains("E0702") && stderr.contains("operation: apply"),
        "{stderr}"
    );
    let (_, dbs, zones) = aws_inventory(&moto);
    assert_eq!((dbs.len(), zones.len()), (3, 2), "created once");
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
}

/// A proxy between tpt and moto that answers some requests with throttling
/// (400 `Throttling`) or 503 instead of forwarding them.
fn fault_proxy(
    upstream: String,
    rt: &tokio::runtime::Runtime,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let faults = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = faults.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("proxy port");
    let addr = listener.local_addr().expect("address");
    rt.spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            n += 1;
            let fault = match n % 4 {
                1 => Some(
                    "HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: ThrottlingException\r\nContent-Type: text/xml\r\n\
                     Connection: close\r\nContent-Length: 123\r\n\r\n\
                     <ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
                ),
                3 => Some("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
                _ => None,
            };
            let upstream = upstream.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                match fault {
                    Some(response) => {
                        // Read the request (headers and body) before answering.
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        loop {
                            let Ok(k) = client.read(&mut chunk).await else { return };
                            if k == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..k]);
                            let text = String::from_utf8_lossy(&buf).to_string();
                            if let Some(end) = text.find("\r\n\r\n") {
                                let len = text[..end]
                                    .lines()
                                    .find_map(|l| {
                                        let (k, v) = l.split_once(':')?;
                                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                                    })
                                    .unwrap_or(0);
                                if buf.len() >= end + 4 + len {
                                    break;
                                }
                            }
                        }
                        counter.fetch_add(1, Ordering::SeqCst);
                        let _ = client.write_all(response.as_bytes()).await;
                        let _ = client.shutdown().await;
                    }
                    None => {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), faults)
}

#[test]
fn e2e_throttling_and_5xx_are_retried() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let rt = runtime();
    let (proxy, faults) = fault_proxy(moto.trim_start_matches("http://").to_string(), &rt);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.tpt"), FLEET).expect("config");
    let vars = aws_vars(&proxy);
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply through the faulty proxy", &apply);
    assert!(faults.load(Ordering::SeqCst) > 0, "the proxy injected faults");
    assert!(apply.stdout.contains("retrying"), "{}", apply.stdout);
    let (_, dbs, zones) = aws_inventory(&moto);
    assert_eq!((dbs.len(), zones.len()), (3, 2));
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &aws_vars(&moto));
    assert_ok("destroy", &destroy);
}

/// An app in namespace `NS` on the test cluster, and a zone that depends on it.
fn rollout_config(kubeconfig: &str, ns: &str, wait_timeout: &str) -> String {
    format!(
        r#"import std.aws
import std.k8s

resource local: k8s.KubeconfigCluster {{ context = "local", kubeconfig = "{kubeconfig}" }}

resource web: k8s.App {{
  cluster = local
  namespace = "{ns}"
  image = "nginx:1.27"
  wait_timeout = {wait_timeout}
}}

resource zone: aws.HostedZone {{
  name = "{ns}.example.com"
  depends_on = [web]
}}
"#
    )
}

/// What the rollout tests share: moto reset, the fake controllers (pods ready
/// after `delay`; those of `ns` held when `held`), and a directory holding
/// [`rollout_config`]. `None` when the servers are missing.
struct RolloutCase {
    dir: tempfile::TempDir,
    controllers: FakeControllers,
    vars: Vec<(&'static str, String)>,
    kubeconfig: String,
    moto: String,
    /// The app's namespace: the one asked for with a random suffix.
    ns: String,
}

fn rollout_case(ns: &str, wait_timeout: &str, delay: Duration, held: bool) -> Option<RolloutCase> {
    let (Some(moto), Some(kubeconfig)) = (moto(), kube()) else {
        return None;
    };
    reset_moto(&moto);
    // A namespace of its own: the API server keeps what earlier runs left.
    let ns = format!("{ns}-{}", rand::random_range(0..1_000_000u32));
    let controllers = FakeControllers::start(&kubeconfig, delay);
    if held {
        controllers.hold(&ns);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        rollout_config(&kubeconfig, &ns, wait_timeout),
    )
    .expect("config");
    Some(RolloutCase {
        dir,
        controllers,
        vars: aws_vars(&moto),
        kubeconfig,
        moto,
        ns,
    })
}

#[test]
fn e2e_apply_waits_for_a_rollout_that_takes_time() {
    let Some(case) = rollout_case("slow-rollout", "1m", Duration::from_secs(2), false) else {
        return;
    };
    let RolloutCase {
        dir,
        controllers: _controllers,
        vars,
        ..
    } = case;
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply", &apply);
    let waited = apply
        .stdout
        .lines()
        .find(|l| l.starts_with("web: waited") && l.contains("for deployment `web` to roll out"))
        .unwrap_or_else(|| panic!("the wait is reported:\n{}", apply.stdout));
    let seconds: f64 = waited
        .trim_start_matches("web: waited ")
        .split('s')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("a duration in `{waited}`"));
    assert!(seconds >= 1.5, "the rollout took the fake's 2 s: {waited}");
    let web_done = apply.stdout.find("web: created").expect("web created");
    let zone_started = apply.stdout.find("zone: creating").expect("zone created");
    assert!(
        web_done < zone_started,
        "the zone waits for the app:\n{}",
        apply.stdout
    );
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
}

#[test]
fn e2e_a_resource_wait_timeout_bounds_its_rollout_wait() {
    let Some(case) = rollout_case("stuck", "2s", Duration::ZERO, true) else {
        return;
    };
    let RolloutCase {
        dir,
        controllers,
        vars,
        kubeconfig,
        moto,
        ns,
    } = case;
    let started = std::time::Instant::now();
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_eq!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by the resource's 2 s"
    );
    assert!(
        apply.stderr.contains("E0800")
            && apply
                .stderr
                .contains("gave up waiting for deployment `web` to roll out")
            && apply.stderr.contains("on the app to not wait for its rollout"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stdout.contains("zone: skipped (it depends on `web`"),
        "{}",
        apply.stdout
    );
    let (_, _, zones) = aws_inventory(&moto);
    assert!(
        zones.is_empty(),
        "what depends on the app was not created: {zones:?}"
    );
    // Once the rollout can finish, the next apply completes.
    controllers.release(&ns);
    std::fs::write(
        dir.path().join("main.tpt"),
        rollout_config(&kubeconfig, &ns, "1m"),
    )
    .expect("config");
    let again = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply after the rollout", &again);
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
}

#[test]
fn e2e_ctrl_c_lets_running_operations_finish_saves_state_and_exits_130() {
    interrupted_apply("INT", "interrupted");
}

/// SIGTERM, what CI systems send when a job is cancelled or times out, is Ctrl-C.
#[test]
fn e2e_sigterm_is_handled_like_ctrl_c() {
    interrupted_apply("TERM", "terminated");
}

/// An apply sent `signal` while an operation runs: it finishes, nothing new
/// starts, the state is saved, the exit status is 130, and the next apply does the rest.
fn interrupted_apply(signal: &str, ns: &str) {
    let Some(case) = rollout_case(ns, "2m", Duration::ZERO, true) else {
        return;
    };
    let RolloutCase {
        dir,
        controllers,
        vars,
        ns,
        ..
    } = case;
    let mut bg = Background::start(dir.path(), &["apply", ".", "--auto-approve"], &vars, "apply");
    // Interrupt while the app waits for its rollout.
    bg.until("web: creating", false);
    std::thread::sleep(Duration::from_millis(500));
    bg.signal(signal);
    // The running create goes on: let its rollout finish.
    std::thread::sleep(Duration::from_millis(500));
    controllers.release(&ns);
    let done = bg.wait(Duration::from_secs(60));
    let (status, stdout, stderr) = (done.code, done.stdout, done.stderr);
    assert_eq!(status, 130, "{stdout}\n{stderr}");
    assert!(stdout.contains("Interrupted: starting nothing new"), "{stdout}");
    assert!(
        stdout.contains("web: created"),
        "the running create finished:\n{stdout}"
    );
    assert!(
        !stdout.contains("zone: creating"),
        "nothing new started:\n{stdout}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    let state = run(dir.path(), &["state", "list", "--env", "default", "."], &vars);
    let recorded: Vec<&str> = state
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(recorded, ["local", "web"], "{}", state.stdout);
    // The next apply does the rest.
    let again = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply after the interrupt", &again);
    assert!(
        again.stdout.contains("Apply complete: 1 created"),
        "{}",
        again.stdout
    );
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
}

/// Any object as a `k8s.Manifest`: a CRD, an object of the kind it defines
/// (served only once the CRD is Established), a ConfigMap; a change applied in
/// place; destroy removing them all.
fn manifests_config(kubeconfig: &str, ns: &str, mode: &str) -> String {
    format!(
        r#"import std.k8s

resource local: k8s.KubeconfigCluster {{ context = "local", kubeconfig = "{kubeconfig}" }}

resource space: k8s.Namespace {{ cluster = local, name = "{ns}" }}

resource widgets: k8s.Manifest {{
  cluster = local
  manifest = yaml_encode({{
    apiVersion = "apiextensions.k8s.io/v1"
    kind = "CustomResourceDefinition"
    metadata = {{ name = "widgets.e2e.tpt.dev" }}
    spec = {{
      group = "e2e.tpt.dev"
      scope = "Namespaced"
      names = {{ plural = "widgets", singular = "widget", kind = "Widget" }}
      versions = [{{
        name = "v1", served = true, storage = true
        schema = {{ openAPIV3Schema = {{ "type" = "object", "x-kubernetes-preserve-unknown-fields" = true }} }}
      }}]
    }}
  }})
}}

resource w1: k8s.Manifest {{
  cluster = local
  namespace = "{ns}"
  manifest = yaml_encode({{ apiVersion = "e2e.tpt.dev/v1", kind = "Widget", metadata = {{ name = "w1" }}, spec = {{ size = 3 }} }})
  depends_on = [widgets, space]
}}

resource settings: k8s.Manifest {{
  cluster = local
  namespace = "{ns}"
  manifest = yaml_encode({{ apiVersion = "v1", kind = "ConfigMap", metadata = {{ name = "settings" }}, data = {{ mode = "{mode}" }} }})
  depends_on = [space]
}}
"#
    )
}

#[test]
fn e2e_manifests_crds_custom_objects_and_config_maps() {
    let Some(kubeconfig) = kube() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ns = format!("manifests-{}", rand::random_range(0..1_000_000u32));
    std::fs::write(
        dir.path().join("main.tpt"),
        manifests_config(&kubeconfig, &ns, "fast"),
    )
    .expect("config");
    let vars = [("TPT_STATE_KEY", "e2e-test-key".to_string())];
    // A saved plan is applied as it is, without asking.
    let plan = run(dir.path(), &["plan", ".", "--out", "first.plan"], &vars);
    assert_ok("the saved plan", &plan);
    let apply = run(dir.path(), &["apply", "first.plan"], &vars);
    assert_ok("the apply of the saved plan", &apply);
    assert!(
        apply.stdout.contains("Apply complete: 5 created"),
        "{}",
        apply.stdout
    );
    let config_map = kube_get(
        &kubeconfig,
        &format!("/api/v1/namespaces/{ns}/configmaps/settings"),
    )
    .expect("the ConfigMap");
    assert_eq!(config_map["data"]["mode"], "fast");
    let managers: Vec<&str> = config_map["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(managers, ["tpt"], "server-side apply as `tpt`");
    let widget = kube_get(
        &kubeconfig,
        &format!("/apis/e2e.tpt.dev/v1/namespaces/{ns}/widgets/w1"),
    )
    .expect("the Widget");
    assert_eq!(widget["spec"]["size"], 3);

    std::fs::write(
        dir.path().join("main.tpt"),
        manifests_config(&kubeconfig, &ns, "careful"),
    )
    .expect("config");
    let plan = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("~ settings (k8s.Manifest) will be updated in place"),
        "{}",
        plan.stdout
    );
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the second apply", &apply);
    let config_map = kube_get(
        &kubeconfig,
        &format!("/api/v1/namespaces/{ns}/configmaps/settings"),
    )
    .expect("the ConfigMap");
    assert_eq!(config_map["data"]["mode"], "careful");
    // The first plan is stale now: applying it is refused.
    let stale = run(dir.path(), &["apply", "first.plan"], &vars);
    assert_eq!(stale.code, 1, "{}{}", stale.stdout, stale.stderr);
    assert!(stale.stderr.contains("E0704"), "{}", stale.stderr);

    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
    assert!(kube_get(
        &kubeconfig,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.tpt.dev"
    )
    .is_none());
    assert!(kube_get(
        &kubeconfig,
        &format!("/api/v1/namespaces/{ns}/configmaps/settings")
    )
    .is_none());
}

/// The AWS kinds send what the plan says they change (issue: node-group
/// changes, tags, database port recorded but not sent), against moto.
fn kinds_config(instance_type: &str, team: &str, tags: &str, record_zone: &str) -> String {
    format!(
        r#"
import std.aws

resource main: aws.EksCluster {{
  name = "kinds"
  region = "us-east-1"
  zone_count = 2
  role_arn = "arn:aws:iam::123456789012:role/kinds-cluster"
  node_role_arn = "arn:aws:iam::123456789012:role/kinds-node"
  node_groups = [{{ name = "general", instance_type = "{instance_type}", min = 1, max = 3, labels = {{ team = "{team}" }} }}]
  tags = {tags}
}}

resource users: aws.MySql {{
  identifier = "kinds-my"
  region = "us-east-1"
  port = 3307
  tags = {tags}
}}

resource one: aws.HostedZone {{ name = "one.example.com" }}
resource two: aws.HostedZone {{ name = "two.example.com" }}

resource www: aws.DnsRecord {{
  zone = {record_zone}.name
  name = "www.one.example.com"
  type = "A"
  values = ["10.0.0.1"]
}}
"#
    )
}

/// The node groups of cluster `kinds` (name, instance type, labels), its tags,
/// and the database's port and tags.
#[allow(clippy::type_complexity)]
fn kinds_inventory(
    endpoint: &str,
) -> (
    Vec<(String, String, BTreeMap<String, String>)>,
    BTreeMap<String, String>,
    i32,
    BTreeMap<String, String>,
) {
    runtime().block_on(async {
        let conf = moto_config(endpoint, "us-east-1").await;
        let eks = aws_sdk_eks::Client::new(&conf);
        let mut groups = Vec::new();
        let names = eks
            .list_nodegroups()
            .cluster_name("kinds")
            .send()
            .await
            .expect("node groups");
        for n in names.nodegroups() {
            let g = eks
                .describe_nodegroup()
                .cluster_name("kinds")
                .nodegroup_name(n)
                .send()
                .await
                .expect("a node group");
            let g = g.nodegroup().expect("a node group");
            groups.push((
                n.clone(),
                g.instance_types().first().cloned().unwrap_or_default(),
                g.labels()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            ));
        }
        let cluster = eks
            .describe_cluster()
            .name("kinds")
            .send()
            .await
            .expect("the cluster");
        let tags = cluster
            .cluster()
            .and_then(|c| c.tags())
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let rds = aws_sdk_rds::Client::new(&conf);
        let dbs = rds
            .describe_db_instances()
            .db_instance_identifier("kinds-my")
            .send()
            .await
            .expect("the database");
        let db = dbs.db_instances().first().expect("the database").clone();
        let db_tags = db
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        (
            groups,
            tags,
            db.endpoint().and_then(|e| e.port()).unwrap_or_default(),
            db_tags,
        )
    })
}

#[test]
fn e2e_aws_kinds_send_every_change_they_record() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let vars = aws_vars(&moto);
    let write = |text: String| std::fs::write(dir.path().join("main.tpt"), text).expect("config");
    write(kinds_config(
        "m6i.large",
        "a",
        r#"{ owner = "a", cost = "x" }"#,
        "one",
    ));
    assert_ok(
        "the first apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let (groups, tags, port, db_tags) = kinds_inventory(&moto);
    assert_eq!(groups.len(), 1, "{groups:?}");
    let first = groups[0].0.clone();
    assert!(first.starts_with("general-"), "{first}");
    assert_eq!(groups[0].1, "m6i.large");
    assert_eq!(port, 3307, "MySQL listens on the port it was given");
    assert_eq!(tags.get("cost").map(String::as_str), Some("x"));
    assert_eq!(db_tags.get("cost").map(String::as_str), Some("x"));

    // A new instance type and labels, a tag dropped: all of it reaches AWS.
    write(kinds_config("m6i.xlarge", "b", r#"{ owner = "a" }"#, "one"));
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(
        plan.stdout
            .contains("main (aws.EksCluster) will be updated in place"),
        "{}",
        plan.stdout
    );
    assert_ok(
        "the second apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let (groups, tags, _, db_tags) = kinds_inventory(&moto);
    assert_eq!(
        groups.len(),
        1,
        "the old group is deleted after the new one is made: {groups:?}"
    );
    assert_ne!(groups[0].0, first, "another instance type is another group");
    assert_eq!(groups[0].1, "m6i.xlarge");
    assert_eq!(
        groups[0].2,
        BTreeMap::from([("team".to_string(), "b".to_string())])
    );
    assert!(
        !tags.contains_key("cost"),
        "a dropped tag is removed from the cluster: {tags:?}"
    );
    assert!(
        !db_tags.contains_key("cost"),
        "a dropped tag is removed from the database: {db_tags:?}"
    );
    // What was applied reads back as recorded: no change left.
    let again = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    // Only the labels change: in place, same group.
    write(kinds_config("m6i.xlarge", "c", r#"{ owner = "a" }"#, "one"));
    assert_ok(
        "the labels apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let (same, _, _, _) = kinds_inventory(&moto);
    assert_eq!(same[0].0, groups[0].0, "labels change in place");
    assert_eq!(same[0].2.get("team").map(String::as_str), Some("c"));

    // A record moved to another zone is replaced, not updated in place.
    write(kinds_config("m6i.xlarge", "c", r#"{ owner = "a" }"#, "two"));
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(
        plan.stdout.contains("www (aws.DnsRecord) must be replaced")
            && plan.stdout.contains("`zone` forces replacement"),
        "{}",
        plan.stdout
    );
    write(kinds_config("m6i.xlarge", "c", r#"{ owner = "a" }"#, "one"));

    // Destroying a zone alone also destroys the record in it.
    let destroy = run(
        dir.path(),
        &["destroy", ".", "--target", "one", "--auto-approve"],
        &vars,
    );
    assert_ok("the targeted destroy", &destroy);
    assert!(
        destroy
            .stdout
            .contains("www (aws.DnsRecord) will be deleted: it depends on `one`, which is deleted"),
        "{}",
        destroy.stdout
    );
    let state = run(dir.path(), &["state", "list", "--env", "default", "."], &vars);
    let left: Vec<&str> = state
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(left, ["main", "two", "users"], "{}", state.stdout);
    assert_ok(
        "the final destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// A proxy that accepts every connection and never answers: a call through it
/// waits until the caller gives up, so a run is held in the phase that calls.
fn stall_proxy(rt: &tokio::runtime::Runtime) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("proxy port");
    let addr = listener.local_addr().expect("address");
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Ok((client, _)) = listener.accept().await {
            held.push(client);
        }
    });
    format!("http://{addr}")
}

/// `tpt ARGS` running in the background in `dir`, its stdout and stderr in files.
struct Background {
    child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    fn start(dir: &Path, args: &[&str], vars: &[(&str, String)], name: &str) -> Background {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_tpt"))
            .args(args)
            .current_dir(dir)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("tpt starts");
        Background { child, out, err }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits (up to a minute) until its stdout, or stderr with `on_stderr`, shows `text`.
    fn until(&mut self, text: &str, on_stderr: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let shown = if on_stderr { self.stderr() } else { self.stdout() };
            if shown.contains(text) {
                return;
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!(
                    "tpt ended ({s}) before `{text}`:\n{}\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(std::time::Instant::now() < deadline, "`{text}` never came");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`INT`, `TERM`).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// Its exit status, once it ends within `limit` (killed and failed otherwise).
    fn wait(&mut self, limit: Duration) -> Output {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tpt ran longer than {limit:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

/// `tpt ARGS` in `dir`, sent `signal` once its stderr shows `phase`; it must
/// end within 20 s of the signal.
fn signalled_run(dir: &Path, args: &[&str], vars: &[(&str, String)], phase: &str, signal: &str) -> Output {
    let mut bg = Background::start(dir, args, vars, "signalled");
    bg.until(phase, true);
    // Held in the phase: the proxy never answers.
    std::thread::sleep(Duration::from_millis(300));
    bg.signal(signal);
    bg.wait(Duration::from_secs(20))
}

/// Ctrl-C and SIGTERM stop every phase before the walk — waiting for the
/// lock, looking up an interrupted create, refresh, data lookups — at once:
/// exit 130, the state as it was (the intent kept), the lock released.
#[test]
fn e2e_signals_stop_every_phase_before_the_walk() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let rt = runtime();
    let stall = stall_proxy(&rt);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = r#"
import std.aws

resource zone: aws.HostedZone { name = "phases.example.com" }
"#;
    std::fs::write(dir.path().join("main.tpt"), config).expect("config");
    let vars = aws_vars(&moto);
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let stalled = aws_vars(&stall);
    let state_file = dir.path().join(".tpt/state/default.json");
    let recorded = std::fs::read_to_string(&state_file).expect("state");
    // The lock is free and the state as it was: a plan against moto runs.
    let after = |what: &str| {
        let plan = run(dir.path(), &["plan", ".", "--refresh=false"], &vars);
        assert_ok(&format!("a plan after {what}"), &plan);
    };
    for signal in ["INT", "TERM"] {
        // Refresh, in plan and in apply.
        for verb in ["plan", "apply"] {
            let args = [verb, ".", "--auto-approve"];
            let args = if verb == "plan" { &args[..2] } else { &args[..] };
            let Output {
                code, stderr: err, ..
            } = signalled_run(dir.path(), args, &stalled, "refreshing 1 resource", signal);
            assert_eq!(code, 130, "{verb}, SIG{signal} in refresh:\n{err}");
            assert!(err.contains("interrupted: "), "{err}");
            after(&format!("SIG{signal} in {verb}'s refresh"));
            assert_eq!(std::fs::read_to_string(&state_file).expect("state"), recorded);
        }
        // Waiting for the lock another run holds (held in its refresh).
        let mut holder = Background::start(dir.path(), &["plan", "."], &stalled, "holder");
        holder.until("refreshing 1 resource", true);
        let mut waiter = Background::start(
            dir.path(),
            &["plan", ".", "--lock-timeout", "1m"],
            &vars,
            "waiter",
        );
        waiter.until("for the state lock of `default`, held by", true);
        waiter.signal(signal);
        let waited = waiter.wait(Duration::from_secs(20));
        assert_eq!(
            waited.code, 130,
            "SIG{signal} while waiting for the lock:\n{}",
            waited.stderr
        );
        holder.signal(signal);
        assert_eq!(holder.wait(Duration::from_secs(20)).code, 130);
        after(&format!("SIG{signal} while waiting for the lock"));
        // A data lookup.
        std::fs::write(
            dir.path().join("main.tpt"),
            format!("{config}\nresource found: aws.ExistingHostedZone {{ name = \"phases.example.com\" }}\n"),
        )
        .expect("config");
        let Output {
            code, stderr: err, ..
        } = signalled_run(
            dir.path(),
            &["plan", ".", "--refresh=false"],
            &stalled,
            "reading 1 data lookup",
            signal,
        );
        assert_eq!(code, 130, "SIG{signal} in a data lookup:\n{err}");
        std::fs::write(dir.path().join("main.tpt"), config).expect("config");
        after(&format!("SIG{signal} in a data lookup"));
        // Looking up a create an interrupted apply left unconfirmed.
        let mut doc: serde_json::Value = serde_json::from_str(&recorded).expect("state JSON");
        doc["intents"] = serde_json::json!({
            "late": {
                "type": "aws.HostedZone",
                "inputs": { "name": "late.example.com", "private": false, "vpc_ids": [], "comment": null },
                "depends_on": [],
                "started": "2026-01-01T00:00:00Z",
            }
        });
        let with_intent = serde_json::to_string_pretty(&doc).expect("JSON");
        std::fs::write(&state_file, &with_intent).expect("state with an intent");
        let Output {
            code, stderr: err, ..
        } = signalled_run(
            dir.path(),
            &["apply", ".", "--auto-approve"],
            &stalled,
            "looking up 1 create",
            signal,
        );
        assert_eq!(code, 130, "SIG{signal} while looking up:\n{err}");
        after(&format!("SIG{signal} while looking up"));
        let kept: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state")).expect("JSON");
        assert!(kept["intents"]["late"].is_object(), "the intent is kept: {kept}");
        std::fs::write(&state_file, &recorded).expect("state restored");
    }
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// The README's walkthrough "apply it for real without a cloud account", run as
/// written — its commands, against the servers CI started in place of the ones it
/// starts, its `cargo run --` as the built binary, each bounded to a minute — so
/// that the README cannot promise what does not work.
#[test]
fn e2e_readme_local_walkthrough_runs_as_written() {
    let Some(moto) = moto() else { return };
    let Some(kubeconfig) = kube() else { return };
    let Some(helm) = charts::helm() else { return };
    reset_moto(&moto);
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split_once("To apply it for real without a cloud account")
        .map(|(_, rest)| rest)
        .expect("the README has the local walkthrough");
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("a sh block");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shop = dir.path().join("shop");
    let tpt = env!("CARGO_BIN_EXE_tpt");
    // The servers are CI's: the lines that install and start them are left out.
    let mut script = String::from("set -euo pipefail\n");
    let mut started = 0;
    for line in block.lines() {
        if line.contains("tests/targets/") {
            started += 1;
            continue;
        }
        script.push_str(
            &line
                .replace("http://127.0.0.1:5555", &moto)
                .replace("http://127.0.0.1:8879", &mirror())
                .replace("/opt/helm-3.17.2/helm", &helm.display().to_string())
                .replace("/tmp/kube-dev/kubeconfig", &kubeconfig)
                .replace("/tmp/shop", &shop.display().to_string())
                .replace("cargo run --", &format!("timeout 60 {tpt}")),
        );
        script.push('\n');
    }
    assert_eq!(
        started, 5,
        "the walkthrough installs and starts the servers:\n{block}"
    );
    assert!(script.contains(" apply ") && script.contains(" plan ") && script.contains(" destroy "));
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(repo_root())
        .env("TPT_STATE_KEY", "readme-test-key")
        .output()
        .expect("bash runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the README's walkthrough failed ({}):\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("Apply complete: 7 created"), "{stdout}");
    assert!(
        stdout.contains("No changes: `local` matches the configuration."),
        "{stdout}"
    );
    assert!(stdout.contains("Note: `main` has no load balancers"), "{stdout}");
    assert!(stdout.contains("7 deleted"), "{stdout}");
}

/// `TPT_LOG=debug` with `--log-file`: every API call of an apply is logged with
/// its service, operation, resource, duration, attempt and outcome, and every
/// poll of a wait; no secret value is in the log.
#[test]
fn e2e_debug_log_shows_every_call_and_no_secret() {
    let Some(moto) = moto() else { return };
    let Some(kubeconfig) = kube() else { return };
    let Some(_) = charts::helm() else { return };
    reset_moto(&moto);
    let dir = shop_with(
        "local",
        "environment local extends dev {\n  main { load_balancers = false, runs_pods = false }\n  shop_dns { values = [\"localhost\"] }\n}\n",
    );
    let log = dir.path().join("tpt.log");
    let mut vars = aws_vars(&moto);
    vars.push(("TPT_EKS_KUBECONFIG", kubeconfig.clone()));
    vars.push(("TPT_LOG", "debug".into()));
    let log_arg = log.display().to_string();
    let apply = run(
        dir.path(),
        &[
            "apply",
            ".",
            "--env",
            "local",
            "--auto-approve",
            "--log-file",
            &log_arg,
        ],
        &vars,
    );
    assert_ok("the apply", &apply);
    assert!(
        !apply.stderr.contains("call ok"),
        "the log goes to the file, not stderr:\n{}",
        apply.stderr
    );
    let text = std::fs::read_to_string(&log).expect("the log");
    for expected in [
        "service=\"eks\" operation=\"CreateCluster\"",
        "service=\"rds\" operation=\"CreateDBInstance\"",
        "service=\"route53\" operation=\"CreateHostedZone\"",
        "service=\"kubernetes\" operation=\"apply Deployment `shop`\"",
        "resource=orders",
        "attempt=1",
        "ms=",
        "call ok",
        "wait=\"cluster `",
        "poll",
    ] {
        assert!(text.contains(expected), "no `{expected}` in the log:\n{text}");
    }
    // The secrets the apply handled: the database's generated password, and
    // the connection URL built from it, as the app's Secret holds them.
    let secret = kube_get(&kubeconfig, "/api/v1/namespaces/shop/secrets/shop-env").expect("the app's Secret");
    let mut values = Vec::new();
    for key in ["PGPASSWORD", "DATABASE_URL"] {
        let encoded = secret["data"][key].as_str().expect("a secret value");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).expect("base64");
        values.push(String::from_utf8(bytes).expect("UTF-8"));
    }
    for v in &values {
        assert!(v.len() >= 16, "a real secret: {}", v.len());
        assert!(!text.contains(v.as_str()), "a secret value is in the debug log");
    }
    vars.retain(|(k, _)| *k != "TPT_LOG");
    let destroy = run(
        dir.path(),
        &["destroy", ".", "--env", "local", "--auto-approve"],
        &vars,
    );
    assert_ok("the destroy", &destroy);
}

/// `tpt ARGS` in `dir`, killed and failed if it runs longer than `limit`.
fn run_within(dir: &Path, args: &[&str], vars: &[(&str, String)], limit: Duration) -> Output {
    Background::start(dir, args, vars, "bounded").wait(limit)
}

/// An apply stopped hard (Ctrl-C twice) while an app waits for its rollout
/// leaves the create's intent; the destroy that follows looks the app up
/// without waiting for it, says so, deletes it, and leaves no lock. An apply
/// instead finishes it, waiting as an apply does.
#[test]
fn e2e_after_a_hard_interrupt_destroy_and_apply_never_wait_to_reconcile() {
    let Some(case) = rollout_case("unfinished", "2m", Duration::ZERO, true) else {
        return;
    };
    let RolloutCase {
        dir,
        controllers,
        vars,
        ns,
        ..
    } = case;
    let interrupt = |what: &str| {
        let mut bg = Background::start(dir.path(), &["apply", ".", "--auto-approve"], &vars, what);
        bg.until("web: creating", false);
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..2 {
            bg.signal("INT");
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(bg.wait(Duration::from_secs(60)).code, 130);
    };
    let state_file = dir.path().join(".tpt/state/default.json");
    let intents = || -> serde_json::Value {
        let text = std::fs::read_to_string(&state_file).expect("state");
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["intents"].clone()
    };
    interrupt("first");
    assert!(
        intents()["web"].is_object(),
        "the create's intent is kept: {}",
        intents()
    );

    // The rollout still cannot finish (held): destroy does not wait for it.
    let destroy = run_within(
        dir.path(),
        &["destroy", ".", "--auto-approve"],
        &vars,
        Duration::from_secs(60),
    );
    assert_ok("the destroy after the interrupt", &destroy);
    assert!(
        destroy.stderr.contains("looking up 1 create"),
        "{}",
        destroy.stderr
    );
    assert!(
        destroy.stdout.contains("web (k8s.App) will be deleted"),
        "{}",
        destroy.stdout
    );
    let plan = run(dir.path(), &["plan", ".", "--refresh=false"], &vars);
    assert_ok("a plan after the destroy (no lock is left)", &plan);

    // Again, and this time an apply finishes what was left unfinished.
    interrupt("second");
    controllers.release(&ns);
    let apply = run_within(
        dir.path(),
        &["apply", ".", "--auto-approve"],
        &vars,
        Duration::from_secs(60),
    );
    assert_ok("the apply after the interrupt", &apply);
    assert!(
        apply
            .stdout
            .contains("web (k8s.App) will be updated in place: an interrupted apply left it unfinished"),
        "{}",
        apply.stdout
    );
    let again = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_ok(
        "the final destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// `aws.Secret` against moto: the value reaches Secrets Manager and nowhere
/// else — not the plan (text or JSON), the state, nor a debug log — and a value
/// changed by hand is drift that does not show either.
#[test]
fn e2e_a_secrets_manager_secret_never_shows_its_value() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let value = format!("s3cr3t-{}", rand::random_range(100_000_000..999_999_999u64));
    let by_hand = format!("h4nd-{}", rand::random_range(100_000_000..999_999_999u64));
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        "import std.aws\n\nresource key: aws.Secret {\n  name = \"shop/api-key\"\n  value = secret_env(\"SHOP_API_KEY\")\n  recovery_days = 0\n}\n",
    )
    .expect("config");
    let mut vars = aws_vars(&moto);
    vars.push(("SHOP_API_KEY", value.clone()));
    vars.push(("TPT_LOG", "trace".into()));
    let log = dir.path().join("tpt.log").display().to_string();
    let plan = run(dir.path(), &["plan", ".", "--log-file", &log], &vars);
    let json = run(dir.path(), &["plan", ".", "--json"], &vars);
    let apply = run(
        dir.path(),
        &["apply", ".", "--auto-approve", "--log-file", &log],
        &vars,
    );
    assert_ok("the apply", &apply);
    let stored = runtime().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&moto_config(&moto, "us-east-1").await);
        let got = sm
            .get_secret_value()
            .secret_id("shop/api-key")
            .send()
            .await
            .expect("the secret");
        let held = got.secret_string().unwrap_or_default().to_string();
        sm.put_secret_value()
            .secret_id("shop/api-key")
            .secret_string(&by_hand)
            .send()
            .await
            .expect("a change by hand");
        held
    });
    assert_eq!(stored, value, "Secrets Manager holds the value");
    let drift = run(dir.path(), &["plan", ".", "--log-file", &log], &vars);
    assert!(
        drift.stdout.contains("value"),
        "the change by hand is drift:\n{}",
        drift.stdout
    );
    let state = std::fs::read_to_string(dir.path().join(".tpt/state/default.json")).expect("state");
    let logged = std::fs::read_to_string(dir.path().join("tpt.log")).expect("the log");
    assert!(logged.contains("secretsmanager"), "the log has the calls");
    for (what, text) in [
        ("the plan", plan.stdout + &plan.stderr),
        ("the JSON plan", json.stdout),
        ("the apply", apply.stdout + &apply.stderr),
        ("the drift plan", drift.stdout + &drift.stderr),
        ("the state", state),
        ("the trace log", logged),
    ] {
        assert!(!text.contains(&value), "the secret's value is in {what}");
        assert!(!text.contains(&by_hand), "the value set by hand is in {what}");
    }
    vars.retain(|(k, _)| *k != "TPT_LOG");
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// `aws.Bucket` against moto: made private, encrypted, versioned and aged
/// as written; a bucket holding objects is not deleted until `force_destroy`
/// says so (the destroy fails and says how), then every version goes with it.
#[test]
fn e2e_an_s3_bucket_is_private_and_keeps_its_objects_unless_told() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = |force: bool| {
        format!(
            "import std.aws\n\nresource media: aws.Bucket {{\n  name = \"shop-media\"\n  region = \"eu-west-1\"\n  versioning = true\n  lifecycle_rules = [{{ id = \"tmp\", prefix = \"tmp/\", expire_days = 7 }}]\n  tags = {{ team = \"shop\" }}\n  force_destroy = {force}\n}}\n"
        )
    };
    std::fs::write(dir.path().join("main.tpt"), config(false)).expect("config");
    let vars = aws_vars(&moto);
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let rt = runtime();
    let s3 = rt.block_on(async {
        let conf = moto_config(&moto, "eu-west-1").await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    });
    rt.block_on(async {
        let block = s3
            .get_public_access_block()
            .bucket("shop-media")
            .send()
            .await
            .expect("the public access block");
        let c = block.public_access_block_configuration().expect("a block");
        assert_eq!(
            (
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true)),
            "every form of public access is blocked"
        );
        let versioning = s3
            .get_bucket_versioning()
            .bucket("shop-media")
            .send()
            .await
            .expect("versioning");
        assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
        let rules = s3
            .get_bucket_lifecycle_configuration()
            .bucket("shop-media")
            .send()
            .await
            .expect("the lifecycle rules");
        assert_eq!(rules.rules().len(), 1);
        let sse = s3
            .get_bucket_encryption()
            .bucket("shop-media")
            .send()
            .await
            .expect("the encryption");
        let algorithm = sse
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string());
        assert_eq!(algorithm.as_deref(), Some("AES256"));
        for body in ["one", "two"] {
            s3.put_object()
                .bucket("shop-media")
                .key("tmp/a.txt")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(body.as_bytes()))
                .send()
                .await
                .expect("an object");
        }
    });
    let plan = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 0, "nothing to change:\n{}{}", plan.stdout, plan.stderr);
    let kept = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ne!(kept.code, 0, "a bucket with objects is kept");
    assert!(
        kept.stderr.contains("force_destroy = true") && kept.stderr.contains("still holds objects"),
        "the destroy says why and how:\n{}",
        kept.stderr
    );
    std::fs::write(dir.path().join("main.tpt"), config(true)).expect("config");
    assert_ok(
        "the apply of force_destroy",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
    let left = rt.block_on(async { s3.list_buckets().send().await.expect("the buckets") });
    assert!(left.buckets().is_empty(), "nothing is left: {:?}", left.buckets());

    // A bucket of the name made by hand is not taken over.
    rt.block_on(async {
        s3.create_bucket()
            .bucket("shop-media")
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .expect("a bucket made by hand");
    });
    let taken = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ne!(taken.code, 0, "{}", taken.stdout);
    assert!(
        taken.stderr.contains("already exists in this account"),
        "{}",
        taken.stderr
    );
    rt.block_on(async {
        s3.delete_bucket()
            .bucket("shop-media")
            .send()
            .await
            .expect("the bucket made by hand, deleted");
    });
}

/// Identity on EKS, against moto and the API server standing in for the
/// cluster's: without roles given, tpt makes the cluster's and the nodes'; the
/// cluster gets its OIDC provider; external-dns, external-secrets and
/// cert-manager (dns01) each get a role only their service account can
/// assume, with a policy limited to what they were given, named on the
/// account; a change of what they are given, or of the policy by hand, shows
/// in the plan; destroy leaves no role and no provider.
#[test]
fn e2e_services_on_eks_get_least_privilege_roles() {
    let (Some(moto), Some(kubeconfig), Some(_)) = (moto(), kube(), charts::helm()) else {
        return;
    };
    reset_moto(&moto);
    let url = mirror();
    let config = |zones: &str| {
        format!(
            r#"import std.aws
import std.k8s

resource main: aws.EksCluster {{
  region = "us-east-1"
  node_groups = [{{ name = "default", min = 1, max = 2 }}]
  load_balancers = false
  runs_pods = false
}}

resource dns: k8s.ExternalDns {{
  cluster = main
  zones = {zones}
  repo = "{url}"
}}

resource vault: k8s.ExternalSecrets {{
  cluster = main
  region = "us-east-1"
  secrets = ["shop/*"]
  repo = "{url}"
}}

resource certs: k8s.CertManager {{
  cluster = main
  admin_email = "ops@acme.dev"
  dns01 = true
  repo = "{url}"
  extra_values = "startupapicheck:\n  enabled: false"
}}
"#
        )
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    std::fs::write(d.join("main.tpt"), config(r#"["acme.dev"]"#)).expect("config");
    let mut vars = aws_vars(&moto);
    vars.push(("TPT_EKS_KUBECONFIG", kubeconfig.clone()));
    assert_ok("the apply", &run(d, &["apply", ".", "--auto-approve"], &vars));

    let rt = runtime();
    let iam = rt.block_on(async { aws_sdk_iam::Client::new(&moto_config(&moto, "us-east-1").await) });
    let roles = || -> Vec<String> {
        rt.block_on(async {
            let out = iam.list_roles().send().await.expect("the roles");
            let mut names: Vec<String> = out.roles().iter().map(|r| r.role_name().to_string()).collect();
            names.sort();
            names
        })
    };
    let policy = |role: &str| -> serde_json::Value {
        rt.block_on(async {
            let out = iam
                .get_role_policy()
                .role_name(role)
                .policy_name("tpt")
                .send()
                .await
                .expect("the role's policy");
            let text = out.policy_document();
            let text = percent_decode(text);
            serde_json::from_str(&text).expect("a policy document")
        })
    };
    assert_eq!(
        roles(),
        [
            "main-us-east-1-cert-manager",
            "main-us-east-1-cluster",
            "main-us-east-1-external-dns",
            "main-us-east-1-external-secrets",
            "main-us-east-1-node",
        ]
    );
    assert_eq!(
        cluster_role(&moto, "us-east-1", "main"),
        "arn:aws:iam::123456789012:role/main-us-east-1-cluster",
        "the cluster acts as the role tpt made"
    );
    let (providers, trust, attached) = rt.block_on(async {
        let providers = iam
            .list_open_id_connect_providers()
            .send()
            .await
            .expect("the OIDC providers");
        let role = iam
            .get_role()
            .role_name("main-us-east-1-external-dns")
            .send()
            .await
            .expect("the role");
        let trust = percent_decode(
            role.role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default(),
        );
        let attached = iam
            .list_attached_role_policies()
            .role_name("main-us-east-1-cluster")
            .send()
            .await
            .expect("the cluster role's policies");
        (
            providers
                .open_id_connect_provider_list()
                .iter()
                .filter_map(|p| p.arn().map(str::to_string))
                .collect::<Vec<_>>(),
            trust,
            attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_string))
                .collect::<Vec<_>>(),
        )
    });
    assert_eq!(providers.len(), 1, "{providers:?}");
    assert_eq!(attached, ["AmazonEKSClusterPolicy"]);
    assert!(
        trust.contains("system:serviceaccount:external-dns:external-dns") && trust.contains(&providers[0]),
        "only external-dns's service account may assume its role, through the cluster's provider: {trust}"
    );
    let dns_policy = policy("main-us-east-1-external-dns").to_string();
    assert!(
        dns_policy.contains("*.acme.dev") && dns_policy.contains("ChangeResourceRecordSets"),
        "{dns_policy}"
    );
    let secrets_policy = policy("main-us-east-1-external-secrets").to_string();
    assert!(
        secrets_policy.contains("arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/*"),
        "{secrets_policy}"
    );
    for (ns, name, role) in [
        ("external-dns", "external-dns", "main-us-east-1-external-dns"),
        (
            "external-secrets",
            "external-secrets",
            "main-us-east-1-external-secrets",
        ),
        ("cert-manager", "cert-manager", "main-us-east-1-cert-manager"),
    ] {
        let sa = kube_get(
            &kubeconfig,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}"),
        )
        .unwrap_or_else(|| panic!("the service account {ns}/{name}"));
        assert_eq!(
            sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            format!("arn:aws:iam::123456789012:role/{role}"),
            "{ns}/{name} names its role"
        );
    }

    // A policy widened by hand is drift, and put right.
    rt.block_on(async {
        iam.put_role_policy()
            .role_name("main-us-east-1-external-dns")
            .policy_name("tpt")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"route53:*","Resource":"*"}]}"#)
            .send()
            .await
            .expect("a change by hand");
    });
    let drift = run(d, &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(drift.code, 2, "{}{}", drift.stdout, drift.stderr);
    assert!(
        drift
            .stdout
            .contains("dns (k8s.ExternalDns) was changed outside tpt")
            && drift.stdout.contains("aws_role"),
        "{}",
        drift.stdout
    );
    // Another zone: the plan shows the policy's change.
    std::fs::write(d.join("main.tpt"), config(r#"["acme.dev", "shop.dev"]"#)).expect("config");
    let plan = run(d, &["plan", "."], &vars);
    assert!(plan.stdout.contains("*.shop.dev"), "{}", plan.stdout);
    assert_ok(
        "the apply of a zone",
        &run(d, &["apply", ".", "--auto-approve"], &vars),
    );
    let dns_policy = policy("main-us-east-1-external-dns").to_string();
    assert!(
        dns_policy.contains("*.shop.dev") && !dns_policy.contains("route53:*"),
        "{dns_policy}"
    );
    let plan = run(d, &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    assert_ok("the destroy", &run(d, &["destroy", ".", "--auto-approve"], &vars));
    assert_eq!(roles(), Vec::<String>::new(), "no role is left");
    let providers = rt.block_on(async {
        iam.list_open_id_connect_providers()
            .send()
            .await
            .expect("the OIDC providers")
            .open_id_connect_provider_list()
            .len()
    });
    assert_eq!(providers, 0, "no OIDC provider is left");

    // A role of the name tpt would give the cluster's, made by someone else, is
    // never taken over: the apply stops before the cluster, and the role stays.
    rt.block_on(async {
        iam.create_role()
            .role_name("main-us-east-1-cluster")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .expect("a role made by hand");
    });
    let taken = run(d, &["apply", ".", "--auto-approve"], &vars);
    assert_ne!(taken.code, 0, "{}", taken.stdout);
    assert!(
        taken.stderr.contains("tpt did not make"),
        "the apply says whose the role is:\n{}",
        taken.stderr
    );
    assert_ok("the destroy", &run(d, &["destroy", ".", "--auto-approve"], &vars));
    assert_eq!(roles(), ["main-us-east-1-cluster"], "the role made by hand stays");
}

/// A policy document as IAM returns it: URL-encoded.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `k8s.Gateway` on the API server: one with a domain (an Ingress for the
/// host, of the controller's class, its certificate from cert-manager's
/// issuer), one without (an Ingress for any host, at the controller's load
/// balancer) with a TCP port (a LoadBalancer Service selecting the app's
/// pods); outputs say where; a TCP port removed is pruned; destroy leaves nothing.
#[test]
fn e2e_gateways_expose_a_service_with_and_without_a_domain() {
    let (Some(kubeconfig), Some(_)) = (kube(), charts::helm()) else {
        return;
    };
    let _controllers = FakeControllers::start(&kubeconfig, Duration::from_millis(100));
    let url = mirror();
    let config = |tcp: &str, class: &str| {
        format!(
            r#"import std.k8s

resource local: k8s.KubeconfigCluster {{
  context = "local"
  kubeconfig = "{kubeconfig}"
  runs_pods = false
}}

resource ingress: k8s.IngressController {{
  cluster = local
  class_name = "{class}"
  repo = "{url}"
}}

resource certs: k8s.CertManager {{
  cluster = local
  admin_email = "ops@acme.dev"
  issuer_name = "le"
  repo = "{url}"
  extra_values = "startupapicheck:\n  enabled: false"
}}

resource web: k8s.App {{
  cluster = local
  namespace = "gw-e2e"
  image = "nginx:1.27"
  port = 8080
  wait = false
}}

resource public: k8s.Gateway {{
  cluster = local
  namespace = "gw-e2e"
  service = web.service_name
  service_port = 8080
  domain = "acme.dev"
  subdomain = "shop"
  controller = ingress
  certificates = certs
}}

resource open: k8s.Gateway {{
  cluster = local
  namespace = "gw-e2e"
  service = web.service_name
  service_port = 8080
  paths = ["/admin"]
  tls = false
  tcp_ports = {tcp}
  controller = ingress
}}
"#
        )
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    std::fs::write(
        d.join("main.tpt"),
        config("[{ port = 5432, target_port = 8080 }]", "edge"),
    )
    .expect("config");
    assert_ok("the apply", &run(d, &["apply", ".", "--auto-approve"], &[]));

    let public = kube_get(
        &kubeconfig,
        "/apis/networking.k8s.io/v1/namespaces/gw-e2e/ingresses/public",
    )
    .expect("the public gateway's Ingress");
    assert_eq!(public["spec"]["ingressClassName"], "edge");
    assert_eq!(public["spec"]["rules"][0]["host"], "shop.acme.dev");
    assert_eq!(public["spec"]["tls"][0]["secretName"], "public-tls");
    assert_eq!(
        public["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "le"
    );
    let open = kube_get(
        &kubeconfig,
        "/apis/networking.k8s.io/v1/namespaces/gw-e2e/ingresses/open",
    )
    .expect("the open gateway's Ingress");
    assert!(open["spec"]["rules"][0].get("host").is_none(), "{open}");
    assert_eq!(open["spec"]["rules"][0]["http"]["paths"][0]["path"], "/admin");
    let tcp = kube_get(&kubeconfig, "/api/v1/namespaces/gw-e2e/services/open-tcp").expect("the TCP Service");
    let app = kube_get(&kubeconfig, "/api/v1/namespaces/gw-e2e/services/web").expect("the app's Service");
    assert_eq!(tcp["spec"]["type"], "LoadBalancer");
    assert_eq!(
        tcp["spec"]["selector"], app["spec"]["selector"],
        "it selects the app's pods"
    );
    assert_eq!(tcp["spec"]["ports"][0]["port"], 5432);
    assert_eq!(tcp["spec"]["ports"][0]["targetPort"], 8080);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".tpt/state/default.json")).expect("state"))
            .expect("state JSON");
    let outputs = |r: &str| state["resources"][r]["outputs"].clone();
    assert_eq!(outputs("public")["url"], "https://shop.acme.dev/");
    assert_eq!(outputs("open")["hostname"], "ingress.elb.example.com");
    assert_eq!(outputs("open")["url"], "http://ingress.elb.example.com/admin");

    // The TCP port dropped: the plan names the object going, apply prunes it;
    // the controller's class changed: the same plan shows the gateways' Ingresses follow.
    std::fs::write(d.join("main.tpt"), config("[]", "edge2")).expect("config");
    let plan = run(d, &["plan", "."], &[]);
    assert!(
        plan.stdout.contains("- Service gw-e2e/open-tcp"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(r#"~ Ingress gw-e2e/public: spec.ingressClassName: "edge" → "edge2""#),
        "{}",
        plan.stdout
    );
    assert_ok("the apply", &run(d, &["apply", ".", "--auto-approve"], &[]));
    assert!(kube_get(&kubeconfig, "/api/v1/namespaces/gw-e2e/services/open-tcp").is_none());
    let open = kube_get(
        &kubeconfig,
        "/apis/networking.k8s.io/v1/namespaces/gw-e2e/ingresses/open",
    )
    .expect("the open gateway's Ingress");
    assert_eq!(open["spec"]["ingressClassName"], "edge2");
    let plan = run(d, &["plan", ".", "--detailed-exitcode"], &[]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    assert_ok("the destroy", &run(d, &["destroy", ".", "--auto-approve"], &[]));
    for path in [
        "/apis/networking.k8s.io/v1/namespaces/gw-e2e/ingresses/public",
        "/apis/networking.k8s.io/v1/namespaces/gw-e2e/ingresses/open",
    ] {
        assert!(kube_get(&kubeconfig, path).is_none(), "{path} is left behind");
    }
}

/// An interrupted create of an object whose kind the cluster does not serve
/// (its CRD never made it) is looked up once, found missing, and dropped: the
/// next command does not retry discovery for it.
#[test]
fn e2e_an_intent_for_a_kind_not_served_is_dropped_at_once() {
    let Some(kubeconfig) = kube() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        format!("import std.k8s\n\nresource local: k8s.KubeconfigCluster {{ context = \"local\", kubeconfig = \"{kubeconfig}\" }}\n"),
    )
    .expect("config");
    let vars = vec![("TPT_STATE_KEY", "e2e-test-key".to_string())];
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let state_file = dir.path().join(".tpt/state/default.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state")).expect("JSON");
    doc["intents"] = serde_json::json!({
        "widget": {
            "type": "k8s.Manifest",
            "inputs": {
                "cluster": { "$resource": "local" },
                "namespace": "default",
                "manifest": "apiVersion: widgets.example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
                "wait": false,
                "wait_timeout": null
            },
            "depends_on": ["local"],
            "started": "2026-01-01T00:00:00Z",
        }
    });
    std::fs::write(&state_file, serde_json::to_string_pretty(&doc).expect("JSON")).expect("state");
    let destroy = run_within(
        dir.path(),
        &["destroy", ".", "--auto-approve"],
        &vars,
        Duration::from_secs(20),
    );
    assert_ok("the destroy", &destroy);
    assert!(
        destroy.stderr.contains("looking up 1 create"),
        "{}",
        destroy.stderr
    );
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state")).expect("JSON");
    assert!(
        kept["intents"]["widget"].is_null(),
        "the intent is dropped: {kept}"
    );
}

/// The zones moto holds: name → (ID, records as `name type ttl`).
fn zones_with_records(endpoint: &str) -> BTreeMap<String, (String, Vec<String>)> {
    runtime().block_on(async {
        let r53 = aws_sdk_route53::Client::new(&moto_config(endpoint, "us-east-1").await);
        let mut out = BTreeMap::new();
        let zones = r53.list_hosted_zones().send().await.expect("list zones");
        for z in zones.hosted_zones() {
            let id = z.id().trim_start_matches("/hostedzone/").to_string();
            let sets = r53
                .list_resource_record_sets()
                .hosted_zone_id(&id)
                .send()
                .await
                .expect("list records");
            let records = sets
                .resource_record_sets()
                .iter()
                .filter(|r| r.r#type().as_str() == "CNAME")
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.name(),
                        r.r#type().as_str(),
                        r.ttl().unwrap_or_default()
                    )
                })
                .collect();
            out.insert(z.name().to_string(), (id, records));
        }
        out
    })
}

const SITE_COMPONENT: &str = r#"
import std.aws

/// A site: its zone and a `www` record.
component Site {
  param domain: aws.Domain
  param target: string = "lb.example.net"

  resource zone: aws.HostedZone { name = domain }

  resource www: aws.DnsRecord {
    zone = zone.name
    name = "www.${domain}"
    type = "CNAME"
    values = [target]
  }

  output zone_id: string = zone.zone_id
  output www: string = www.fqdn
}
"#;

/// Components through the whole workflow against moto: a recorded resource
/// moved into an instance (not re-created), two instances with their own
/// inputs, an environment's overlay of one field of one resource of one
/// instance, the root outputs shown after apply and by `tpt output` (a secret
/// only by name, with `--show-secret`, and never in the state), and destroy.
#[test]
fn e2e_components_apply_move_overlay_and_record_outputs() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let token = format!("t0k3n-{}", rand::random_range(100_000_000..999_999_999u64));
    let mut vars = aws_vars(&moto);
    vars.push(("SITE_TOKEN", token.clone()));
    let envs = "environment dev {}\n";
    // Before: the shop's zone is a resource of the root.
    std::fs::write(
        dir.path().join("main.tpt"),
        format!(
            "import std.aws\n\nresource zone: aws.HostedZone {{ name = \"shop.example.com\" }}\n\n{envs}"
        ),
    )
    .expect("config");
    assert_ok(
        "the first apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "dev", "--auto-approve"],
            &vars,
        ),
    );
    let before = zones_with_records(&moto);
    let shop_id = before["shop.example.com."].0.clone();
    // After: two instances of `Site`; the zone moves into the shop's.
    std::fs::create_dir_all(dir.path().join("lib")).expect("lib");
    std::fs::write(dir.path().join("lib/site.tpt"), SITE_COMPONENT).expect("component");
    let main = r#"import "./lib/site.tpt" as site

param tld: string

resource shop: site.Site { domain = "shop.${tld}" }

resource blog: site.Site { domain = "blog.${tld}", target = "blog.example.net" }

moved { from = zone, to = shop.zone }

output shop_zone: string = shop.zone_id
output blog_www: string = blog.www
output token: secret = secret_env("SITE_TOKEN")

environment dev { tld = "example.com" }

environment prod {
  tld = "example.org"
  blog.www { ttl = 120 }
}
"#;
    std::fs::write(dir.path().join("main.tpt"), main).expect("config");
    let plan = run(dir.path(), &["plan", ".", "--env", "dev"], &vars);
    assert_ok("the plan", &plan);
    for line in [
        "> shop.zone (aws.HostedZone) keeps its object (moved from `zone`)",
        "+ shop.www (aws.DnsRecord) will be created",
        "+ blog.zone (aws.HostedZone) will be created",
        "+ blog.www (aws.DnsRecord) will be created",
        "Changes to outputs:",
        "+ shop_zone = ",
        "+ token = (sensitive)",
        "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete. 1 moved.",
    ] {
        assert!(
            plan.stdout.contains(line),
            "`{line}` is in the plan:\n{}",
            plan.stdout
        );
    }
    let apply = run(
        dir.path(),
        &["apply", ".", "--env", "dev", "--auto-approve"],
        &vars,
    );
    assert_ok("the apply", &apply);
    let after = zones_with_records(&moto);
    assert_eq!(
        after["shop.example.com."].0, shop_id,
        "the moved zone is the same zone"
    );
    assert_eq!(after["shop.example.com."].1, ["www.shop.example.com. CNAME 300"]);
    assert_eq!(after["blog.example.com."].1, ["www.blog.example.com. CNAME 300"]);
    assert!(
        apply.stdout.contains(&format!("Outputs:\n  shop_zone = \"{shop_id}\"\n  blog_www = \"www.blog.example.com.\"\n  token = (sensitive)\n")),
        "the outputs follow the summary:\n{}",
        apply.stdout
    );
    // `tpt output`: all, one, as JSON; a secret only by name and when asked.
    let all = run(dir.path(), &["output", "--env", "dev"], &vars);
    assert_ok("tpt output", &all);
    assert_eq!(
        all.stdout,
        format!("blog_www = \"www.blog.example.com.\"\nshop_zone = \"{shop_id}\"\ntoken = (sensitive)\n")
    );
    let one = run(dir.path(), &["output", "shop_zone", ".", "--env", "dev"], &vars);
    assert_eq!(one.stdout, format!("{shop_id}\n"));
    let json = run(dir.path(), &["output", "--env", "dev", "--json"], &vars);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(doc["shop_zone"], shop_id.as_str());
    assert_eq!(doc["token"], "(sensitive)");
    let masked = run(dir.path(), &["output", "token", "--env", "dev"], &vars);
    assert_eq!(masked.code, 1);
    assert!(
        masked.stderr.contains("E0203") && masked.stderr.contains("--show-secret"),
        "{}",
        masked.stderr
    );
    let shown = run(
        dir.path(),
        &["output", "token", "--env", "dev", "--show-secret"],
        &vars,
    );
    assert_eq!(shown.stdout, format!("{token}\n"));
    let unknown = run(dir.path(), &["output", "shop_zon", "--env", "dev"], &vars);
    assert!(
        unknown.stderr.contains("E0705") && unknown.stderr.contains("did you mean `shop_zone`?"),
        "{}",
        unknown.stderr
    );
    let state = std::fs::read_to_string(dir.path().join(".tpt/state/dev.json")).expect("state");
    assert!(
        !state.contains(&token),
        "the secret output is only a fingerprint in the state"
    );
    assert!(
        state.contains("\"shop.www\""),
        "resources of instances are recorded by address"
    );
    // Nothing left to do, outputs included.
    let again = run(dir.path(), &["plan", ".", "--env", "dev"], &vars);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    // prod: the overlay changes one field of one resource of one instance.
    let prod = run(
        dir.path(),
        &["apply", ".", "--env", "prod", "--auto-approve"],
        &vars,
    );
    assert_ok("the prod apply", &prod);
    let changed = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(changed.stdout.contains("No changes"), "{}", changed.stdout);
    let records: Vec<String> = zones_with_records(&moto)
        .into_values()
        .flat_map(|(_, records)| records)
        .collect();
    assert_eq!(
        records,
        [
            "www.blog.example.com. CNAME 300",
            "www.blog.example.org. CNAME 120",
            "www.shop.example.com. CNAME 300",
            "www.shop.example.org. CNAME 300",
        ]
    );
    for env in ["dev", "prod"] {
        assert_ok(
            "the destroy",
            &run(
                dir.path(),
                &["destroy", ".", "--env", env, "--auto-approve"],
                &vars,
            ),
        );
    }
    assert!(zones_with_records(&moto).is_empty(), "nothing is left");
    let state = std::fs::read_to_string(dir.path().join(".tpt/state/dev.json")).expect("state");
    let state: serde_json::Value = serde_json::from_str(&state).expect("state JSON");
    assert!(
        state.get("outputs").is_none(),
        "a destroy records no output: {state}"
    );
}

/// CI deploys with `--var` and `TPT_VAR_` against moto: the value reaches the
/// object, `--var` wins over `TPT_VAR_` which wins over the environment, and a
/// param that is not `@var` cannot be set from outside.
#[test]
fn e2e_ci_sets_var_params_from_the_command_line_and_the_environment() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        r#"import std.aws

/// The release CI deploys.
@var param release: string(/^[0-9]+\.[0-9]+\.[0-9]+$/)
param owner: string = "web"

resource zone: aws.HostedZone {
  name = "ci.example.com"
  comment = "release ${release} (${owner})"
}

environment prod { release = "1.0.0" }
"#,
    )
    .expect("config");
    let comment = || -> String {
        runtime().block_on(async {
            let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
            let zones = r53.list_hosted_zones().send().await.expect("zones");
            zones
                .hosted_zones()
                .iter()
                .find_map(|z| z.config().and_then(|c| c.comment()).map(str::to_string))
                .unwrap_or_default()
        })
    };
    let vars = aws_vars(&moto);
    // The environment's value.
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    assert_eq!(comment(), "release 1.0.0 (web)");
    // `TPT_VAR_release` over the environment's.
    let mut with_env = vars.clone();
    with_env.push(("TPT_VAR_release", "1.1.0".into()));
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &with_env);
    assert!(
        plan.stdout
            .contains("~ comment: \"release 1.0.0 (web)\" → \"release 1.1.0 (web)\""),
        "{}",
        plan.stdout
    );
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &with_env,
        ),
    );
    assert_eq!(comment(), "release 1.1.0 (web)");
    // `--var` over `TPT_VAR_`.
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &[
                "apply",
                ".",
                "--env",
                "prod",
                "--auto-approve",
                "--var",
                "release=1.2.0",
            ],
            &with_env,
        ),
    );
    assert_eq!(comment(), "release 1.2.0 (web)");
    // A value that does not fit, and a param that is not `@var`: refused before anything runs.
    for (args, code) in [
        (vec!["--var", "release=latest"], "E0500"),
        (vec!["--var", "owner=ops"], "E0305"),
    ] {
        let mut a = vec!["apply", ".", "--env", "prod", "--auto-approve"];
        a.extend(args);
        let out = run(dir.path(), &a, &vars);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains(code), "{code}: {}", out.stderr);
    }
    assert_eq!(comment(), "release 1.2.0 (web)", "nothing changed");
    assert_ok(
        "the destroy",
        &run(
            dir.path(),
            &["destroy", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
}

/// Lifecycle annotations against moto: `@ignore_changes` keeps the recorded
/// value (also against a change made by hand), `@create_before_destroy` makes
/// the new record before deleting the old, `@prevent_destroy` stops a plan
/// that would replace or delete — nothing is touched — until it is removed.
#[test]
fn e2e_lifecycle_annotations_ignore_replace_first_and_protect() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = |comment: &str, record: &str, protect: &str| {
        format!(
            r#"import std.aws

{protect}
@ignore_changes(comment)
resource zone: aws.HostedZone {{
  name = "life.example.com"
  comment = "{comment}"
}}

@create_before_destroy
resource www: aws.DnsRecord {{
  zone = zone.name
  name = "{record}.life.example.com"
  type = "CNAME"
  values = ["lb.example.net"]
}}
"#
        )
    };
    let write = |text: String| std::fs::write(dir.path().join("main.tpt"), text).expect("config");
    let vars = aws_vars(&moto);
    write(config("first", "www", "@prevent_destroy"));
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let zone_comment = || -> String {
        runtime().block_on(async {
            let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
            let zones = r53.list_hosted_zones().send().await.expect("zones");
            zones
                .hosted_zones()
                .iter()
                .find_map(|z| z.config().and_then(|c| c.comment()).map(str::to_string))
                .unwrap_or_default()
        })
    };
    assert_eq!(zone_comment(), "first");
    // A new comment in the configuration is ignored once the zone exists.
    write(config("second", "www", "@prevent_destroy"));
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    // So is a change made by hand: it is drift the plan does not undo.
    runtime().block_on(async {
        let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
        let zones = r53.list_hosted_zones().send().await.expect("zones");
        let id = zones.hosted_zones()[0].id().to_string();
        r53.update_hosted_zone_comment()
            .id(id)
            .comment("by hand")
            .send()
            .await
            .expect("a change by hand");
    });
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(
        plan.stdout.contains("Plan: 0 to create, 0 to update") || plan.stdout.contains("No changes"),
        "{}",
        plan.stdout
    );
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    assert_eq!(zone_comment(), "by hand", "an ignored field is never sent");
    // A new record name replaces the record, creating the new one first.
    write(config("second", "web", "@prevent_destroy"));
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(
        plan.stdout
            .contains("www (aws.DnsRecord) must be replaced (created anew, then the old one deleted)"),
        "{}",
        plan.stdout
    );
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let records = zones_with_records(&moto);
    assert_eq!(
        records["life.example.com."].1,
        ["web.life.example.com. CNAME 300"]
    );
    // The protected zone: neither replaced nor destroyed.
    let renamed = config("second", "web", "@prevent_destroy")
        .replace("life.example.com\"\n  comment", "life2.example.com\"\n  comment");
    write(renamed);
    for args in [vec!["plan", "."], vec!["apply", ".", "--auto-approve"]] {
        let out = run(dir.path(), &args, &vars);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(
            out.stderr.contains("E0706") && out.stderr.contains("would replace it"),
            "{}",
            out.stderr
        );
    }
    write(config("second", "web", "@prevent_destroy"));
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_eq!(destroy.code, 1, "{}", destroy.stdout);
    assert!(
        destroy.stderr.contains("E0706") && destroy.stderr.contains("would delete it"),
        "{}",
        destroy.stderr
    );
    assert!(
        zones_with_records(&moto).contains_key("life.example.com."),
        "nothing was deleted"
    );
    write(config("second", "web", ""));
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
    assert!(zones_with_records(&moto).is_empty());
}

/// `--refresh-only` against moto: the plan shows only what changed outside tpt;
/// applying records it (a changed field, a deleted object) and changes nothing,
/// after which a normal plan proposes to undo what is left of the drift.
#[test]
fn e2e_refresh_only_accepts_drift_into_the_state() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        r#"import std.aws

resource kept: aws.HostedZone {
  name = "kept.example.com"
  comment = "mine"
}

resource lost: aws.HostedZone {
  name = "lost.example.com"
}
"#,
    )
    .expect("config");
    let vars = aws_vars(&moto);
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let state_path = dir.path().join(".tpt/state/default.json");
    let read_state = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state")).expect("JSON")
    };
    let before = read_state();
    let id = |name: &str| {
        before["resources"][name]["provider_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (kept, lost) = (id("kept"), id("lost"));
    runtime().block_on(async {
        let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
        r53.update_hosted_zone_comment()
            .id(&kept)
            .comment("by hand")
            .send()
            .await
            .expect("a change by hand");
        r53.delete_hosted_zone()
            .id(&lost)
            .send()
            .await
            .expect("a deletion by hand");
    });
    let plan = run(dir.path(), &["plan", ".", "--refresh-only"], &vars);
    assert_ok("the refresh-only plan", &plan);
    for line in [
        "! kept (aws.HostedZone) was changed outside tpt",
        "~ comment: \"mine\" → \"by hand\"",
        "! lost (aws.HostedZone) was deleted outside tpt",
        "Refresh only: applying records 1 object changed and 1 deleted outside tpt in the state of `default`; no object is changed.",
    ] {
        assert!(plan.stdout.contains(line), "`{line}`:\n{}", plan.stdout);
    }
    assert!(!plan.stdout.contains("will be created"), "{}", plan.stdout);
    let apply = run(
        dir.path(),
        &["apply", ".", "--refresh-only", "--auto-approve"],
        &vars,
    );
    assert_ok("the refresh-only apply", &apply);
    let after = read_state();
    assert_eq!(after["resources"]["kept"]["inputs"]["comment"], "by hand");
    assert!(
        after["resources"].get("lost").is_none(),
        "the deleted zone left the state"
    );
    assert_eq!(after["serial"].as_u64(), before["serial"].as_u64().map(|s| s + 1));
    assert_eq!(
        zones_with_records(&moto).len(),
        1,
        "nothing was created or changed"
    );
    let again = run(dir.path(), &["plan", ".", "--refresh-only"], &vars);
    assert!(
        again
            .stdout
            .contains("No changes: the state of `default` matches the live objects."),
        "{}",
        again.stdout
    );
    // A normal plan now proposes the configuration again.
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert!(
        plan.stdout.contains("~ comment: \"by hand\" → \"mine\""),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+ lost (aws.HostedZone) will be created"),
        "{}",
        plan.stdout
    );
    // Not with `--refresh=false`, nor for a destroy.
    for args in [
        vec!["plan", ".", "--refresh-only", "--refresh=false"],
        vec!["destroy", ".", "--refresh-only"],
    ] {
        let out = run(dir.path(), &args, &vars);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// A team's records kept in YAML beside the configuration, decoded into a
/// declared type and applied to moto; the zone's comment from a template.
/// Changing the YAML file changes the plan.
#[test]
fn e2e_records_from_a_yaml_file_and_a_template() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("data")).expect("data");
    std::fs::write(
        dir.path().join("main.tpt"),
        r#"import std.aws

schema Record {
  name: string
  target: string
  ttl: duration = 5m
}

let records: [Record] = yaml_decode(file("./data/records.yaml"))

resource zone: aws.HostedZone {
  name = "files.example.com"
  comment = templatefile("./data/comment.txt", { n = len(records) })
}

for r in records {
  resource record: aws.DnsRecord {
    zone = zone.name
    name = "${r.name}.files.example.com"
    type = "CNAME"
    values = [r.target]
    ttl = r.ttl
  }
}
"#,
    )
    .expect("config");
    std::fs::write(
        dir.path().join("data/comment.txt"),
        "${n} records, from data/records.yaml",
    )
    .expect("template");
    let records = |text: &str| std::fs::write(dir.path().join("data/records.yaml"), text).expect("records");
    records("- name: www\n  target: lb.example.net\n- name: api\n  target: api.example.net\n  ttl: 1m\n");
    let vars = aws_vars(&moto);
    assert_ok(
        "the apply",
        &run(dir.path(), &["apply", ".", "--auto-approve"], &vars),
    );
    let zones = zones_with_records(&moto);
    assert_eq!(
        zones["files.example.com."].1,
        [
            "api.files.example.com. CNAME 60",
            "www.files.example.com. CNAME 300"
        ]
    );
    // The file changed: the plan follows it.
    records("- name: www\n  target: lb2.example.net\n");
    let plan = run(dir.path(), &["plan", "."], &vars);
    for line in [
        "~ values: [\"lb.example.net\"] → [\"lb2.example.net\"]",
        "- record[1] (aws.DnsRecord) will be deleted",
        "~ comment: \"2 records, from data/records.yaml\" → \"1 records, from data/records.yaml\"",
    ] {
        assert!(plan.stdout.contains(line), "`{line}`:\n{}", plan.stdout);
    }
    // A file that does not fit stops the plan, saying where.
    records("- name: www\n  target: lb.example.net\n  ttl: soon\n");
    let bad = run(dir.path(), &["plan", "."], &vars);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("`./data/records.yaml` does not fit `let records`: element 1: `ttl`"),
        "{}",
        bad.stderr
    );
    assert_ok(
        "the destroy",
        &run(dir.path(), &["destroy", ".", "--auto-approve"], &vars),
    );
}

/// `TPT_STATE_BACKEND=s3` from the command line against moto: the state, its
/// key and its lock live in the bucket (nothing in `.tpt/`), encrypted, and a
/// second run waits for or is refused by the lock another holds.
#[test]
fn e2e_state_in_an_s3_bucket() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let bucket = "tpt-team-state";
    let s3 = || async {
        let conf = moto_config(&moto, "us-east-1").await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    };
    runtime().block_on(async {
        s3().await
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("a bucket")
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        "import std.aws\n\nresource zone: aws.HostedZone { name = \"s3state.example.com\" }\n\nenvironment prod {}\n",
    )
    .expect("config");
    let mut vars: Vec<(&str, String)> = aws_vars(&moto)
        .into_iter()
        .filter(|(k, _)| *k != "TPT_STATE_KEY")
        .collect();
    vars.push(("TPT_STATE_BACKEND", "s3".into()));
    vars.push(("TPT_STATE_BUCKET", bucket.into()));
    vars.push(("TPT_STATE_PREFIX", "platform".into()));
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    assert!(!dir.path().join(".tpt").exists(), "nothing is kept locally");
    let (keys, encryption) = runtime().block_on(async {
        let c = s3().await;
        let listed = c.list_objects_v2().bucket(bucket).send().await.expect("list");
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        let head = c
            .head_object()
            .bucket(bucket)
            .key("platform/prod/state.json")
            .send()
            .await
            .expect("head");
        (
            keys,
            head.server_side_encryption().map(|e| e.as_str().to_string()),
        )
    });
    assert_eq!(
        keys,
        [
            "platform/prod/state.json",
            "platform/prod/state.json.backup",
            "platform/state.key"
        ],
        "the state, its backup and the key; the lock was released"
    );
    assert_eq!(encryption.as_deref(), Some("AES256"));
    let list = run(dir.path(), &["state", "list", "--env", "prod"], &vars);
    assert_eq!(list.stdout, "zone  (aws.HostedZone)\n");
    // Another run holds the lock: a plan is refused, naming it.
    runtime().block_on(async {
        let lock =
            r#"{"id":"other-run","who":"ci@runner","when":"2026-12-02T08:00:00Z","operation":"apply"}"#;
        s3().await
            .put_object()
            .bucket(bucket)
            .key("platform/prod/state.lock")
            .body(lock.as_bytes().to_vec().into())
            .send()
            .await
            .expect("a lock");
    });
    let locked = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert_eq!(locked.code, 1);
    assert!(
        locked.stderr.contains("E0702") && locked.stderr.contains("ci@runner"),
        "{}",
        locked.stderr
    );
    assert_ok(
        "the unlock",
        &run(
            dir.path(),
            &["state", "unlock", "other-run", "--env", "prod"],
            &vars,
        ),
    );
    assert_ok(
        "the destroy",
        &run(
            dir.path(),
            &["destroy", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    // Without a bucket: a clear error.
    vars.retain(|(k, _)| *k != "TPT_STATE_BUCKET");
    let none = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(none.stderr.contains("TPT_STATE_BUCKET"), "{}", none.stderr);
}

/// `state.Outputs` reads what another configuration's last apply recorded:
/// from its local state (a path beside this one) and from Kubernetes state; a
/// string as it is, other values as JSON text, secrets never.
#[test]
fn e2e_a_configuration_reads_another_ones_outputs_from_its_state() {
    let Some(moto) = moto() else { return };
    let Some(kubeconfig) = kube() else { return };
    reset_moto(&moto);
    let root = tempfile::tempdir().expect("a temporary directory");
    let network = root.path().join("network");
    let app = root.path().join("app");
    std::fs::create_dir_all(&network).expect("network");
    std::fs::create_dir_all(&app).expect("app");
    std::fs::write(
        network.join("main.tpt"),
        r#"import std.aws

resource zone: aws.HostedZone { name = "shared.example.com" }

output zone: string = zone.name
output zone_id: string = zone.zone_id
output ports: [int] = [80, 443]
output token: secret = sensitive("s3cr3t-shared")

environment prod {}
"#,
    )
    .expect("network config");
    let vars = aws_vars(&moto);
    assert_ok(
        "the network",
        &run(
            &network,
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    let mut kube_vars = vars.clone();
    kube_vars.extend([
        ("TPT_STATE_BACKEND", "kubernetes".to_string()),
        ("TPT_STATE_KUBECONFIG", kubeconfig.clone()),
        ("TPT_STATE_NAMESPACE", "default".to_string()),
    ]);
    // The same network also applied with its state in Kubernetes, as environment `k…`.
    let kenv = format!("k{}", std::process::id());
    std::fs::write(
        network.join("main.tpt"),
        std::fs::read_to_string(network.join("main.tpt"))
            .expect("config")
            .replace(
                "environment prod {}",
                &format!("environment prod {{}}\nenvironment {kenv} {{}}"),
            ),
    )
    .expect("network config");
    assert_ok(
        "the network in Kubernetes state",
        &run(
            &network,
            &["apply", ".", "--env", &kenv, "--auto-approve"],
            &kube_vars,
        ),
    );
    std::fs::write(
        app.join("main.tpt"),
        format!(
            r#"import std.aws
import std.state

resource network: state.Outputs {{
  path = "../network"
  environment = "prod"
}}

resource network_k8s: state.Outputs {{
  backend = "kubernetes"
  kubeconfig = "{kubeconfig}"
  namespace = "default"
  environment = "{kenv}"
}}

let ports: [int] = json_decode(network.values["ports"])

resource www: aws.DnsRecord {{
  zone = network.values["zone"]
  name = "www.shared.example.com"
  type = "TXT"
  values = ["zone ${{network_k8s.values["zone_id"]}}", "ports ${{join(",", [for p in ports : to_string(p)])}}", "token ${{lookup(network.values, "token", "none")}}"]
}}
"#
        ),
    )
    .expect("app config");
    let plan = run(&app, &["plan", "."], &vars);
    assert_ok("the app's plan", &plan);
    assert_ok("the app", &run(&app, &["apply", ".", "--auto-approve"], &vars));
    let txt: Vec<String> = runtime().block_on(async {
        let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
        let zones = r53.list_hosted_zones().send().await.expect("zones");
        let mut out = Vec::new();
        for z in zones.hosted_zones() {
            let sets = r53
                .list_resource_record_sets()
                .hosted_zone_id(z.id())
                .send()
                .await
                .expect("records");
            for r in sets
                .resource_record_sets()
                .iter()
                .filter(|r| r.r#type().as_str() == "TXT")
            {
                out.extend(r.resource_records().iter().map(|v| v.value().to_string()));
            }
        }
        out
    });
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(network.join(".tpt/state/prod.json")).expect("network state"),
    )
    .expect("JSON");
    let zone_id = state["outputs"]["zone_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!zone_id.is_empty(), "{state}");
    assert_eq!(txt.len(), 3, "{txt:?}");
    assert!(txt.iter().any(|v| v.contains("ports 80,443")), "{txt:?}");
    assert!(
        txt.iter().any(|v| v.contains("token none")),
        "a secret output is not shared: {txt:?}"
    );
    assert!(
        txt.iter().any(|v| v.starts_with("\"zone ") && v.len() > 8),
        "{txt:?}"
    );
    assert_ok(
        "the app's destroy",
        &run(&app, &["destroy", ".", "--auto-approve"], &vars),
    );
    // An environment that was never applied: a clear error.
    std::fs::write(
        app.join("main.tpt"),
        "import std.state\n\nresource network: state.Outputs { path = \"../network\", environment = \"staging\" }\n\nlet zone = network.values[\"zone\"]\n",
    )
    .expect("config");
    let missing = run(&app, &["plan", "."], &vars);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("`staging` has no recorded state"),
        "{}",
        missing.stderr
    );
    for (env, v) in [("prod", &vars), (kenv.as_str(), &kube_vars)] {
        assert_ok(
            "the destroy",
            &run(&network, &["destroy", ".", "--env", env, "--auto-approve"], v),
        );
    }
}

/// `tpt import` against moto: a hosted zone and a secret made by hand become
/// resources of the configuration without being changed, after which the plan
/// is empty; a wrong ID, an address already recorded, and a kind that cannot
/// adopt objects are refused with what to do.
#[test]
fn e2e_import_adopts_existing_objects() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let (zone_id, _) = runtime().block_on(async {
        let conf = moto_config(&moto, "us-east-1").await;
        let r53 = aws_sdk_route53::Client::new(&conf);
        let zone = r53
            .create_hosted_zone()
            .name("imported.example.com")
            .caller_reference("by-hand")
            .hosted_zone_config(
                aws_sdk_route53::types::HostedZoneConfig::builder()
                    .comment("made by hand")
                    .build(),
            )
            .send()
            .await
            .expect("a zone");
        let id = zone.hosted_zone().map(|z| z.id().to_string()).unwrap_or_default();
        r53.change_resource_record_sets()
            .hosted_zone_id(&id)
            .change_batch(
                aws_sdk_route53::types::ChangeBatch::builder()
                    .changes(
                        aws_sdk_route53::types::Change::builder()
                            .action(aws_sdk_route53::types::ChangeAction::Create)
                            .resource_record_set(
                                aws_sdk_route53::types::ResourceRecordSet::builder()
                                    .name("www.imported.example.com.")
                                    .r#type(aws_sdk_route53::types::RrType::Cname)
                                    .ttl(300)
                                    .resource_records(
                                        aws_sdk_route53::types::ResourceRecord::builder()
                                            .value("lb.example.net")
                                            .build()
                                            .expect("a value"),
                                    )
                                    .build()
                                    .expect("a record"),
                            )
                            .build()
                            .expect("a change"),
                    )
                    .build()
                    .expect("a batch"),
            )
            .send()
            .await
            .expect("a record by hand");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket("imported-media")
            .send()
            .await
            .expect("a bucket by hand");
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        sm.create_secret()
            .name("shop/imported")
            .description("the shop's key")
            .secret_string("hand-made-value")
            .send()
            .await
            .expect("a secret");
        (
            zone.hosted_zone()
                .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
                .unwrap_or_default(),
            (),
        )
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        r#"import std.aws

resource zone: aws.HostedZone {
  name = "imported.example.com"
  comment = "made by hand"
}

resource www: aws.DnsRecord {
  zone = zone.name
  name = "www.imported.example.com"
  type = "CNAME"
  values = ["lb.example.net"]
}

resource key: aws.Secret {
  name = "shop/imported"
  description = "the shop's key"
  value = secret_env("SHOP_KEY")
  recovery_days = 0
}

environment prod {}
"#,
    )
    .expect("config");
    let mut vars = aws_vars(&moto);
    vars.push(("SHOP_KEY", "hand-made-value".into()));
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(
        plan.stdout.contains("+ zone (aws.HostedZone) will be created"),
        "{}",
        plan.stdout
    );
    let wrong = run(
        dir.path(),
        &["import", "zone", "ZNOSUCHZONE", "--env", "prod"],
        &vars,
    );
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stderr
            .contains("there is no `aws.HostedZone` with the ID `ZNOSUCHZONE`"),
        "{}",
        wrong.stderr
    );
    let imported = run(
        dir.path(),
        &["import", "zone", &zone_id, ".", "--env", "prod"],
        &vars,
    );
    assert_ok("the zone's import", &imported);
    assert!(
        imported
            .stdout
            .contains(&format!("imported `{zone_id}` as `zone`")),
        "{}",
        imported.stdout
    );
    assert_ok(
        "the secret's import",
        &run(
            dir.path(),
            &["import", "key", "us-east-1/shop/imported", "--env", "prod"],
            &vars,
        ),
    );
    assert_ok(
        "the record's import",
        &run(
            dir.path(),
            &[
                "import",
                "www",
                &format!("{zone_id}/www.imported.example.com./CNAME"),
                "--env",
                "prod",
            ],
            &vars,
        ),
    );
    let plan = run(
        dir.path(),
        &["plan", ".", "--env", "prod", "--detailed-exitcode"],
        &vars,
    );
    assert_eq!(
        plan.code, 0,
        "matching objects: nothing to do\n{}{}",
        plan.stdout, plan.stderr
    );
    // A bucket made without tpt's defaults: imported, then the plan brings it to the configuration.
    let with_bucket = std::fs::read_to_string(dir.path().join("main.tpt")).expect("config")
        + "\nresource media: aws.Bucket {\n  region = \"us-east-1\"\n  name = \"imported-media\"\n}\n";
    std::fs::write(dir.path().join("main.tpt"), with_bucket).expect("config");
    assert_ok(
        "the bucket's import",
        &run(
            dir.path(),
            &["import", "media", "us-east-1/imported-media", "--env", "prod"],
            &vars,
        ),
    );
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(
        plan.stdout.contains(
            "~ media (aws.Bucket) will be updated in place\n      ~ block_public_access: false → true"
        ),
        "{}",
        plan.stdout
    );
    let again = run(dir.path(), &["import", "zone", &zone_id, "--env", "prod"], &vars);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("E0703") && again.stderr.contains("already recorded"),
        "{}",
        again.stderr
    );
    // A different value in the configuration: the plan updates the imported secret.
    vars.retain(|(k, _)| *k != "SHOP_KEY");
    vars.push(("SHOP_KEY", "a-new-value".into()));
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(
        plan.stdout
            .contains("~ key (aws.Secret) will be updated in place"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("hand-made-value") && !plan.stdout.contains("a-new-value"));
    assert_ok(
        "the destroy",
        &run(
            dir.path(),
            &["destroy", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    assert!(
        zones_with_records(&moto).is_empty(),
        "imported objects are managed now"
    );
}

/// `import` blocks against moto: the plan shows the import (and what it
/// changes in the object), the apply records it without making anything, and
/// the next plan is empty; a kind that cannot import says so in the plan.
#[test]
fn e2e_import_blocks_are_planned_and_applied() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    let zone_id = runtime().block_on(async {
        let r53 = aws_sdk_route53::Client::new(&moto_config(&moto, "us-east-1").await);
        let zone = r53
            .create_hosted_zone()
            .name("blocks.example.com")
            .caller_reference("by-hand-blocks")
            .send()
            .await
            .expect("a zone");
        zone.hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .unwrap_or_default()
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = |comment: &str| {
        format!(
            r#"import std.aws

param zone_id: string

resource zone: aws.HostedZone {{
  name = "blocks.example.com"
  comment = "{comment}"
}}

import {{ to = zone, id = zone_id }}

environment prod {{ zone_id = "{zone_id}" }}
"#
        )
    };
    // The zone made by hand has an empty comment: the import shows the update.
    std::fs::write(dir.path().join("main.tpt"), config("platform")).expect("config");
    let vars = aws_vars(&moto);
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert_ok("the plan", &plan);
    for line in [
        format!("~ zone (aws.HostedZone) will be updated in place (imported from `{zone_id}`)"),
        "~ comment: \"\" → \"platform\"".to_string(),
        "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete. 1 to import.".to_string(),
    ] {
        assert!(plan.stdout.contains(&line), "`{line}`:\n{}", plan.stdout);
    }
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    assert_eq!(zones_with_records(&moto).len(), 1, "nothing was created");
    let again = run(
        dir.path(),
        &["plan", ".", "--env", "prod", "--detailed-exitcode"],
        &vars,
    );
    assert_eq!(again.code, 0, "recorded now: nothing to do\n{}", again.stdout);
    // A matching object is an import and nothing else.
    assert_ok(
        "the state rm",
        &run(dir.path(), &["state", "rm", "zone", "--env", "prod"], &vars),
    );
    let plan = run(dir.path(), &["plan", ".", "--env", "prod"], &vars);
    assert!(
        plan.stdout.contains(&format!(
            "< zone (aws.HostedZone) will be imported from `{zone_id}`"
        )),
        "{}",
        plan.stdout
    );
    assert_ok(
        "the apply",
        &run(
            dir.path(),
            &["apply", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
    let state = std::fs::read_to_string(dir.path().join(".tpt/state/prod.json")).expect("state");
    assert!(state.contains(&zone_id), "{state}");
    // A kind that cannot import: the plan says so.
    std::fs::write(
        dir.path().join("main.tpt"),
        config("platform")
            + "\nimport std.k8s\n\nresource dev: k8s.KubeconfigCluster { context = \"dev\" }\n\nresource team: k8s.Namespace { cluster = dev, name = \"team\" }\n\nimport { to = team, id = \"team\" }\n",
    )
    .expect("config");
    let refused = run(
        dir.path(),
        &["plan", ".", "--env", "prod", "--refresh=false"],
        &vars,
    );
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("`k8s.Namespace` cannot import"),
        "{}",
        refused.stderr
    );
    std::fs::write(dir.path().join("main.tpt"), config("platform")).expect("config");
    assert_ok(
        "the destroy",
        &run(
            dir.path(),
            &["destroy", ".", "--env", "prod", "--auto-approve"],
            &vars,
        ),
    );
}

/// A database made by hand (moto) imported by `REGION/IDENTIFIER`: recorded as
/// the kind reads it back, never created again.
#[test]
fn e2e_import_a_database_made_by_hand() {
    let Some(moto) = moto() else { return };
    reset_moto(&moto);
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&moto_config(&moto, "us-east-1").await);
        rds.create_db_instance()
            .db_instance_identifier("hand-db")
            .engine("postgres")
            .engine_version("16")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("app")
            .master_user_password("by-hand-password")
            .db_name("app")
            .send()
            .await
            .expect("a database by hand");
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("main.tpt"),
        "import std.aws\n\nresource orders: aws.Postgres {\n  identifier = \"hand-db\"\n  region = \"us-east-1\"\n  final_snapshot = false\n}\n",
    )
    .expect("config");
    let vars = aws_vars(&moto);
    let wrong = run(dir.path(), &["import", "orders", "us-east-1/no-such-db"], &vars);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stderr
            .contains("there is no `aws.Postgres` with the ID `us-east-1/no-such-db`")
            && wrong.stderr.contains("`REGION/IDENTIFIER`"),
        "the error says the ID's form: {}",
        wrong.stderr
    );
    assert_ok(
        "the import",
        &run(dir.path(), &["import", "orders", "us-east-1/hand-db"], &vars),
    );
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert_ok("the plan", &plan);
    assert!(!plan.stdout.contains("will be created"), "{}", plan.stdout);
    let state = std::fs::read_to_string(dir.path().join(".tpt/state/default.json")).expect("state");
    assert!(state.contains("us-east-1/hand-db"), "{state}");
}

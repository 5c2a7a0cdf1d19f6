//! `k8s.HelmRelease` end to end: the test chart (`tests/charts/demo`:
//! helpers, values, a subchart, a `crds/` directory, hooks with weights, a
//! test hook) from a chart repository and an OCI registry served on loopback
//! (`charts.rs`) and from a directory, rendered by the real `helm` and
//! applied to the real API server: install; upgrade (the plan shows the
//! object diff); a template removed (pruned); drift by hand (shown, undone);
//! destroy (nothing left). The secret value never reaches plan, state or log.

use std::path::Path;

use super::charts;
use super::{assert_ok, kube, kube_get, kube_merge_patch, repo_root, run};

/// A configuration with one release of `demo` on the test cluster.
fn release_config(kubeconfig: &str, ns: &str, source: &str, values: &str) -> String {
    format!(
        r#"import std.k8s

resource local: k8s.KubeconfigCluster {{
  context = "local"
  kubeconfig = "{kubeconfig}"
  load_balancers = false
  runs_pods = false
}}

resource demo: k8s.HelmRelease {{
  cluster = local
  name = "rel"
  namespace = "{ns}"
  {source}
  values = "{values}"
  secret_values = {{ "auth.password" = sensitive("pw-Zq81-e2e-secret") }}
}}
"#
    )
}

const SECRET: &str = "pw-Zq81-e2e-secret";

fn get(kubeconfig: &str, path: &str) -> Option<serde_json::Value> {
    kube_get(kubeconfig, path)
}

fn no_secret(what: &str, text: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert!(!text.contains(SECRET), "{what} shows the secret value:\n{text}");
    assert!(!text.contains(&b64), "{what} shows the secret's base64:\n{text}");
}

fn state_text(dir: &Path) -> String {
    let mut all = String::new();
    for e in walk(&dir.join(".tpt")) {
        all.push_str(&std::fs::read_to_string(e).unwrap_or_default());
    }
    all
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn e2e_helm_release_install_upgrade_prune_drift_destroy() {
    let Some(kubeconfig) = kube() else { return };
    let Some(helm) = charts::helm() else { return };
    let work = tempfile::tempdir().expect("a temporary directory");
    let packages = work.path().join("packages");
    std::fs::create_dir_all(&packages).expect("dir");
    let chart = repo_root().join("tests/charts/demo");
    let v1 = charts::package(&helm, &chart, "0.1.0", "1.0", &packages);
    let v2 = charts::package(&helm, &chart, "0.2.0", "1.1", &packages);
    let repo = charts::repository(&helm, &packages, &[v1, v2]);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let ns = format!("helm-{}", rand::random_range(0..1_000_000u32));
    let source = |version: &str| {
        format!(
            "repo = \"{}\"\n  chart = \"demo\"\n  version = \"{version}\"",
            repo.url
        )
    };
    let write = |source: &str, values: &str| {
        std::fs::write(
            dir.path().join("main.tpt"),
            release_config(&kubeconfig, &ns, source, values),
        )
        .expect("config")
    };
    let vars = [
        ("TPT_STATE_KEY", "e2e-test-key".to_string()),
        ("TPT_HELM", helm.display().to_string()),
        ("TPT_CACHE_DIR", work.path().join("cache").display().to_string()),
        ("TPT_LOG", "debug".to_string()),
    ];

    // Install.
    write(&source("0.1.0"), "");
    let plan = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the install", &plan);
    no_secret("the install's output", &format!("{}{}", plan.stdout, plan.stderr));
    let base = format!("/api/v1/namespaces/{ns}");
    let deployment = get(
        &kubeconfig,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo"),
    )
    .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/demo:1.0"
    );
    for cm in [
        "rel-demo-extra",
        "rel-sidecar",
        "rel-demo-dsn",
        "rel-demo-pre",
        "rel-demo-post",
    ] {
        assert!(
            get(&kubeconfig, &format!("{base}/configmaps/{cm}")).is_some(),
            "ConfigMap {cm}"
        );
    }
    let secret = get(&kubeconfig, &format!("{base}/secrets/rel-demo-auth")).expect("the Secret");
    assert!(secret["data"]["password"].is_string());
    assert!(get(&kubeconfig, &format!("{base}/services/rel-demo")).is_some());
    assert!(
        get(
            &kubeconfig,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.tpt.dev"
        )
        .is_some(),
        "the chart's CRD"
    );
    let widget = get(
        &kubeconfig,
        &format!("/apis/demo.tpt.dev/v1/namespaces/{ns}/widgets/rel-demo"),
    )
    .expect("the Widget (rendered because the chart's own CRD is served)");
    assert_eq!(widget["spec"]["size"], 3);
    // The hook with `hook-succeeded` ran and was deleted; the test hook never runs.
    assert!(get(
        &kubeconfig,
        &format!("/apis/batch/v1/namespaces/{ns}/jobs/rel-demo-migrate")
    )
    .is_none());
    assert!(get(&kubeconfig, &format!("{base}/pods/rel-demo-test")).is_none());
    let state = state_text(dir.path());
    no_secret("the state", &state);
    assert!(state.contains("Deployment"), "the objects are recorded");

    // Rendering is stable: nothing to do.
    let again = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    // Upgrade: the plan shows the change inside the Deployment.
    write(&source("0.2.0"), "");
    let plan = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    let line = format!(
        "~ Deployment {ns}/rel-demo: spec.template.spec.containers[0].image: \"registry.example.com/demo:1.0\" → \"registry.example.com/demo:1.1\""
    );
    assert!(plan.stdout.contains(&line), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!(
            "~ Deployment {ns}/rel-demo: metadata.labels[\"helm.sh/chart\"]: \"demo-0.1.0\" → \"demo-0.2.0\""
        )),
        "{}",
        plan.stdout
    );
    no_secret("the plan", &plan.stdout);
    let json = run(dir.path(), &["plan", ".", "--json"], &vars);
    assert_ok("the JSON plan", &json);
    no_secret("the JSON plan", &json.stdout);
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the upgrade", &apply);
    let deployment = get(
        &kubeconfig,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo"),
    )
    .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/demo:1.1"
    );

    // A template no longer rendered: its object is pruned.
    write(&source("0.2.0"), "extra:\\n  enabled: false");
    let plan = run(dir.path(), &["plan", "."], &vars);
    assert_ok("the plan", &plan);
    assert!(
        plan.stdout.contains(&format!("- ConfigMap {ns}/rel-demo-extra")),
        "{}",
        plan.stdout
    );
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply that prunes", &apply);
    assert!(
        get(&kubeconfig, &format!("{base}/configmaps/rel-demo-extra")).is_none(),
        "pruned"
    );
    assert!(
        get(&kubeconfig, &format!("{base}/configmaps/rel-sidecar")).is_some(),
        "kept"
    );

    // Drift by hand: shown object by object, then undone.
    kube_merge_patch(
        &kubeconfig,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo"),
        serde_json::json!({"spec": {"replicas": 4}}),
    );
    let plan = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("demo (k8s.HelmRelease) was changed outside tpt"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("~ Deployment {ns}/rel-demo: spec.replicas: 4 → 1")),
        "{}",
        plan.stdout
    );
    let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
    assert_ok("the apply that undoes the drift", &apply);
    let deployment = get(
        &kubeconfig,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo"),
    )
    .expect("the Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let again = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    // Destroy: nothing of the release is left.
    let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
    assert_ok("destroy", &destroy);
    no_secret(
        "the destroy's output (debug log)",
        &format!("{}{}", destroy.stdout, destroy.stderr),
    );
    for path in [
        format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo"),
        format!("{base}/services/rel-demo"),
        format!("{base}/secrets/rel-demo-auth"),
        format!("{base}/configmaps/rel-sidecar"),
        format!("{base}/configmaps/rel-demo-dsn"),
        format!("{base}/configmaps/rel-demo-pre"),
        format!("{base}/configmaps/rel-demo-post"),
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.tpt.dev".to_string(),
    ] {
        assert!(get(&kubeconfig, &path).is_none(), "{path} is left after destroy");
    }
}

/// The same chart from an OCI registry and from a directory next to the
/// configuration: installed, the exact version and digest recorded, destroyed.
#[test]
fn e2e_helm_charts_from_an_oci_registry_and_a_directory() {
    let Some(kubeconfig) = kube() else { return };
    let Some(helm) = charts::helm() else { return };
    let work = tempfile::tempdir().expect("a temporary directory");
    let chart = repo_root().join("tests/charts/demo");
    let v1 = charts::package(&helm, &chart, "0.1.0", "1.0", work.path());
    let registry = charts::registry("charts", &[("demo", "0.1.0", v1)]);
    let vars = [
        ("TPT_STATE_KEY", "e2e-test-key".to_string()),
        ("TPT_HELM", helm.display().to_string()),
        ("TPT_CACHE_DIR", work.path().join("cache").display().to_string()),
    ];
    for (case, source) in [
        (
            "oci",
            format!(
                "repo = \"{}\"\n  chart = \"demo\"\n  version = \"0.1.0\"",
                registry.url
            ),
        ),
        ("dir", "chart = \"charts/demo\"".to_string()),
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        super::support::copy_dir(&chart, &dir.path().join("charts/demo"));
        let ns = format!("helm-{case}-{}", rand::random_range(0..1_000_000u32));
        std::fs::write(
            dir.path().join("main.tpt"),
            release_config(&kubeconfig, &ns, &source, ""),
        )
        .expect("config");
        let apply = run(dir.path(), &["apply", ".", "--auto-approve"], &vars);
        assert_ok(&format!("the install from {case}"), &apply);
        let state = state_text(dir.path());
        assert!(state.contains("\"chart_version\": \"0.1.0\""), "{case}: {state}");
        assert!(state.contains("\"chart_digest\": \"sha256:"), "{case}: {state}");
        assert!(
            get(
                &kubeconfig,
                &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo")
            )
            .is_some(),
            "{case}: the Deployment"
        );
        let again = run(dir.path(), &["plan", ".", "--detailed-exitcode"], &vars);
        assert_eq!(again.code, 0, "{case}: {}{}", again.stdout, again.stderr);
        let destroy = run(dir.path(), &["destroy", ".", "--auto-approve"], &vars);
        assert_ok(&format!("destroy ({case})"), &destroy);
        assert!(get(
            &kubeconfig,
            &format!("/apis/apps/v1/namespaces/{ns}/deployments/rel-demo")
        )
        .is_none());
    }
}

//! `k8s.HelmRelease`: a chart rendered by the `helm` program (`helm
//! template`) and applied by tpt itself, the way Argo CD does: server-side
//! apply (field manager `tpt`), CRDs first and waited until established,
//! hooks run around it, what a new version no longer renders pruned, readiness
//! waited for, everything deleted in reverse order. No Helm release secret is
//! written: the state records the release.
//!
//! The rendered objects are inputs the kind computes before planning
//! ([`Fields::rendered`]): `objects` (by `Kind namespace/name`) and `hooks`.
//! The plan shows what changes object by object, refresh reads every object
//! back where the chart wrote it (drift), and the provider ID is the inventory
//! of applied objects that pruning and deleting work from.
//! docs/notes/helm.md explains the model and why.
//!
//! Secrets: `secret_values` are set at their paths; every string a chart
//! renders that holds one of them (or its base64), and the data of every
//! Secret, is a secret value: fingerprinted in the plan and the state, never
//! shown. Values reach `helm` on its standard input, never on disk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use kube::Client;
use serde_json::{json, Value as J};
use sha2::Digest;
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::identity::{self, Eks, Identity};
use super::{
    abilities, apply_object, cluster_of, delete_object, ensure_namespace, get_object, kube_err, object_id,
    parse_object_id, prune, s, Kube,
};
use crate::provider::{Applied, Cx, Desired, Fields, Provider, ProviderError};

/// Objects larger than this (as JSON) are recorded by fingerprint, not in
/// full: the state stays small (CRDs of large charts are megabytes), and
/// their changes show as a change of fingerprint.
const LARGE: usize = 64 * 1024;

/// Where Helm ships `kind`s in an install (Helm's own install order), CRDs
/// first; kinds not listed (custom resources, webhooks) come last.
const INSTALL_ORDER: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

fn install_rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

// ------------------------------------------------------------ the program

/// The `helm` program: `TPT_HELM`, else `helm` on `PATH`.
fn helm_program() -> Result<PathBuf, ProviderError> {
    let how = "install Helm 3 (https://helm.sh/docs/intro/install/, or `bash tests/targets/install-helm.sh` in tpt's repository) and put `helm` on PATH, or name the program with TPT_HELM";
    if let Some(p) = std::env::var_os("TPT_HELM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ProviderError::permanent(format!(
                "TPT_HELM names `{}`, which is not a file: {how}",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "the `helm` program renders charts, and none was found on PATH: {how}"
            ))
        })
}

/// tpt's cache: `TPT_CACHE_DIR`, else `$XDG_CACHE_HOME/tpt`, else `~/.cache/tpt`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("TPT_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("tpt")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("tpt")))
        .unwrap_or_else(|| std::env::temp_dir().join("tpt-cache"))
}

/// Secret texts in `message` replaced (a chart's `fail` may quote a value).
fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "(sensitive)");
    }
    out
}

/// Runs `helm args…` with `stdin`, bounded by the operation; its standard
/// output, or its error (secret texts scrubbed).
async fn helm(
    cx: &Cx,
    args: &[String],
    stdin: Option<&[u8]>,
    secrets: &[String],
) -> Result<Vec<u8>, ProviderError> {
    use tokio::io::AsyncWriteExt;
    let program = helm_program()?;
    let home = cache_dir().join("helm");
    let what = format!("helm {}", args.first().map_or("", String::as_str));
    let started = std::time::Instant::now();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(args)
        // Helm's own configuration and caches are tpt's: the user's repositories
        // and plugins do not change what a plan renders.
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_REPOSITORY_CONFIG", home.join("config/repositories.yaml"))
        .env("HELM_REPOSITORY_CACHE", home.join("cache/repository"))
        .env("HELM_PLUGINS", home.join("data/plugins"))
        .env_remove("HELM_DEBUG")
        .env_remove("HELM_KUBECONTEXT")
        .env_remove("HELM_NAMESPACE")
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // An interrupt drops the operation: the program ends with it.
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| ProviderError::permanent(format!("cannot run `{}`: {e}", program.display())))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
        });
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| ProviderError::permanent(format!("`{what}` failed: {e}")))?;
    tracing::debug!(resource = %cx.address, program = "helm", command = %what,
        ms = started.elapsed().as_millis(), status = ?out.status.code(), "helm ran");
    if out.status.success() {
        return Ok(out.stdout);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let err = err.trim().trim_start_matches("Error: ");
    Err(ProviderError::permanent(format!(
        "`{what}` failed: {}",
        scrub(err, secrets)
    )))
}

// ------------------------------------------------------------ charts

/// A chart on disk: where, its name and exact version, and its digest.
#[derive(Debug, Clone)]
struct Chart {
    path: PathBuf,
    version: String,
    digest: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of a chart directory: every file's path and bytes, in order.
fn dir_digest(dir: &Path) -> Result<String, ProviderError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(base, &p, out)?;
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, p));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)
        .map_err(|e| ProviderError::permanent(format!("cannot read the chart `{}`: {e}", dir.display())))?;
    files.sort();
    let mut h = sha2::Sha256::new();
    for (rel, p) in files {
        let bytes = std::fs::read(&p)
            .map_err(|e| ProviderError::permanent(format!("cannot read `{}`: {e}", p.display())))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `version` names one version (not a range Helm resolves).
fn exact(version: &str) -> bool {
    !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        && !version.contains(['x', 'X'])
        && version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == 'v')
}

/// Whether an OCI registry is on this machine (spoken to in plain HTTP, as
/// container tools do for local registries).
fn loopback(url: &str) -> bool {
    let host = url
        .trim_start_matches("oci://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// The chart of `d`: a local directory or `.tgz`, or pulled from its
/// repository into the cache (by digest) once per exact version.
async fn fetch(cx: &Cx, spec: &Spec) -> Result<Chart, ProviderError> {
    let chart = spec.chart.as_str();
    let version = spec.version.as_deref();
    let Some(repo) = spec.repo.as_deref() else {
        let path = cx.base_dir.join(chart);
        if path.is_dir() {
            let meta = std::fs::read_to_string(path.join("Chart.yaml")).map_err(|e| {
                ProviderError::permanent(format!("`{chart}` is not a chart directory (no Chart.yaml: {e})"))
            })?;
            let meta: J = serde_yaml::from_str(&meta)
                .map_err(|e| ProviderError::permanent(format!("{chart}/Chart.yaml is not YAML: {e}")))?;
            let found = meta["version"].as_str().unwrap_or_default().to_string();
            if let Some(v) = version.filter(|v| *v != found) {
                return Err(ProviderError::permanent(format!(
                    "the chart in `{chart}` is version {found}, not {v}: remove `version`, or change one of them"
                )));
            }
            return Ok(Chart {
                digest: format!("sha256:{}", dir_digest(&path)?),
                path,
                version: found,
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            ProviderError::permanent(format!(
                "cannot read the chart `{}`: {e} (without `repo`, `chart` is a chart directory or .tgz, relative to the configuration)",
                path.display()
            ))
        })?;
        let meta = helm(
            cx,
            &["show".into(), "chart".into(), path.display().to_string()],
            None,
            &[],
        )
        .await?;
        let meta: J = serde_yaml::from_slice(&meta).unwrap_or(J::Null);
        return Ok(Chart {
            digest: format!("sha256:{}", sha256_hex(&bytes)),
            version: meta["version"].as_str().unwrap_or_default().to_string(),
            path,
        });
    };
    let Some(version) = version else {
        return Err(ProviderError::permanent(
            "a chart from a repository needs a `version` (or a range such as `~1.2`)",
        ));
    };
    let charts = cache_dir().join("charts");
    let index_path = charts.join("index.json");
    let key = format!("{repo} {chart} {version}");
    let index: BTreeMap<String, J> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if exact(version) {
        if let Some(hit) = index.get(&key) {
            let digest = hit["digest"].as_str().unwrap_or_default();
            let path = charts.join(format!("{}.tgz", digest.replace(':', "-")));
            if path.is_file() {
                return Ok(Chart {
                    path,
                    version: hit["version"].as_str().unwrap_or_default().to_string(),
                    digest: digest.to_string(),
                });
            }
        }
    }
    std::fs::create_dir_all(&charts)
        .map_err(|e| ProviderError::permanent(format!("cannot create `{}`: {e}", charts.display())))?;
    let tmp = charts.join(format!("pull-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&tmp)
        .map_err(|e| ProviderError::permanent(format!("cannot create `{}`: {e}", tmp.display())))?;
    let mut args: Vec<String> = vec!["pull".into()];
    if repo.starts_with("oci://") {
        args.push(format!("{}/{chart}", repo.trim_end_matches('/')));
        if loopback(repo) {
            args.push("--plain-http".into());
        }
    } else {
        args.extend([chart.to_string(), "--repo".into(), repo.to_string()]);
    }
    args.extend([
        "--version".into(),
        version.to_string(),
        "--destination".into(),
        tmp.display().to_string(),
    ]);
    let what = format!("pull chart `{chart}` {version} from {repo}");
    let pulled = cx
        .call(&what, || async { helm(cx, &args, None, &[]).await })
        .await;
    let result = pulled.and_then(|_| {
        let file = std::fs::read_dir(&tmp)
            .ok()
            .and_then(|mut r| r.find_map(|e| e.ok().map(|e| e.path())))
            .ok_or_else(|| ProviderError::permanent(format!("{what}: helm wrote no chart")))?;
        let bytes = std::fs::read(&file)
            .map_err(|e| ProviderError::permanent(format!("cannot read `{}`: {e}", file.display())))?;
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let found = name
            .strip_prefix(&format!("{chart}-"))
            .and_then(|v| v.strip_suffix(".tgz"))
            .unwrap_or(version)
            .to_string();
        let path = charts.join(format!("{}.tgz", digest.replace(':', "-")));
        std::fs::rename(&file, &path)
            .map_err(|e| ProviderError::permanent(format!("cannot cache the chart: {e}")))?;
        Ok(Chart {
            path,
            version: found,
            digest,
        })
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let got = result?;
    if exact(version) {
        let mut index = index;
        index.insert(key, json!({"digest": got.digest, "version": got.version}));
        let tmp = charts.join(format!("index-{}.json", uuid::Uuid::new_v4()));
        if std::fs::write(&tmp, serde_json::to_vec_pretty(&index).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, &index_path);
        }
    }
    Ok(got)
}

// ------------------------------------------------------------ values

/// `over` merged into `base` as Helm merges values files: maps deeply,
/// anything else replaced, `null` removes the key.
pub fn merge(base: &mut J, over: J) {
    match (base, over) {
        (J::Object(b), J::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(&k);
                } else if let Some(slot) = b.get_mut(&k) {
                    merge(slot, v);
                } else {
                    b.insert(k, v);
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The keys of a dotted path, `\.` keeping a dot in a key
/// (`service\.beta\.kubernetes\.io/x`).
fn path_keys(path: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                key.push('.');
            }
            '.' => keys.push(std::mem::take(&mut key)),
            c => key.push(c),
        }
    }
    keys.push(key);
    keys
}

/// A YAML values text as a map.
pub fn values_map(text: &str, field: &str) -> Result<J, ProviderError> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_yaml::from_str::<J>(text) {
        Ok(J::Null) => Ok(json!({})),
        Ok(v @ J::Object(_)) => Ok(v),
        Ok(_) => Err(ProviderError::permanent(format!(
            "`{field}` must be a YAML map of values"
        ))),
        Err(e) => Err(ProviderError::permanent(format!("`{field}` is not YAML: {e}"))),
    }
}

/// `set` (a map from dotted paths to values) set over `values`; the texts
/// of its string values (secrets, for [`Spec::secrets`]).
pub fn set_paths(values: &mut J, set: J) -> Result<Vec<String>, ProviderError> {
    let mut texts = Vec::new();
    let J::Object(set) = set else {
        return Ok(texts);
    };
    for (path, value) in set {
        let keys = path_keys(&path);
        let Some((last, parents)) = keys.split_last().filter(|_| keys.iter().all(|k| !k.is_empty())) else {
            return Err(ProviderError::permanent(format!(
                "the values path `{path}` has an empty key: write `a.b.c`"
            )));
        };
        if let J::String(text) = &value {
            texts.push(text.clone());
        }
        let mut at = &mut *values;
        for k in parents {
            if !at[k.as_str()].is_object() {
                at[k.as_str()] = json!({});
            }
            at = &mut at[k.as_str()];
        }
        at[last.as_str()] = value;
    }
    Ok(texts)
}

/// The release `d` (a `k8s.HelmRelease`) asks for: `values`, then
/// `override_values`, then each of `secret_values` at its path.
fn release_spec(d: &Desired) -> Result<Spec, ProviderError> {
    let mut values = values_map(d.str("values")?, "values")?;
    merge(
        &mut values,
        values_map(d.str("override_values")?, "override_values")?,
    );
    let secrets = set_paths(&mut values, d.json("secret_values")?)?;
    let mut extra = Vec::new();
    for text in d.strings("extra_manifests")? {
        let o: J = serde_yaml::from_str(&text).map_err(|e| {
            ProviderError::permanent(format!("an entry of `extra_manifests` is not YAML: {e}"))
        })?;
        extra.extend(documents(&serde_yaml::to_string(&o).unwrap_or_default())?);
    }
    let repo = d.opt_str("repo")?.map(str::to_string);
    let version = d.opt_str("version")?.map(str::to_string);
    let chart = d.str("chart")?.to_string();
    if repo.is_some() && version.is_none() {
        return Err(ProviderError::permanent(
            "a chart from a repository needs a `version` (or a range such as `~1.2`)",
        ));
    }
    Ok(Spec {
        release: d.name_or_default("name")?,
        namespace: d.str("namespace")?.to_string(),
        repo,
        chart,
        version,
        values,
        secrets,
        extra,
    })
}

/// One release to render: where the chart comes from, with what values, and
/// the objects applied with it.
#[derive(Debug, Clone)]
pub struct Spec {
    pub release: String,
    pub namespace: String,
    /// `None`: `chart` is a path (relative to the configuration).
    pub repo: Option<String>,
    pub chart: String,
    pub version: Option<String>,
    pub values: J,
    /// Secret texts among the values: what they render is recorded as secret.
    pub secrets: Vec<String>,
    /// More objects to apply with the chart's (after them: custom resources
    /// of the chart's CRDs, e.g. an issuer).
    pub extra: Vec<J>,
}

// ------------------------------------------------------------ rendering

/// What the cluster serves, for `--kube-version`, `--api-versions` and the
/// scope of each kind.
struct Served {
    kube_version: String,
    api_versions: BTreeSet<String>,
    /// `(group, kind)` → namespaced.
    namespaced: HashMap<(String, String), bool>,
}

async fn served(cx: &Cx, client: &Client) -> Result<Served, ProviderError> {
    let version = cx
        .call("get /version", || async {
            client
                .apiserver_version()
                .await
                .map_err(|e| kube_err("get /version", e))
        })
        .await?;
    let discovery = cx
        .call("discover the API", || async {
            kube::Discovery::new(client.clone())
                .run()
                .await
                .map_err(|e| kube_err("discover the API", e))
        })
        .await?;
    let mut api_versions = BTreeSet::new();
    let mut namespaced = HashMap::new();
    for g in discovery.groups() {
        for v in g.versions() {
            let gv = if g.name().is_empty() {
                v.to_string()
            } else {
                format!("{}/{v}", g.name())
            };
            for (r, caps) in g.versioned_resources(v) {
                api_versions.insert(format!("{gv}/{}", r.kind));
                namespaced.insert(
                    (g.name().to_string(), r.kind.clone()),
                    caps.scope == kube::discovery::Scope::Namespaced,
                );
            }
            api_versions.insert(gv);
        }
    }
    Ok(Served {
        kube_version: version.git_version,
        api_versions,
        namespaced,
    })
}

/// One object a chart rendered.
#[derive(Debug, Clone)]
struct Rendered {
    key: String,
    obj: J,
    /// One of the spec's `extra` objects: applied once the chart's are ready.
    extra: bool,
}

/// A hook: its object, the events it runs at, its weight and delete policies.
#[derive(Debug, Clone)]
struct Hook {
    key: String,
    obj: J,
    events: Vec<String>,
    weight: i64,
    policies: Vec<String>,
}

/// A chart rendered for a release.
struct Release {
    charts: Vec<Chart>,
    objects: Vec<Rendered>,
    hooks: Vec<Hook>,
    secrets: Vec<String>,
}

/// `Kind namespace/name`, or `Kind name` for a cluster-scoped object.
pub(super) fn key_of(obj: &J) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn group_of(obj: &J) -> String {
    let av = obj["apiVersion"].as_str().unwrap_or_default();
    av.split_once('/').map_or("", |(g, _)| g).to_string()
}

fn csv(annotation: &J) -> Vec<String> {
    annotation
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The objects of `helm template`'s output (lists flattened, empty documents
/// dropped).
fn documents(text: &str) -> Result<Vec<J>, ProviderError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = J::deserialize(doc).map_err(|e| {
            ProviderError::permanent(format!("the chart rendered YAML that cannot be read: {e}"))
        })?;
        match v {
            J::Null => {}
            J::Object(_)
                if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) && v["items"].is_array() =>
            {
                out.extend(v["items"].as_array().into_iter().flatten().cloned());
            }
            J::Object(_) => out.push(v),
            _ => {
                return Err(ProviderError::permanent(
                    "the chart rendered a YAML document that is not an object",
                ))
            }
        }
    }
    for o in &out {
        if !o["apiVersion"].is_string() || !o["kind"].is_string() || !o["metadata"]["name"].is_string() {
            return Err(ProviderError::permanent(format!(
                "the chart rendered an object without `apiVersion`, `kind` or `metadata.name`: {}",
                key_of(o)
            )));
        }
    }
    Ok(out)
}

/// A Secret's `stringData` as `data` (what the server keeps, and reads back).
fn normalize_secret(obj: &mut J) {
    if obj["kind"] != "Secret" {
        return;
    }
    let Some(J::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in string_data {
        let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        obj["data"][k] = J::String(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// What the server never keeps as written: a `status` (generated CRDs carry
/// one), `creationTimestamp: null`, an empty namespace (`namespace: ""`).
fn normalize(obj: &mut J) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(J::as_object_mut) {
        if meta.get("creationTimestamp").is_some_and(J::is_null) {
            meta.remove("creationTimestamp");
        }
        if meta.get("namespace").and_then(J::as_str) == Some("") {
            meta.remove("namespace");
        }
    }
}

/// Ports without a `protocol` get `TCP`, the server's default: server-side
/// apply refuses a Service or container port list whose key field is missing
/// (Kubernetes before 1.21), and the recorded object then reads back as applied.
fn default_protocols(obj: &mut J) {
    fn ports(list: &mut J) {
        for p in list.as_array_mut().into_iter().flatten() {
            if p.is_object() && p.get("protocol").is_none() {
                p["protocol"] = J::String("TCP".into());
            }
        }
    }
    fn containers(j: &mut J) {
        match j {
            J::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if k == "containers" || k == "initContainers" {
                        for c in v.as_array_mut().into_iter().flatten() {
                            if let Some(p) = c.get_mut("ports") {
                                ports(p);
                            }
                        }
                    } else {
                        containers(v);
                    }
                }
            }
            J::Array(xs) => xs.iter_mut().for_each(containers),
            _ => {}
        }
    }
    if obj["kind"] == "Service" {
        if let Some(p) = obj.get_mut("spec").and_then(|s| s.get_mut("ports")) {
            ports(p);
        }
    }
    if let Some(spec) = obj.get_mut("spec") {
        containers(spec);
    }
}

/// The group and kind a CRD defines.
fn crd_kind(crd: &J) -> (String, String) {
    let text = |v: &J| v.as_str().unwrap_or_default().to_string();
    (text(&crd["spec"]["group"]), text(&crd["spec"]["names"]["kind"]))
}

/// Renders the releases `specs` for the cluster `client` reaches, as one set
/// of objects and hooks.
async fn render(cx: &Cx, client: &Client, specs: &[Spec]) -> Result<Release, ProviderError> {
    let served = served(cx, client).await?;
    let mut all = Release {
        charts: Vec::new(),
        objects: Vec::new(),
        hooks: Vec::new(),
        secrets: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for spec in specs {
        let one = render_one(cx, spec, &served, &mut seen).await?;
        all.charts.push(one.chart);
        all.objects.extend(one.objects);
        all.hooks.extend(one.hooks);
        all.secrets.extend(spec.secrets.iter().cloned());
    }
    // Stable: the charts' own order within a kind.
    all.objects
        .sort_by_key(|r| install_rank(r.obj["kind"].as_str().unwrap_or_default()));
    Ok(all)
}

/// What one release renders.
struct One {
    chart: Chart,
    objects: Vec<Rendered>,
    hooks: Vec<Hook>,
}

async fn render_one(
    cx: &Cx,
    spec: &Spec,
    served: &Served,
    seen: &mut BTreeSet<String>,
) -> Result<One, ProviderError> {
    let name = spec.release.clone();
    let ns = spec.namespace.clone();
    let secrets = &spec.secrets;
    let chart = fetch(cx, spec).await?;
    let input = serde_json::to_vec(&spec.values).map_err(|e| ProviderError::permanent(e.to_string()))?;
    let template = |api_versions: &BTreeSet<String>| {
        let mut args: Vec<String> = vec![
            "template".into(),
            name.clone(),
            chart.path.display().to_string(),
            "--namespace".into(),
            ns.clone(),
            "--include-crds".into(),
            "--skip-tests".into(),
            "--kube-version".into(),
            served.kube_version.clone(),
            "--values".into(),
            "-".into(),
        ];
        for v in api_versions {
            args.push("--api-versions".into());
            args.push(v.clone());
        }
        args
    };
    let mut api_versions = served.api_versions.clone();
    let mut objs = documents(&String::from_utf8_lossy(
        &helm(cx, &template(&api_versions), Some(&input), secrets).await?,
    ))?;
    // The chart's own CRDs are served once it is applied: render as they will be.
    let own: BTreeSet<String> = objs
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .flat_map(|o| {
            let (group, kind) = crd_kind(o);
            o["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["name"].as_str())
                .flat_map(|v| [format!("{group}/{v}"), format!("{group}/{v}/{kind}")])
                .collect::<Vec<_>>()
        })
        .collect();
    if !own.is_subset(&api_versions) {
        api_versions.extend(own);
        objs = documents(&String::from_utf8_lossy(
            &helm(cx, &template(&api_versions), Some(&input), secrets).await?,
        ))?;
    }
    let from_chart = objs.len();
    objs.extend(spec.extra.iter().cloned());
    // Scopes: what the cluster serves, and the kinds the chart's CRDs add.
    let mut namespaced = served.namespaced.clone();
    for o in objs.iter().filter(|o| o["kind"] == "CustomResourceDefinition") {
        namespaced.insert(crd_kind(o), o["spec"]["scope"] == "Namespaced");
    }
    let mut objects = Vec::new();
    let mut hooks = Vec::new();
    for (i, mut o) in objs.into_iter().enumerate() {
        let extra = i >= from_chart;
        normalize(&mut o);
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        // A kind nobody serves yet is taken as namespaced (most are); the
        // server's answer decides when it is applied.
        let is_namespaced = namespaced
            .get(&(group_of(&o), kind.clone()))
            .copied()
            .unwrap_or(true);
        if is_namespaced {
            if !o["metadata"]["namespace"].is_string() {
                o["metadata"]["namespace"] = J::String(ns.clone());
            }
        } else if let Some(m) = o["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        normalize_secret(&mut o);
        default_protocols(&mut o);
        let mut key = key_of(&o);
        if !seen.insert(key.clone()) {
            key = format!("{} {key}", o["apiVersion"].as_str().unwrap_or_default());
            if !seen.insert(key.clone()) {
                return Err(ProviderError::permanent(format!(
                    "the chart renders `{key}` twice"
                )));
            }
        }
        let annotations = &o["metadata"]["annotations"];
        let events = csv(&annotations["helm.sh/hook"]);
        if events.is_empty() {
            objects.push(Rendered { key, obj: o, extra });
            continue;
        }
        // Test hooks run with `helm test`, never on install.
        if events.iter().all(|e| e.starts_with("test")) {
            continue;
        }
        let weight = annotations["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let mut policies = csv(&annotations["helm.sh/hook-delete-policy"]);
        if policies.is_empty() {
            policies.push("before-hook-creation".into());
        }
        hooks.push(Hook {
            key,
            obj: o,
            events,
            weight,
            policies,
        });
    }
    Ok(One {
        chart,
        objects,
        hooks,
    })
}

/// A rendered object as a value: the data of a Secret, and every string that
/// holds a secret value (or its base64), are secret; an object larger than
/// [`LARGE`] is its fingerprint.
fn as_value(cx: &Cx, obj: &J, secrets: &[String]) -> Value {
    let text = obj.to_string();
    if text.len() > LARGE {
        return s(format!(
            "(large object: {} KiB, recorded by fingerprint {})",
            text.len() / 1024,
            cx.secrets.fingerprint(&text)
        ));
    }
    let b64: Vec<String> = secrets
        .iter()
        .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
        .collect();
    // Also as `toJson` writes them: JSON-escaped, `<`, `>`, `&` as `\u003c`….
    let escaped: Vec<String> = secrets
        .iter()
        .map(|s| {
            let j = serde_json::to_string(s).unwrap_or_default();
            j.trim_matches('"')
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
        })
        .collect();
    let hidden = |t: &str| {
        secrets.iter().any(|s| !s.is_empty() && t == s.as_str())
            || secrets
                .iter()
                .chain(&b64)
                .chain(&escaped)
                .any(|s| s.len() >= 4 && t.contains(s.as_str()))
    };
    fn walk(j: &J, secret_data: bool, hidden: &dyn Fn(&str) -> bool) -> Value {
        match j {
            J::String(t) if secret_data || hidden(t) => Value::secret(Value::str(t.as_str())),
            // A secret rendered unquoted (`pin: {{ .Values.pin }}`) is a number or bool.
            J::Number(_) | J::Bool(_) if hidden(&j.to_string()) => Value::secret(Value::from_json(j)),
            J::Object(m) => Value::record(
                m.iter()
                    .map(|(k, v)| (k.clone(), walk(v, secret_data, hidden)))
                    .collect(),
            ),
            J::Array(xs) => Value::list(xs.iter().map(|x| walk(x, secret_data, hidden)).collect()),
            scalar => Value::from_json(scalar),
        }
    }
    let mut out = IndexMap::default();
    let J::Object(m) = obj else {
        return walk(obj, false, &hidden);
    };
    for (k, v) in m {
        let secret_data = obj["kind"] == "Secret" && k == "data";
        out.insert(k.clone(), walk(v, secret_data, &hidden));
    }
    Value::record(out)
}

impl Release {
    /// The rendered inputs: `objects` and `hooks`, by key.
    fn rendered(&self, cx: &Cx) -> IndexMap<String, Value> {
        let objects = self
            .objects
            .iter()
            .map(|r| (r.key.clone(), as_value(cx, &r.obj, &self.secrets)))
            .collect();
        let hooks = self
            .hooks
            .iter()
            .map(|h| (h.key.clone(), as_value(cx, &h.obj, &self.secrets)))
            .collect();
        IndexMap::from_iter([
            ("objects".to_string(), Value::record(objects)),
            ("hooks".to_string(), Value::record(hooks)),
        ])
    }
}

// ------------------------------------------------------------ applying

/// Whether a workload is ready: `None` while it rolls out, an error when it failed.
fn workload_ready(obj: &J) -> Result<bool, String> {
    let st = &obj["status"];
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = st["observedGeneration"].as_i64().unwrap_or(0) >= generation;
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let n = |f: &str| st[f].as_i64().unwrap_or(0);
    let condition = |t: &str| {
        st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    Ok(match obj["kind"].as_str().unwrap_or_default() {
        "Deployment" => observed && n("updatedReplicas") >= want && n("availableReplicas") >= want,
        "StatefulSet" => observed && n("readyReplicas") >= want,
        "DaemonSet" => {
            // `OnDelete`: pods are updated only when deleted by hand; ready is ready.
            let on_delete = obj["spec"]["updateStrategy"]["type"] == "OnDelete";
            observed
                && n("numberReady") >= n("desiredNumberScheduled")
                && (on_delete || n("updatedNumberScheduled") >= n("desiredNumberScheduled"))
        }
        "Job" => {
            if condition("Failed") {
                return Err("the job failed".into());
            }
            condition("Complete")
        }
        "Pod" => match st["phase"].as_str() {
            Some("Failed") => return Err("the pod failed".into()),
            Some("Succeeded") => true,
            _ => false,
        },
        _ => true,
    })
}

const WAITED: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "Job"];

/// Waits until `obj` (applied) is ready, as [`workload_ready`] says.
async fn wait_workload(cx: &Cx, client: &Client, obj: &J, off: Option<&str>) -> Result<(), ProviderError> {
    let what = format!("{} to be ready", key_of(obj));
    cx.wait_until(&what, off, || async {
        let Some(live) = get_object(cx, client, obj, None).await? else {
            return Err(ProviderError::permanent(format!("{} is gone", key_of(obj))));
        };
        match workload_ready(&live) {
            Ok(true) => Ok(Some(())),
            Ok(false) => Ok(None),
            Err(e) => Err(ProviderError::permanent(format!("{}: {e}", key_of(obj)))),
        }
    })
    .await
}

/// Runs the hooks of `event` (`pre-install`, …) in order of weight, kind and
/// name, honouring their delete policies.
async fn run_hooks(
    cx: &Cx,
    client: &Client,
    hooks: &[Hook],
    event: &str,
    runs_pods: bool,
) -> Result<(), ProviderError> {
    let mut now: Vec<&Hook> = hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == event))
        .collect();
    now.sort_by(|a, b| {
        (
            a.weight,
            install_rank(a.obj["kind"].as_str().unwrap_or_default()),
            &a.key,
        )
            .cmp(&(
                b.weight,
                install_rank(b.obj["kind"].as_str().unwrap_or_default()),
                &b.key,
            ))
    });
    for h in now {
        let policy = |p: &str| h.policies.iter().any(|x| x == p);
        if policy("before-hook-creation") {
            delete_object(cx, client, &h.obj, None).await?;
        }
        apply_object(cx, client, &h.obj, None).await?;
        let kind = h.obj["kind"].as_str().unwrap_or_default();
        let result = if runs_pods && matches!(kind, "Job" | "Pod") {
            wait_workload(cx, client, &h.obj, None).await
        } else {
            Ok(())
        };
        match result {
            Ok(()) if policy("hook-succeeded") => delete_object(cx, client, &h.obj, None).await?,
            Ok(()) => {}
            Err(e) => {
                if policy("hook-failed") {
                    delete_object(cx, client, &h.obj, None).await?;
                }
                return Err(ProviderError::permanent(format!(
                    "the {event} hook {}: {}",
                    h.key, e.message
                )));
            }
        }
    }
    Ok(())
}

/// A kind made of Helm releases: `k8s.HelmRelease`, and the support
/// services, each the upstream chart with values computed from its fields.
#[async_trait::async_trait]
pub trait ChartKind: Send + Sync + 'static {
    /// What the kind does with its fields (`rendered` is `objects`, `hooks`).
    fn fields(&self) -> Fields;

    /// The releases `d` asks for, in order; reads every input the kind uses.
    /// `cx` derives generated secrets (`Cx::offline` when only validating).
    fn specs(&self, cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError>;

    /// What the workload of the first release may do in AWS when its cluster
    /// is on EKS: the inline policy of the IAM role its service account
    /// assumes (`identity.rs`). `None`: it calls no AWS API. A kind that
    /// answers lists `aws_role` among its rendered and read fields.
    fn aws_policy(&self, _d: &Desired, _eks: &Eks) -> Result<Option<J>, ProviderError> {
        Ok(None)
    }

    /// Whether applying waits for the releases' workloads to be ready (a
    /// support service always does; a release as its `wait` says).
    fn wait(&self, _d: &Desired) -> Result<bool, ProviderError> {
        Ok(true)
    }

    /// The outputs once the releases are applied (waiting for what they name).
    async fn outputs(
        &self,
        _cx: &Cx,
        _client: &Client,
        _d: &Desired,
        _charts: &[ChartInfo],
        _objects: &[J],
    ) -> Result<IndexMap<String, Value>, ProviderError> {
        Ok(IndexMap::default())
    }
}

/// What was installed of one chart.
#[derive(Debug, Clone)]
pub struct ChartInfo {
    pub version: String,
    pub digest: String,
}

/// The provider of a [`ChartKind`].
pub struct Charted<K>(pub Arc<Kube>, pub K);

/// The releases of a resource as rendered for its cluster.
struct ForCluster {
    client: Client,
    specs: Vec<Spec>,
    release: Release,
    identity: Option<Identity>,
}

impl<K: ChartKind> Charted<K> {
    /// The releases of `d` rendered for its cluster, the cluster's client,
    /// and the IAM role of the first release's service account (on EKS).
    async fn rendered(&self, cx: &Cx, d: &Desired) -> Result<ForCluster, ProviderError> {
        // No `helm`: said first, before the cluster is asked anything.
        helm_program()?;
        let mut specs = self.1.specs(cx, d)?;
        let identity = self.identity(cx, d, &specs)?;
        if let (Some(id), Some(first)) = (&identity, specs.first_mut()) {
            merge(&mut first.values, id.values());
        }
        let client = self.0.client(cx, d).await?;
        let release = render(cx, &client, &specs).await?;
        Ok(ForCluster {
            client,
            specs,
            release,
            identity,
        })
    }

    /// The role of the first release's service account (named as the
    /// release, upstream's default), when the cluster is on EKS and the kind
    /// calls AWS.
    fn identity(&self, cx: &Cx, d: &Desired, specs: &[Spec]) -> Result<Option<Identity>, ProviderError> {
        let (Some(eks), Some(first)) = (Eks::of(cx, d), specs.first()) else {
            return Ok(None);
        };
        Ok(self
            .1
            .aws_policy(d, &eks)?
            .map(|policy| Identity::new(&eks, &first.release, &first.namespace, &first.release, policy)))
    }

    /// The rendered inputs: the objects, the hooks, and the role if the kind has one.
    fn inputs(&self, cx: &Cx, r: &ForCluster) -> IndexMap<String, Value> {
        let mut inputs = r.release.rendered(cx);
        if self.1.fields().rendered.contains(&identity::FIELD) {
            inputs.insert(identity::FIELD.to_string(), Identity::value(r.identity.as_ref()));
        }
        inputs
    }

    async fn apply(
        &self,
        cx: &Cx,
        d: &Desired,
        prior: Option<&ResourceState>,
    ) -> Result<Applied, ProviderError> {
        let rendered = self.rendered(cx, d).await?;
        let (client, release) = (&rendered.client, &rendered.release);
        let can = abilities(cx, cluster_of(d));
        // The role first: the service account names it from the start.
        if let Some(id) = &rendered.identity {
            id.ensure(cx, self.0.aws()).await?;
        }
        for spec in &rendered.specs {
            ensure_namespace(cx, client, &spec.namespace).await?;
        }
        let (pre, post) = if prior.is_some() {
            ("pre-upgrade", "post-upgrade")
        } else {
            ("pre-install", "post-install")
        };
        // The chart's CRDs come before its hooks, as Helm installs `crds/` first:
        // a pre-install hook may use them.
        let crds: Vec<J> = release
            .objects
            .iter()
            .filter(|r| r.obj["kind"] == "CustomResourceDefinition")
            .map(|r| r.obj.clone())
            .collect();
        if !crds.is_empty() {
            self.0.apply_set(cx, d, None, &crds, None).await?;
        }
        run_hooks(cx, client, &release.hooks, pre, can.runs_pods).await?;
        let objects: Vec<J> = release
            .objects
            .iter()
            .filter(|r| !r.extra)
            .map(|r| r.obj.clone())
            .collect();
        let (client, id) = self.0.apply_set(cx, d, None, &objects, None).await?;
        if self.1.wait(d)? && can.runs_pods {
            let off = "set `wait = false` on it to not wait (or `runs_pods = false` on its cluster if it runs no pods)";
            for o in objects
                .iter()
                .filter(|o| WAITED.contains(&o["kind"].as_str().unwrap_or_default()))
            {
                wait_workload(cx, &client, o, Some(off)).await?;
            }
        }
        run_hooks(cx, &client, &release.hooks, post, can.runs_pods).await?;
        // Custom resources of the chart's CRDs (an issuer), once its webhooks run.
        let mut ids = vec![id];
        for r in release.objects.iter().filter(|r| r.extra) {
            let got = apply_object(cx, &client, &r.obj, None).await?;
            ids.push(object_id(&got));
        }
        let id = ids
            .into_iter()
            .filter(|i| !i.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        if let Some(p) = prior {
            prune(cx, &client, &p.provider_id, &id).await?;
            // A role no longer wanted (the cluster is no longer on EKS, the
            // kind no longer calls AWS) goes with what used it.
            let keep = rendered.identity.as_ref().map(|i| i.name.as_str());
            identity::remove(cx, self.0.aws(), p, keep).await?;
        }
        let charts: Vec<ChartInfo> = release
            .charts
            .iter()
            .map(|c| ChartInfo {
                version: c.version.clone(),
                digest: c.digest.clone(),
            })
            .collect();
        Ok(Applied {
            rendered: self.inputs(cx, &rendered),
            provider_id: id,
            outputs: self.1.outputs(cx, &client, d, &charts, &objects).await?,
        })
    }
}

/// `k8s.HelmRelease`: one chart, as the configuration says.
pub struct HelmRelease;

#[async_trait::async_trait]
impl ChartKind for HelmRelease {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &["objects", "hooks"],
            in_place: &[
                "chart",
                "repo",
                "version",
                "values",
                "override_values",
                "secret_values",
                "extra_manifests",
            ],
            reads: &["objects"],
            outputs: &["chart_version", "chart_digest"],
        }
    }

    fn specs(&self, _cx: &Cx, d: &Desired) -> Result<Vec<Spec>, ProviderError> {
        Ok(vec![release_spec(d)?])
    }

    fn wait(&self, d: &Desired) -> Result<bool, ProviderError> {
        d.bool("wait")
    }

    async fn outputs(
        &self,
        _cx: &Cx,
        _client: &Client,
        _d: &Desired,
        charts: &[ChartInfo],
        _objects: &[J],
    ) -> Result<IndexMap<String, Value>, ProviderError> {
        let first = charts.first();
        Ok(IndexMap::from_iter([
            (
                "chart_version".to_string(),
                s(first.map(|c| c.version.clone()).unwrap_or_default()),
            ),
            (
                "chart_digest".to_string(),
                s(first.map(|c| c.digest.clone()).unwrap_or_default()),
            ),
        ]))
    }
}

/// The recorded objects of `prior` (its rendered input `objects`) as they are
/// on the server, where the record speaks (secrets fingerprinted): `None` when
/// none is left.
pub(super) async fn read_objects(
    cx: &Cx,
    client: &Client,
    prior: &ResourceState,
) -> Result<Option<J>, ProviderError> {
    let recorded = prior.inputs.get("objects").and_then(J::as_object);
    let mut objects = serde_json::Map::new();
    for id in prior.provider_id.split(',').filter(|i| !i.is_empty()) {
        let Some(stub) = parse_object_id(id) else { continue };
        let Some(live) = super::found(get_object(cx, client, &stub, None).await)?.flatten() else {
            continue;
        };
        // A key is `Kind ns/name`, with the API version before it when two
        // objects of a chart share one.
        let plain = key_of(&stub);
        let long = format!("{} {plain}", stub["apiVersion"].as_str().unwrap_or_default());
        let Some((key, r)) =
            recorded.and_then(|r| r.get_key_value(&plain).or_else(|| r.get_key_value(&long)))
        else {
            continue;
        };
        let shown = match r {
            J::String(_) => r.clone(),
            r => project(cx, r, &live),
        };
        let key = key.clone();
        objects.insert(key, shown);
    }
    if objects.is_empty() && !prior.provider_id.is_empty() {
        return Ok(None);
    }
    Ok(Some(J::Object(objects)))
}

/// What `live` has where `recorded` (stored form) speaks: secrets
/// fingerprinted as the record has them, large objects kept as recorded.
fn project(cx: &Cx, recorded: &J, live: &J) -> J {
    let fingerprint = || {
        let text = serde_json::to_string(live).unwrap_or_default();
        json!({"$sensitive": cx.secrets.fingerprint(&text)})
    };
    let same_shape = match (recorded, live) {
        (J::Object(_), J::Object(_)) => true,
        (J::Array(r), J::Array(l)) => r.len() == l.len(),
        _ => false,
    };
    match (recorded, live) {
        (J::Object(r), _) if r.contains_key("$sensitive") => fingerprint(),
        // What held a secret and changed shape is shown as a secret that changed,
        // never in the clear.
        _ if !same_shape && tpt_planner::state::is_sensitive(recorded) => fingerprint(),
        (J::Object(r), J::Object(l)) => J::Object(
            r.iter()
                .map(|(k, rv)| (k.clone(), project(cx, rv, l.get(k).unwrap_or(&J::Null))))
                .collect(),
        ),
        (J::Array(r), J::Array(l)) if r.len() == l.len() => {
            J::Array(r.iter().zip(l).map(|(rv, lv)| project(cx, rv, lv)).collect())
        }
        // Quantities and numbers as the server keeps them: `1` for `1.0`.
        (J::Number(a), J::Number(b)) if a.as_f64() == b.as_f64() => recorded.clone(),
        _ => live.clone(),
    }
}

#[async_trait::async_trait]
impl<K: ChartKind> Provider for Charted<K> {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("a chart is applied as a set of objects tpt records with their inventory (and hooks); a release made elsewhere (by `helm install`) cannot be adopted: uninstall it and let tpt apply the chart")
    }

    fn fields(&self) -> Fields {
        self.1.fields()
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.reference("cluster")?;
        self.1.wait(d)?;
        self.1.specs(&Cx::offline(&d.address), d).map(|_| ())
    }

    async fn render(&self, cx: &Cx, d: &Desired) -> Result<IndexMap<String, Value>, ProviderError> {
        let rendered = self.rendered(cx, d).await?;
        Ok(self.inputs(cx, &rendered))
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, None).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        self.apply(cx, d, Some(prior)).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        // Hooks left behind (no `hook-succeeded` policy) go first: one may be a
        // custom resource of the release's own CRDs, deleted with the set.
        let client = self.0.client_of(cx, prior).await?;
        if let Some(J::Object(hooks)) = prior.inputs.get("hooks") {
            for h in hooks.values().filter(|h| h.is_object()) {
                delete_object(cx, &client, h, None).await?;
            }
        }
        self.0.delete_set(cx, prior).await?;
        identity::remove(cx, self.0.aws(), prior, None).await
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.0.client_of(cx, prior).await?;
        let Some(objects) = read_objects(cx, &client, prior).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::from([("objects".to_string(), objects)]);
        if self.1.fields().reads.contains(&identity::FIELD) {
            inputs.insert(
                identity::FIELD.to_string(),
                identity::read(cx, self.0.aws(), prior).await?,
            );
        }
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        // The intent recorded what was planned: its objects are found without
        // rendering (the intent's secret values are not recorded).
        if let Some(Value::Record(planned)) = d.inputs.get("objects") {
            let objects: Vec<J> = planned
                .values()
                .map(crate::provider::reveal)
                .filter(|o| o.is_object())
                .collect();
            return self.0.find_set(cx, d, &objects, None).await;
        }
        let release = self.rendered(cx, d).await?.release;
        let objects: Vec<J> = release.objects.into_iter().map(|r| r.obj).collect();
        self.0.find_set(cx, d, &objects, None).await
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // Server-side apply is idempotent: finishing the interrupted install is safe.
        self.apply(cx, d, None).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_merge_as_helm_merges_them() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"});
        merge(&mut base, json!({"a": {"b": 3}, "d": [3], "e": null}));
        assert_eq!(base, json!({"a": {"b": 3, "c": 2}, "d": [3]}));
    }

    #[test]
    fn dotted_paths_keep_escaped_dots() {
        assert_eq!(path_keys("a.b"), ["a", "b"]);
        assert_eq!(
            path_keys(r"annotations.service\.beta\.kubernetes\.io/x"),
            ["annotations", "service.beta.kubernetes.io/x"]
        );
    }

    #[test]
    fn exact_versions_and_ranges() {
        assert!(exact("1.2.3"));
        assert!(exact("v1.15.3"));
        assert!(!exact("~1.2"));
        assert!(!exact("1.2.x"));
        assert!(!exact(">=1.0"));
    }

    #[test]
    fn secret_string_data_is_recorded_as_data() {
        let mut o = json!({"kind": "Secret", "stringData": {"p": "hunter22"}, "data": {"q": "eA=="}});
        normalize_secret(&mut o);
        assert_eq!(
            o,
            json!({"kind": "Secret", "data": {"q": "eA==", "p": "aHVudGVyMjI="}})
        );
    }

    /// Every form a secret value can take in what a chart renders is recorded
    /// as a secret: quoted, unquoted (a number), inside a string, JSON-escaped,
    /// in base64, a Secret's data; and a list that held one and changed length
    /// reads back as a changed secret, never in the clear.
    #[test]
    fn secrets_are_found_in_every_form() {
        let cx = Cx::offline("r");
        let secrets = vec!["123456".to_string(), "p&ss<w>rd".to_string()];
        let obj = json!({"kind": "ConfigMap", "data": {
            "pin": 123456,
            "url": "postgres://u:123456@db",
            "json": "{\"password\":\"p\\u0026ss\\u003cw\\u003erd\"}",
            "b64": "MTIzNDU2",
            "plain": "hello",
        }});
        let stored = tpt_planner::state::store(
            &as_value(&cx, &obj, &secrets),
            &tpt_planner::state::Sealer::new(b"k"),
        );
        let text = stored.to_string();
        for leak in ["123456", "p&ss", "p\\u0026ss", "MTIzNDU2"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert_eq!(stored["data"]["plain"], "hello");
        let recorded = json!({"env": [{"name": "P", "value": {"$sensitive": "x"}}]});
        let live = json!({"env": [{"name": "P", "value": "123456"}, {"name": "FOO", "value": "1"}]});
        let shown = project(&cx, &recorded, &live).to_string();
        assert!(!shown.contains("123456"), "{shown}");
        assert!(shown.contains("$sensitive"), "{shown}");
    }

    #[test]
    fn pruning_ignores_the_api_version() {
        assert_eq!(
            super::super::same_object("policy/v1beta1:PodDisruptionBudget:ns:web"),
            super::super::same_object("policy/v1:PodDisruptionBudget:ns:web")
        );
        assert_ne!(
            super::super::same_object("v1:ConfigMap:ns:web"),
            super::super::same_object("v1:Secret:ns:web")
        );
    }

    #[test]
    fn ports_get_the_default_protocol() {
        let mut svc =
            json!({"kind": "Service", "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        default_protocols(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][1]["protocol"], "UDP");
        let mut d = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": 8080}]}]}}}});
        default_protocols(&mut d);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
    }

    #[test]
    fn workloads_are_ready_when_rolled_out() {
        let d = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(workload_ready(&d), Ok(false));
        let ds = json!({"kind": "DaemonSet", "spec": {"updateStrategy": {"type": "OnDelete"}},
            "status": {"numberReady": 3, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}});
        assert_eq!(workload_ready(&ds), Ok(true));
        let j = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert!(workload_ready(&j).is_err());
    }
}

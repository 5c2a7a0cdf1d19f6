//! Chart sources for the Helm tests, served on loopback during a test: an
//! HTTP chart repository (`index.yaml` and packaged charts, made by `helm
//! package` and `helm repo index`) and a read-only OCI registry (the
//! distribution API's pull side: `/v2/`, manifests, blobs, tag lists) holding
//! the same charts as Helm pushes them. Both are small servers of the test's
//! own; the charts and `helm` are real.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sha2::Digest;

/// The `helm` program the tests use: `TPT_HELM`, else `helm` on PATH; `None`
/// (and why, printed) when there is none, unless `TPT_REQUIRE_HELM` is set (CI).
pub fn helm() -> Option<PathBuf> {
    let found = std::env::var_os("TPT_HELM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .map(|d| d.join("helm"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("TPT_REQUIRE_HELM").is_none(),
            "TPT_REQUIRE_HELM is set but no helm was found (TPT_HELM or PATH)"
        );
        eprintln!("skipping: no `helm` program (run `bash tests/targets/install-helm.sh` and set TPT_HELM=/opt/helm-3.17.2/helm)");
    }
    found
}

/// A file served: its content type and bytes.
type Files = BTreeMap<String, (String, Vec<u8>)>;

/// A loopback HTTP server of fixed files; stops with the test process.
pub struct Server {
    pub url: String,
}

fn respond(mut s: TcpStream, files: &Files) {
    let mut reader = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Headers are read and dropped.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = path.split('?').next().unwrap_or("/");
    let (status, ctype, body, digest) = match files.get(path) {
        Some((t, b)) => ("200 OK", t.as_str(), b.as_slice(), Some(sha256(b))),
        None => (
            "404 Not Found",
            "application/json",
            &b"{\"errors\":[{\"code\":\"NOT_FOUND\"}]}"[..],
            None,
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(d) = digest {
        head.push_str(&format!("Docker-Content-Digest: {d}\r\n"));
    }
    head.push_str("Docker-Distribution-API-Version: registry/2.0\r\n\r\n");
    let _ = s.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = s.write_all(body);
    }
    let _ = s.flush();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

fn serve(listener: TcpListener, files: Files) {
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || respond(s, &files));
        }
    });
}

fn sha256(bytes: &[u8]) -> String {
    let h = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn run(helm: &Path, args: &[&str]) {
    let out = Command::new(helm).args(args).output().expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `helm package` of `chart` at `version` (app version `app`): the archive's bytes.
pub fn package(helm: &Path, chart: &Path, version: &str, app: &str, into: &Path) -> PathBuf {
    run(
        helm,
        &[
            "package",
            &chart.display().to_string(),
            "--version",
            version,
            "--app-version",
            app,
            "--destination",
            &into.display().to_string(),
        ],
    );
    let name = chart
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    into.join(format!("{name}-{version}.tgz"))
}

/// `helm package` of every chart directory in `parent`, at its own version.
pub fn package_all(helm: &Path, parent: &Path, into: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .expect("the charts")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    dirs.sort();
    for d in &dirs {
        run(
            helm,
            &[
                "package",
                &d.display().to_string(),
                "--destination",
                &into.display().to_string(),
            ],
        );
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(into)
        .expect("the packages")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    out.sort();
    out
}

/// A chart repository serving `archives` (made by [`package`] in `dir`).
pub fn repository(helm: &Path, dir: &Path, archives: &[PathBuf]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    run(
        helm,
        &["repo", "index", &dir.display().to_string(), "--url", &url],
    );
    let mut files = Files::new();
    let index = std::fs::read(dir.join("index.yaml")).expect("index.yaml");
    files.insert("/index.yaml".into(), ("application/x-yaml".into(), index));
    for a in archives {
        let name = a
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(a).expect("a chart archive");
        files.insert(format!("/{name}"), ("application/gzip".into(), bytes));
    }
    serve(listener, files);
    Server { url }
}

/// An OCI registry holding `archives` under `REPO/<chart>` as Helm pushes
/// them (a config blob of the chart's metadata, one layer: the archive);
/// `url` is `oci://127.0.0.1:PORT/REPO`.
pub fn registry(repo: &str, charts: &[(&str, &str, PathBuf)]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let host = listener.local_addr().expect("an address").to_string();
    let mut files = Files::new();
    files.insert("/v2/".into(), ("application/json".into(), b"{}".to_vec()));
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, version, archive) in charts {
        let layer = std::fs::read(archive).expect("a chart archive");
        let config =
            serde_json::to_vec(&serde_json::json!({"name": name, "version": version, "apiVersion": "v2"}))
                .expect("json");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
        }))
        .expect("json");
        let base = format!("/v2/{repo}/{name}");
        let mtype = "application/vnd.oci.image.manifest.v1+json".to_string();
        files.insert(
            format!("{base}/manifests/{version}"),
            (mtype.clone(), manifest.clone()),
        );
        files.insert(
            format!("{base}/manifests/{}", sha256(&manifest)),
            (mtype, manifest),
        );
        files.insert(
            format!("{base}/blobs/{}", sha256(&config)),
            ("application/octet-stream".into(), config),
        );
        files.insert(
            format!("{base}/blobs/{}", sha256(&layer)),
            ("application/octet-stream".into(), layer),
        );
        tags.entry((*name).to_string())
            .or_default()
            .push((*version).to_string());
    }
    for (name, versions) in tags {
        let list =
            serde_json::to_vec(&serde_json::json!({"name": format!("{repo}/{name}"), "tags": versions}))
                .expect("json");
        files.insert(
            format!("/v2/{repo}/{name}/tags/list"),
            ("application/json".into(), list),
        );
    }
    serve(listener, files);
    Server {
        url: format!("oci://{host}/{repo}"),
    }
}

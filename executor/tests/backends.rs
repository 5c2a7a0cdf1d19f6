//! The state backends, one contract: the same suite runs against the local
//! files, the Kubernetes backend on a real kube-apiserver
//! (`TPT_TEST_KUBECONFIG`) and the S3 backend on moto (`TPT_TEST_MOTO_URL`),
//! both started by `.ci/run` through `tests/targets/`. CI sets
//! `TPT_REQUIRE_KUBE` / `TPT_REQUIRE_MOTO`, so there a test fails when its
//! server is missing; a local run without one says why it skips.

mod support;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use tpt_executor::backend::{KubernetesBackend, LocalBackend, S3Backend};
use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::State;

fn info(id: &str) -> LockInfo {
    LockInfo {
        id: id.into(),
        who: "ana@ci".into(),
        when: "2026-11-25T08:00:00Z".into(),
        operation: "apply".into(),
    }
}

/// What the backend keeps where people can see it, for the suite's checks.
struct Raw<'a> {
    /// The stored state text of `env` (`None`: none).
    state: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    /// The stored backup text of `env`.
    backup: &'a dyn Fn(&str) -> Option<String>,
    /// Puts bytes in place of the state of `env`, behind the backend's back.
    corrupt: &'a dyn Fn(&str),
}

/// The contract every backend keeps: `b` and `other` are two clients of the
/// same storage, as two machines would be.
fn contract(b: &dyn StateBackend, other: &dyn StateBackend, raw: &Raw) {
    // The state key: made once, and the same for everyone using the storage.
    let key = b.key().expect("a key is made");
    assert_eq!(key.len(), 64, "32 random bytes as hex");
    assert_eq!(other.key().ok(), Some(key.clone()));
    assert_eq!(b.key().ok(), Some(key));

    // State: none, created, replaced with the previous version as the backup.
    assert!(matches!(b.read("prod"), Ok(None)));
    let mut state = State::new("prod", "lineage-c".into());
    b.write("prod", &state).expect("the first write creates it");
    state.serial = 1;
    b.write("prod", &state).expect("the second write replaces it");
    assert_eq!(b.read("prod").ok().flatten(), Some(state.clone()));
    assert_eq!(other.read("prod").ok().flatten(), Some(state.clone()));
    assert!(
        (raw.backup)("prod").unwrap_or_default().contains("\"serial\": 0"),
        "the previous version is the backup"
    );
    // Environments are apart.
    assert!(matches!(b.read("dev"), Ok(None)));

    // The lock: one holder; the next caller learns who; unlock needs the ID.
    b.lock("prod", &info("one")).expect("the first lock");
    match b.lock("prod", &info("two")) {
        Err(BackendError::Locked(holder)) => {
            assert_eq!((holder.id.as_str(), holder.who.as_str()), ("one", "ana@ci"))
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(matches!(
        other.lock("prod", &info("three")),
        Err(BackendError::Locked(_))
    ));
    assert_eq!(
        other.lock_holder("prod").ok().flatten().map(|h| h.id),
        Some("one".into())
    );
    assert!(matches!(
        b.unlock("prod", "two"),
        Err(BackendError::NotLocked { .. })
    ));
    b.lock("dev", &info("dev-lock"))
        .expect("another environment's lock is its own");
    b.unlock("prod", "one").expect("unlock by ID");
    assert!(matches!(b.lock_holder("prod"), Ok(None)));
    other.lock("prod", &info("three")).expect("free again");
    other.unlock("prod", "three").expect("released");
    b.unlock("dev", "dev-lock").expect("released");
    assert!(matches!(
        b.unlock("prod", "three"),
        Err(BackendError::NotLocked { held: None })
    ));

    // A corrupt state is an error and is never overwritten.
    (raw.corrupt)("prod");
    let corrupt = (raw.state)("prod");
    assert!(matches!(b.read("prod"), Err(BackendError::State(_))));
    assert!(matches!(b.write("prod", &state), Err(BackendError::State(_))));
    assert_eq!((raw.state)("prod"), corrupt, "left as it was");
}

#[test]
fn the_local_backend_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join(".tpt");
    let b = LocalBackend::new(&root);
    let other = LocalBackend::new(&root);
    let path = |env: &str, ext: &str| root.join("state").join(format!("{env}.{ext}"));
    contract(
        &b,
        &other,
        &Raw {
            state: &|env| std::fs::read(path(env, "json")).ok(),
            backup: &|env| std::fs::read_to_string(path(env, "json.backup")).ok(),
            corrupt: &|env| std::fs::write(path(env, "json"), b"{ half").expect("corrupt it"),
        },
    );
}

/// A client for the test's own setup (namespaces, raw Secrets).
fn client(rt: &tokio::runtime::Runtime, path: &std::path::Path) -> Client {
    tpt_executor::install_crypto();
    rt.block_on(async {
        let kc = Kubeconfig::read_from(path).expect("the test kubeconfig reads");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("a config");
        Client::try_from(config).expect("a client")
    })
}

#[test]
fn the_kubernetes_backend_keeps_the_contract() {
    let Some(path) = support::kubeconfig() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let c = client(&rt, &path);
    let ns = format!("tpt-test-{}", std::process::id());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    rt.block_on(Api::<Namespace>::all(c.clone()).create(&PostParams::default(), &namespace))
        .expect("a test namespace");
    let b = KubernetesBackend::connect(&path, None, &ns).expect("connects");
    let other =
        KubernetesBackend::connect(&path, None, &ns).expect("a second client, as another process would");
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let field = |env: &str, key: &str| -> Option<Vec<u8>> {
        let secret = rt
            .block_on(secrets.get_opt(&format!("tpt-state-{env}")))
            .ok()
            .flatten()?;
        secret.data?.get(key).map(|b| b.0.clone())
    };
    contract(
        &b,
        &other,
        &Raw {
            state: &|env| field(env, "state.json"),
            backup: &|env| field(env, "state.json.backup").map(|b| String::from_utf8_lossy(&b).into_owned()),
            corrupt: &|env| {
                let name = format!("tpt-state-{env}");
                let mut s = rt.block_on(secrets.get(&name)).expect("the Secret");
                if let Some(d) = s.data.as_mut() {
                    d.insert("state.json".into(), ByteString(b"{ half".to_vec()));
                }
                rt.block_on(secrets.replace(&name, &PostParams::default(), &s))
                    .expect("corrupt it");
            },
        },
    );
}

#[test]
fn the_s3_backend_keeps_the_contract_with_conditional_writes_and_encryption() {
    let Some(endpoint) = support::moto() else { return };
    let rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let setup = rt();
    let config = setup.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("tpt-state-{}", std::process::id());
    setup
        .block_on(s3.create_bucket().bucket(&bucket).send())
        .expect("a bucket");
    let b = S3Backend::with_config(rt(), &config, &bucket, "teams/web", None).expect("connects");
    let other = S3Backend::with_config(rt(), &config, &bucket, "teams/web/", None).expect("a second client");
    let get = |key: &str| -> Option<Vec<u8>> {
        let out = setup
            .block_on(s3.get_object().bucket(&bucket).key(key).send())
            .ok()?;
        Some(setup.block_on(out.body.collect()).ok()?.into_bytes().to_vec())
    };
    contract(
        &b,
        &other,
        &Raw {
            state: &|env| get(&format!("teams/web/{env}/state.json")),
            backup: &|env| {
                get(&format!("teams/web/{env}/state.json.backup"))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            },
            corrupt: &|env| {
                setup
                    .block_on(
                        s3.put_object()
                            .bucket(&bucket)
                            .key(format!("teams/web/{env}/state.json"))
                            .body(b"{ half".to_vec().into())
                            .send(),
                    )
                    .expect("corrupt it");
            },
        },
    );
    // Every object is encrypted at rest.
    for key in ["teams/web/state.key", "teams/web/prod/state.json.backup"] {
        let head = setup
            .block_on(s3.head_object().bucket(&bucket).key(key).send())
            .expect("the object");
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("AES256"),
            "{key} is encrypted"
        );
    }
    // A write from a client that read an older version fails (412), never overwrites.
    let fresh = S3Backend::with_config(rt(), &config, &bucket, "teams/web", None).expect("connects");
    let mut state = State::new("dev", "lineage-s".into());
    fresh.write("dev", &state).expect("created");
    let race = setup
        .block_on(
            s3.put_object()
                .bucket(&bucket)
                .key("teams/web/dev/state.json")
                .if_none_match("*")
                .body(state.to_json().into_bytes().into())
                .send(),
        )
        .map(|_| ());
    assert!(race.is_err(), "a create over an existing state is refused");
    state.serial = 7;
    fresh.write("dev", &state).expect("replaced");
    assert_eq!(other.read("dev").ok().flatten().map(|s| s.serial), Some(7));
    // No bucket: a clear error.
    match S3Backend::with_config(rt(), &config, "no-such-bucket-tpt", "", None) {
        Err(e) => assert!(e.to_string().contains("no-such-bucket-tpt"), "{e}"),
        Ok(_) => panic!("a missing bucket connects"),
    }
}

//! The Kubernetes state backend against a real kube-apiserver (started by
//! `.ci/run` through `tests/targets/`; its kubeconfig comes in
//! `TPT_TEST_KUBECONFIG`). CI sets `TPT_REQUIRE_KUBE`, so there the test fails
//! when no server is given; a local run without one says why it skips.

mod support;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use tpt_executor::backend::KubernetesBackend;
use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::State;

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

fn info(id: &str) -> LockInfo {
    LockInfo {
        id: id.into(),
        who: "ana@ci".into(),
        when: "2026-11-25T08:00:00Z".into(),
        operation: "apply".into(),
    }
}

#[test]
fn state_in_a_secret_and_the_lock_as_a_lease() {
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
    // The state key: made once, and the same for everyone using the namespace.
    let key = b.key().expect("a key is made");
    assert_eq!(key.len(), 64, "32 random bytes as hex");
    let other_machine = KubernetesBackend::connect(&path, None, &ns).expect("connects");
    assert_eq!(other_machine.key().ok(), Some(key.clone()));
    assert_eq!(b.key().ok(), Some(key));
    assert!(matches!(b.read("prod"), Ok(None)));
    let mut state = State::new("prod", "lineage-k".into());
    b.write("prod", &state).expect("first write creates the Secret");
    state.serial = 1;
    b.write("prod", &state).expect("second write replaces it");
    assert_eq!(b.read("prod").ok().flatten(), Some(state.clone()));
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let raw = rt.block_on(secrets.get("tpt-state-prod")).expect("the Secret");
    let backup = raw
        .data
        .as_ref()
        .and_then(|d| d.get("state.json.backup"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    assert!(
        backup.unwrap_or_default().contains("\"serial\": 0"),
        "the previous version is the backup"
    );

    // The lock: one holder; the next caller learns who; unlock needs the ID.
    b.lock("prod", &info("one")).expect("the first lock");
    match b.lock("prod", &info("two")) {
        Err(BackendError::Locked(holder)) => {
            assert_eq!((holder.id.as_str(), holder.who.as_str()), ("one", "ana@ci"))
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let other =
        KubernetesBackend::connect(&path, None, &ns).expect("a second client, as another process would");
    assert!(matches!(
        other.lock("prod", &info("three")),
        Err(BackendError::Locked(_))
    ));
    assert!(matches!(
        b.unlock("prod", "two"),
        Err(BackendError::NotLocked { .. })
    ));
    b.unlock("prod", "one").expect("unlock by ID");
    other.lock("prod", &info("three")).expect("free again");
    other.unlock("prod", "three").expect("released");

    // A corrupt state is an error and is never overwritten.
    let mut corrupt = rt.block_on(secrets.get("tpt-state-prod")).expect("the Secret");
    if let Some(d) = corrupt.data.as_mut() {
        d.insert("state.json".into(), ByteString(b"{ half".to_vec()));
    }
    rt.block_on(secrets.replace("tpt-state-prod", &PostParams::default(), &corrupt))
        .expect("corrupt it");
    assert!(matches!(b.read("prod"), Err(BackendError::State(_))));
    assert!(matches!(b.write("prod", &state), Err(BackendError::State(_))));
    let after = rt.block_on(secrets.get("tpt-state-prod")).expect("the Secret");
    assert_eq!(
        after.data.and_then(|d| d.get("state.json").cloned()).map(|b| b.0),
        Some(b"{ half".to_vec())
    );
}

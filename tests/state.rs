//! `tpt state` and the state lock, end to end on a temporary configuration.

mod support;

use std::path::Path;
use std::time::Duration;

use support::tpt_in;

const CONFIG: &str = r#"
resource schema S {
  name: string
}
resource shop: S { name = "shop" }
resource db: S { name = "db" }
environment prod {}
"#;

const STATE: &str = r#"{
  "version": 1,
  "lineage": "11111111-2222-4333-8444-555555555555",
  "serial": 4,
  "environment": "prod",
  "resources": {
    "db": { "type": "S", "provider_id": "id-db", "inputs": { "name": "db" }, "outputs": {}, "depends_on": [] },
    "shop": { "type": "S", "provider_id": "id-shop", "inputs": { "name": "shop" }, "outputs": {}, "depends_on": ["db"] }
  }
}
"#;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.tpt"), CONFIG).expect("config");
    std::fs::create_dir_all(dir.path().join(".tpt/state")).expect("state dir");
    std::fs::write(dir.path().join(".tpt/state/prod.json"), STATE).expect("state");
    dir
}

fn state_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(".tpt/state/prod.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[test]
fn list_show_mv_rm() {
    let dir = setup();
    let list = tpt_in(dir.path(), &["state", "list", "--env", "prod"]);
    assert_eq!((list.code, list.stdout.as_str()), (0, "db  (S)\nshop  (S)\n"));
    let show = tpt_in(dir.path(), &["state", "show", "shop", "--env", "prod"]);
    assert!(
        show.stdout.contains("\"provider_id\": \"id-shop\""),
        "{}",
        show.stdout
    );

    let mv = tpt_in(
        dir.path(),
        &["state", "mv", "shop", "storefront", "--env", "prod"],
    );
    assert_eq!(mv.code, 0, "{}", mv.stderr);
    let s = state_json(dir.path());
    assert_eq!(s["serial"], 5);
    assert!(s["resources"]["storefront"].is_object() && s["resources"]["shop"].is_null());
    // The previous version is kept as a backup.
    let backup = std::fs::read_to_string(dir.path().join(".tpt/state/prod.json.backup")).unwrap_or_default();
    assert!(backup.contains("\"serial\": 4"));

    let clash = tpt_in(dir.path(), &["state", "mv", "db", "storefront", "--env", "prod"]);
    assert_eq!(clash.code, 1);
    assert!(
        clash.stderr.contains("E0703") && clash.stderr.contains("already recorded"),
        "{}",
        clash.stderr
    );

    let rm = tpt_in(dir.path(), &["state", "rm", "db", "--env", "prod"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    let s = state_json(dir.path());
    assert_eq!(s["serial"], 6);
    assert!(s["resources"]["db"].is_null());
    // The lock was released after each command.
    assert!(!dir.path().join(".tpt/state/prod.lock").exists());
}

#[test]
fn a_held_lock_fails_fast_or_is_waited_for() {
    let dir = setup();
    let lock = dir.path().join(".tpt/state/prod.lock");
    let holder =
        r#"{ "id": "abc-1", "who": "ana@ci", "when": "2026-11-25T08:00:00Z", "operation": "apply" }"#;
    std::fs::write(&lock, holder).expect("a lock held by another run");

    let fast = tpt_in(dir.path(), &["plan", "--env", "prod"]);
    assert_eq!(fast.code, 1);
    assert!(
        fast.stderr.contains("E0702") && fast.stderr.contains("ana@ci") && fast.stderr.contains("apply"),
        "{}",
        fast.stderr
    );

    // The other run finishes while this one waits.
    let lock_path = lock.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        let _ = std::fs::remove_file(lock_path);
    });
    let waited = tpt_in(dir.path(), &["plan", "--env", "prod", "--lock-timeout", "10s"]);
    let _ = releaser.join();
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert!(!lock.exists(), "plan releases its lock");

    // A dead run's lock is released by its ID.
    std::fs::write(&lock, holder).expect("a lock left by a dead run");
    let wrong = tpt_in(dir.path(), &["state", "unlock", "xyz", "--env", "prod"]);
    assert_eq!(wrong.code, 1);
    let unlock = tpt_in(dir.path(), &["state", "unlock", "abc-1", "--env", "prod"]);
    assert_eq!(unlock.code, 0, "{}", unlock.stderr);
    assert!(!lock.exists());
}

#[test]
fn plan_against_recorded_state() {
    let dir = setup();
    let plan = tpt_in(dir.path(), &["plan", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "recorded state matches: {}{}",
        plan.stdout, plan.stderr
    );
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    std::fs::write(
        dir.path().join("main.tpt"),
        CONFIG.replace("name = \"db\"", "name = \"db2\""),
    )
    .expect("edit");
    let changed = tpt_in(
        dir.path(),
        &["plan", "--env", "prod", "--detailed-exitcode", "--format", "json"],
    );
    assert_eq!(changed.code, 2, "{}", changed.stderr);
    let json: serde_json::Value = serde_json::from_str(&changed.stdout).unwrap_or_default();
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["summary"]["update"], 1);
}

#[test]
fn saved_plans_show_as_planned_and_go_stale_when_the_state_changes() {
    let dir = setup();
    std::fs::write(
        dir.path().join("main.tpt"),
        CONFIG.replace("name = \"db\"", "name = \"db2\""),
    )
    .expect("edit");
    let plan = tpt_in(dir.path(), &["plan", "--env", "prod", "--out", "prod.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let show = tpt_in(dir.path(), &["show", "prod.plan"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.stdout, plan.stdout, "a saved plan renders as the plan did");
    assert!(!show.stderr.contains("E0704"));
    // Another run changes the state: the saved plan is now stale.
    let rm = tpt_in(dir.path(), &["state", "rm", "shop", "--env", "prod"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    let stale = tpt_in(dir.path(), &["show", "prod.plan"]);
    assert!(
        stale.stderr.contains("E0704") && stale.stderr.contains("serial 4 then, 5 now"),
        "{}",
        stale.stderr
    );
}

#[test]
fn the_kubernetes_backend_from_the_command_line() {
    let Some(kubeconfig) = std::env::var_os("TPT_TEST_KUBECONFIG") else {
        assert!(
            std::env::var_os("TPT_REQUIRE_KUBE").is_none(),
            "TPT_REQUIRE_KUBE is set but no TPT_TEST_KUBECONFIG"
        );
        // The executor's own test says why it skips; nothing more to add here.
        return;
    };
    let kubeconfig = kubeconfig.to_string_lossy().into_owned();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = format!("k{}", std::process::id());
    std::fs::write(
        dir.path().join("main.tpt"),
        CONFIG.replace("environment prod {}", &format!("environment {env} {{}}")),
    )
    .expect("config");
    let vars = [
        ("TPT_STATE_BACKEND", "kubernetes"),
        ("TPT_STATE_KUBECONFIG", kubeconfig.as_str()),
        ("TPT_STATE_NAMESPACE", "default"),
    ];
    let plan = support::tpt_with(dir.path(), &["plan", "--env", &env, "--detailed-exitcode"], &vars);
    assert_eq!(
        plan.code, 2,
        "a fresh plan creates everything:\n{}{}",
        plan.stdout, plan.stderr
    );
    assert!(plan.stdout.contains("will be created"));
    // No local state was touched, and the Lease was released.
    assert!(!dir.path().join(".tpt").exists());
    let again = support::tpt_with(dir.path(), &["plan", "--env", &env], &vars);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let list = support::tpt_with(dir.path(), &["state", "list", "--env", &env], &vars);
    assert_eq!(list.code, 1);
    assert!(list.stderr.contains("has no recorded state"), "{}", list.stderr);
}

#[test]
fn an_unreadable_state_key_is_an_error_not_a_new_key() {
    let dir = setup();
    std::fs::create_dir(dir.path().join(".tpt/state.key")).expect("a directory where the key goes");
    let plan = tpt_in(dir.path(), &["plan", "--env", "prod"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    let expected = std::fs::read_to_string(support::repo_root().join("tests/state/unreadable_key.stderr"))
        .unwrap_or_default();
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(support::repo_root().join("tests/state")).expect("snapshot dir");
        std::fs::write(
            support::repo_root().join("tests/state/unreadable_key.stderr"),
            &plan.stderr,
        )
        .expect("snapshot");
    } else {
        assert_eq!(
            plan.stderr, expected,
            "BLESS=1 rewrites tests/state/unreadable_key.stderr"
        );
    }
    assert!(dir.path().join(".tpt/state.key").is_dir(), "nothing replaced it");
}

/// A run killed with `kill -9` on this host leaves its lock and maybe a
/// temporary file; the next run takes the lock over, saying whose it was, and
/// removes the file.
#[test]
fn the_lock_and_litter_of_a_killed_run_are_taken_over_and_removed() {
    let dir = setup();
    // A process ID that existed and is gone.
    let mut child = std::process::Command::new("true").spawn().expect("`true` runs");
    let pid = child.id();
    let _ = child.wait();
    let host = std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "localhost".to_string(), |h| h.trim().to_string());
    let state = dir.path().join(".tpt/state");
    let lock = state.join("prod.lock");
    let holder = format!(
        r#"{{ "id": "18f0a1b2c3d4e5f6-{pid:x}", "who": "ana@{host}", "when": "2026-11-25T08:00:00Z", "operation": "apply" }}"#
    );
    std::fs::write(&lock, holder).expect("a lock left by a killed run");
    let litter = state.join(format!(".prod.json.tmp-{pid}-00000000deadbeef"));
    std::fs::write(&litter, "{ half a state").expect("a temporary file left by a killed run");

    let plan = tpt_in(dir.path(), &["plan", "--env", "prod"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("took over the state lock of `prod` left by ana@")
            && plan.stderr.contains(&format!("{pid:x}")),
        "{}",
        plan.stderr
    );
    assert!(!lock.exists(), "plan releases the lock it took over");
    assert!(!litter.exists(), "the killed run's temporary file is removed");

    // A lock of a live process of this host is not taken over.
    let alive = format!(
        r#"{{ "id": "18f0a1b2c3d4e5f6-{:x}", "who": "ana@{host}", "when": "2026-11-25T08:00:00Z", "operation": "apply" }}"#,
        std::process::id()
    );
    std::fs::write(&lock, alive).expect("a lock of a live run");
    let held = tpt_in(dir.path(), &["plan", "--env", "prod"]);
    assert_eq!(held.code, 1, "{}", held.stderr);
    assert!(held.stderr.contains("E0702"), "{}", held.stderr);
}

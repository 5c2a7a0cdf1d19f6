//! `tpt apply` on a terminal shows the plan and asks; only `yes` applies.
//! The terminal is a pseudo-terminal made by `script` (util-linux).

// Skipping prints why.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `tpt apply .` in `dir` on a pseudo-terminal, answering `answer`.
fn apply_answering(dir: &std::path::Path, answer: &str) -> Option<(i32, String)> {
    let tpt = env!("CARGO_BIN_EXE_tpt");
    let mut child = match Command::new("script")
        .args(["-qec", &format!("{tpt} apply ."), "/dev/null"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("TPT_STATE_KEY", "prompt-test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipping: `script` (util-linux) cannot run: {e}");
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{answer}");
    }
    let out = child.wait_with_output().expect("script ends");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn apply_asks_on_a_terminal_and_only_yes_applies() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A cluster reached through a kubeconfig: applying it records it, calling nothing.
    std::fs::write(
        dir.path().join("main.tpt"),
        "import std.k8s\n\nresource dev: k8s.KubeconfigCluster {\n  context = \"local\"\n}\n",
    )
    .expect("config");
    let Some((code, out)) = apply_answering(dir.path(), "no") else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("+ dev (k8s.KubeconfigCluster) will be created"),
        "the plan is shown first:\n{out}"
    );
    assert!(
        out.contains("Do you want to apply these changes? Only `yes` is accepted"),
        "{out}"
    );
    assert!(out.contains("apply cancelled: nothing was changed"), "{out}");
    assert!(
        !dir.path().join(".tpt/state/default.json").exists(),
        "nothing was recorded"
    );

    let Some((code, out)) = apply_answering(dir.path(), "yes") else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Apply complete: 1 created"), "{out}");
    assert!(dir.path().join(".tpt/state/default.json").exists());
}

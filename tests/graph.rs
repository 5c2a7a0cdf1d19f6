//! `tpt graph` on the examples: text, JSON and DOT output against snapshots in
//! `tests/graph/` (`BLESS=1` rewrites them), and the DOT rendered by Graphviz
//! when `dot` is installed (CI installs it).

mod support;

use std::path::Path;
use std::process::Command;

use support::{check_snapshot, repo_root, tpt_in};

const CASES: &[(&str, &str)] = &[
    ("examples/shop", "dev"),
    ("examples/shop", "prod"),
    ("examples/multi-region", "prod"),
];

fn snapshot_name(dir: &str, env: &str, ext: &str) -> String {
    let example = Path::new(dir).file_name().and_then(|n| n.to_str()).unwrap_or("x");
    format!("tests/graph/{example}-{env}.{ext}")
}

#[test]
fn graphs_of_the_examples_match_their_snapshots() {
    let mut mismatches = Vec::new();
    for (dir, env) in CASES {
        for (format, ext) in [("text", "txt"), ("json", "json"), ("dot", "dot")] {
            let out = tpt_in(&repo_root(), &["graph", dir, "--env", env, "--format", format]);
            assert_eq!(out.code, 0, "tpt graph {dir} --env {env}:\n{}", out.stderr);
            let path = repo_root().join(snapshot_name(dir, env, ext));
            mismatches.extend(check_snapshot(&path, &out.stdout));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(BLESS=1 rewrites the snapshots)",
        mismatches.join("\n")
    );
}

#[test]
fn graphviz_renders_the_dot_output() {
    let has_dot = Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dot {
        // CI installs Graphviz (.ci/run) and sets TPT_REQUIRE_GRAPHVIZ, so this never skips there.
        assert!(
            std::env::var_os("TPT_REQUIRE_GRAPHVIZ").is_none(),
            "Graphviz `dot` is required but not installed"
        );
        // A local run without Graphviz says why it skips.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: Graphviz `dot` is not installed (apt-get install graphviz)");
        }
        return;
    }
    for (dir, env) in CASES {
        let dot = tpt_in(&repo_root(), &["graph", dir, "--env", env]).stdout;
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dot starts");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(dot.as_bytes()).expect("dot reads its input");
        }
        let out = child.wait_with_output().expect("dot finishes");
        assert!(
            out.status.success(),
            "dot failed on {dir} --env {env}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("<svg"),
            "no SVG from dot"
        );
    }
}

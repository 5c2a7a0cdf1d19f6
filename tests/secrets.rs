//! No secret reaches any output: every command's stdout and stderr, saved plans
//! and state files are scanned for the bytes of the secrets a configuration
//! reads, over the examples and a configuration built to use secrets everywhere.

mod support;

use std::path::Path;

use support::{copy_dir, repo_root, tpt_with};

const SECRET: &str = "s3cr3t-Zq9wX-hunter2";
const OTHER: &str = "another-s3cr3t-Kp4vT";

const CONFIG: &str = r#"
import std.aws
import std.k8s

param password_env: string = "TPT_TEST_DB_PASSWORD"
let password = secret_env(password_env)
let token = secret_env("TPT_TEST_TOKEN")

resource main: k8s.KubeconfigCluster { context = "kind-dev" }

resource app: k8s.App {
  cluster = main
  image = "shop:1.0"
  env = {
    DATABASE_URL = "postgres://app:${password}@db:5432/app"
    TOKEN = token
    TOKEN_LENGTH = to_string(len(token))
    UPPER = upper(password)
    MODE = "prod"
  }
}

environment staging {}
environment prod extends staging {
  app { replicas = 3 }
}
"#;

fn scan(what: &str, text: &str) {
    for secret in [SECRET, OTHER, &SECRET.to_uppercase()] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

fn run(dir: &Path, args: &[&str]) -> support::Output {
    let out = tpt_with(
        dir,
        args,
        &[("TPT_TEST_DB_PASSWORD", SECRET), ("TPT_TEST_TOKEN", OTHER)],
    );
    scan(&format!("`tpt {}` stdout", args.join(" ")), &out.stdout);
    scan(&format!("`tpt {}` stderr", args.join(" ")), &out.stderr);
    out
}

#[test]
fn no_command_prints_a_secret() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.tpt"), CONFIG).expect("config");
    let commands: &[&[&str]] = &[
        &["check", "."],
        &["eval", ".", "--env", "prod"],
        &["eval", ".", "--env", "prod", "--format", "yaml"],
        &["graph", ".", "--env", "prod", "--format", "json"],
        &["envs", "diff", "staging", "prod", "."],
        &["envs", "diff", "staging", "prod", ".", "--format", "json"],
        &["plan", ".", "--env", "prod"],
        &["plan", ".", "--env", "prod", "--format", "json"],
        &[
            "plan",
            ".",
            "--env",
            "prod",
            "--format",
            "markdown",
            "--out",
            "prod.plan",
        ],
        &["show", "prod.plan"],
    ];
    for args in commands {
        let out = run(dir.path(), args);
        assert!(
            out.code == 0 || out.code == 2,
            "`tpt {}` failed:\n{}",
            args.join(" "),
            out.stderr
        );
    }
    let saved = std::fs::read_to_string(dir.path().join("prod.plan")).unwrap_or_default();
    assert!(saved.contains("(sensitive)"), "{saved}");
    scan("the saved plan", &saved);
    // The values are there, only hidden.
    let eval = run(dir.path(), &["eval", ".", "--env", "prod"]);
    assert!(
        eval.stdout.contains("\"DATABASE_URL\": \"(sensitive)\""),
        "{}",
        eval.stdout
    );
    assert!(eval.stdout.contains("\"TOKEN_LENGTH\": \"(sensitive)\""));
}

#[test]
fn errors_about_secret_values_do_not_show_them() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = r#"
resource schema S { code: string(/^[0-9]+$/), n: int(1..3) = 1 }
resource a: S { code = "x" }
resource b: S { code = "1", n = len(secret_env("TPT_TEST_TOKEN")) }
"#;
    std::fs::write(dir.path().join("main.tpt"), config).expect("config");
    let out = run(dir.path(), &["check", "."]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn examples_print_no_secret_either() {
    for (dir, env) in [("examples/shop", "prod"), ("examples/multi-region", "prod")] {
        // A copy: `plan` takes the state lock beside the configuration.
        let tmp = tempfile::tempdir().expect("a temporary directory");
        copy_dir(&repo_root().join(dir), tmp.path());
        for args in [
            vec!["eval", ".", "--env", env],
            vec!["plan", ".", "--env", env, "--format", "json"],
            vec!["envs", "diff", "staging", env, "."],
        ] {
            let out = run(tmp.path(), &args);
            assert!(out.code == 0 || out.code == 2, "{dir}: {}", out.stderr);
        }
    }
}

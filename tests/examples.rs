//! Every example checks and evaluates cleanly in each of its environments, and
//! its output holds no secret.

mod support;

use support::{repo_root, tpt_in};

/// `(example directory, environments)`.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("examples/shop", &["dev", "staging", "prod"]),
    ("examples/multi-region", &["staging", "prod"]),
];

#[test]
fn examples_check_cleanly() {
    for (dir, _) in EXAMPLES {
        let out = tpt_in(&repo_root(), &["check", dir]);
        assert_eq!(out.code, 0, "tpt check {dir}:\n{}", out.stderr);
        assert!(out.stderr.contains(": ok"), "{}", out.stderr);
    }
}

#[test]
fn examples_evaluate_in_every_environment() {
    for (dir, envs) in EXAMPLES {
        for env in *envs {
            let out = tpt_in(&repo_root(), &["eval", dir, "--env", env]);
            assert_eq!(out.code, 0, "tpt eval {dir} --env {env}:\n{}", out.stderr);
            let json: serde_json::Value =
                serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
            let resources = json["resources"].as_array().map(Vec::len).unwrap_or(0);
            assert!(resources > 0, "{dir} --env {env} has no resources");
            assert_eq!(json["environment"], *env);
        }
    }
}

#[test]
fn examples_are_formatted() {
    for (dir, _) in EXAMPLES {
        let out = tpt_in(&repo_root(), &["fmt", "--check", dir]);
        assert_eq!(
            out.code, 0,
            "tpt fmt --check {dir}: run `tpt fmt {dir}`\n{}{}",
            out.stdout, out.stderr
        );
    }
}

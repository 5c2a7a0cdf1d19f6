//! `tpt envs diff` on the examples against snapshots in `tests/envs/`
//! (`BLESS=1` rewrites them), and its errors.

mod support;

use support::{check_snapshot, repo_root, tpt_in};

const CASES: &[(&str, &str, &str, &str)] = &[
    ("examples/shop", "staging", "prod", "shop-staging-prod"),
    ("examples/shop", "dev", "staging", "shop-dev-staging"),
    (
        "examples/multi-region",
        "staging",
        "prod",
        "multi-region-staging-prod",
    ),
];

#[test]
fn diffs_of_the_examples_match_their_snapshots() {
    let mut mismatches = Vec::new();
    for (dir, left, right, name) in CASES {
        for (format, ext) in [("text", "txt"), ("json", "json")] {
            let out = tpt_in(
                &repo_root(),
                &["envs", "diff", left, right, dir, "--format", format],
            );
            assert_eq!(out.code, 0, "{}", out.stderr);
            let path = repo_root().join(format!("tests/envs/{name}.{ext}"));
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
fn same_environment_has_no_difference() {
    let out = tpt_in(&repo_root(), &["envs", "diff", "prod", "prod", "examples/shop"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("evaluate to the same"), "{}", out.stdout);
}

#[test]
fn unknown_environment_is_a_diagnostic() {
    let out = tpt_in(&repo_root(), &["envs", "diff", "staging", "prd", "examples/shop"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("E0300") && out.stderr.contains("did you mean `prod`?"),
        "{}",
        out.stderr
    );
}

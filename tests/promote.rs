//! `tpt promote`: the edit of the target file (before/after snapshots of the
//! shop example), and a property: over many generated configurations — values
//! of every kind, comments and odd spacing around them — promotion changes
//! exactly one value and not one other byte.

mod support;

use support::{copy_dir, repo_root, tpt_in};
use tpt_lang::source::FileId;

#[test]
fn promoting_the_shop_image_edits_only_prod() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&repo_root().join("examples/shop"), dir.path());
    let out = tpt_in(
        dir.path(),
        &["promote", "image_tag", "--from", "staging", "--to", "prod", "."],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(r#"promoted `image_tag` from `staging` to `prod`: "1.4.2" → "1.5.0""#),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains(r#"image: "ghcr.io/acme/shop:1.4.2" → "ghcr.io/acme/shop:1.5.0""#),
        "{}",
        out.stdout
    );
    let after = std::fs::read_to_string(dir.path().join("envs/prod.tpt")).unwrap_or_default();
    let expected_path = repo_root().join("tests/promote/shop-prod.after.tpt");
    if std::env::var_os("BLESS").is_some() {
        let _ = std::fs::write(&expected_path, &after);
    }
    assert_eq!(
        after,
        std::fs::read_to_string(&expected_path).unwrap_or_default(),
        "BLESS=1 rewrites the snapshot"
    );
    for unchanged in ["main.tpt", "envs/staging.tpt", "envs/dev.tpt"] {
        let a = std::fs::read_to_string(dir.path().join(unchanged)).unwrap_or_default();
        let b =
            std::fs::read_to_string(repo_root().join("examples/shop").join(unchanged)).unwrap_or_default();
        assert_eq!(a, b, "{unchanged} must not change");
    }
    // Promoting again changes nothing.
    let again = tpt_in(
        dir.path(),
        &["promote", "image_tag", "--from", "staging", "--to", "prod", "."],
    );
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("already"), "{}", again.stderr);
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&repo_root().join("examples/shop"), dir.path());
    let before = std::fs::read_to_string(dir.path().join("envs/prod.tpt")).unwrap_or_default();
    let out = tpt_in(
        dir.path(),
        &[
            "promote",
            "image_tag",
            "--from",
            "staging",
            "--to",
            "prod",
            ".",
            "--dry-run",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("would promote"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("envs/prod.tpt")).unwrap_or_default(),
        before
    );
}

/// The value literals of each type a promoted param may have.
const VALUES: &[(&str, &[&str])] = &[
    (
        "string",
        &[
            "\"1.4.2\"",
            "\"2.0.0-rc.1\"",
            "\"a \\\"quoted\\\" tag\"",
            "\"x\\${y}\"",
        ],
    ),
    ("int", &["1", "42", "-7", "1_000"]),
    ("bool", &["true", "false"]),
    ("duration", &["30s", "5m", "1h30m"]),
    ("[string]", &["[]", "[\"a\", \"b\"]", "[\"c\"]"]),
];

/// A configuration with `tag` set in staging and in prod, with comments and
/// spacing around prod's value chosen by the strategy.
fn case_text(ty: &str, from: &str, to: &str, b1: &str, b2: &str, comment: &str, one_line: bool) -> String {
    let target_block = if one_line {
        format!("environment prod {{ other = 1;{b1}tag{b2}={b1}{to}{comment}\n}}\n")
    } else {
        format!("environment prod {{\n  // keep me\n  other = 1\n{b1}tag{b2}= {to}{comment}\n\n  after = true\n}}\n")
    };
    format!(
        "// generated\n@promote param tag: {ty}\nparam other: int = 0\nparam after: bool = false\n\nenvironment staging {{ tag = {from} }}\n\n{target_block}"
    )
}

fn check_one_value_changes(src: &str) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert;
    use proptest::prop_assert_eq;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("main.tpt");
    std::fs::write(&file, src).expect("write the case");
    let out = tpt_in(
        dir.path(),
        &["promote", "tag", "--from", "staging", "--to", "prod", "main.tpt"],
    );
    prop_assert_eq!(out.code, 0, "{}\n{}", src, out.stderr);
    let after = std::fs::read_to_string(&file).unwrap_or_default();
    // One contiguous region of the text differs, inside prod's old value, on one line.
    let prefix = src.bytes().zip(after.bytes()).take_while(|(a, b)| a == b).count();
    let suffix = src
        .bytes()
        .rev()
        .zip(after.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(src.len() - prefix)
        .min(after.len() - prefix);
    let new_mid = &after[prefix..after.len() - suffix];
    prop_assert!(
        !new_mid.contains('\n') && !new_mid.contains("//"),
        "{:?}",
        new_mid
    );
    // The tree differs in at most that one item.
    let (a, _) = tpt_lang::syntax::parse(FileId(0), src);
    let (b, diags) = tpt_lang::syntax::parse(FileId(0), &after);
    prop_assert!(diags.is_empty(), "the result does not parse:\n{}", after);
    let strip = |d: String| tpt_lang::fmt::strip_spans(&d);
    let differing = a
        .items
        .iter()
        .zip(b.items.iter())
        .filter(|(x, y)| strip(format!("{x:?}")) != strip(format!("{y:?}")))
        .count();
    prop_assert!(differing <= 1, "{} items changed", differing);
    prop_assert_eq!(a.items.len(), b.items.len());
    // And prod now has staging's value.
    let param = |env: &str| {
        let out = tpt_in(dir.path(), &["eval", "main.tpt", "--env", env]);
        serde_json::from_str::<serde_json::Value>(&out.stdout)
            .ok()
            .map(|j| j["params"]["tag"].clone())
    };
    prop_assert_eq!(param("prod"), param("staging"));
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 48, ..proptest::test_runner::Config::default() })]

    #[test]
    fn promotion_changes_exactly_one_value(
        kind in 0..VALUES.len(),
        from in 0usize..4,
        to in 0usize..4,
        b1 in proptest::sample::select(vec!["", " ", "  "]),
        b2 in proptest::sample::select(vec!["", " ", "\t"]),
        comment in proptest::sample::select(vec!["", " // the current release", " /* pinned */"]),
        one_line in proptest::bool::ANY,
    ) {
        let (ty, literals) = VALUES[kind];
        let from = literals[from % literals.len()];
        let to = literals[to % literals.len()];
        check_one_value_changes(&case_text(ty, from, to, b1, b2, comment, one_line))?;
    }
}

//! `tpt promote`: the edit of the target file (before/after snapshots of the
//! shop example), and a property: over many generated configurations — values
//! of every kind, comments and odd spacing around them — promotion changes
//! exactly one value and not one other byte.

mod support;

use std::path::Path;

use support::{repo_root, tpt_in};
use tpt_lang::source::FileId;

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    for entry in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let p = entry.path();
        let target = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            let _ = std::fs::copy(&p, &target);
        }
    }
}

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

/// A small deterministic generator (no randomness between runs).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

#[test]
fn promotion_changes_exactly_one_value() {
    let mut rng = Lcg(42);
    let values: &[(&str, &[&str])] = &[
        (
            "string",
            &[
                "\"1.4.2\"",
                "\"2.0.0-rc.1\"",
                "\"a \\\"quoted\\\" tag\"",
                "\"x${'$'}y\"",
            ],
        ),
        ("int", &["1", "42", "-7", "1_000"]),
        ("bool", &["true", "false"]),
        ("duration", &["30s", "5m", "1h30m"]),
        ("[string]", &["[]", "[\"a\", \"b\"]", "[\"c\"]"]),
    ];
    let blanks = ["", " ", "  "];
    let comments = ["", " // the current release", " /* pinned */"];
    for case in 0..60 {
        let (ty, literals) = values[case % values.len()];
        let from = rng.pick(literals).replace("${'$'}", "$");
        let to = rng.pick(literals).replace("${'$'}", "$");
        let (b1, b2) = (rng.pick(&blanks), rng.pick(&blanks));
        let c = rng.pick(&comments);
        let one_line = rng.next().is_multiple_of(2);
        let target_block = if one_line {
            format!("environment prod {{ other = 1;{b1}tag{b2}={b1}{to}{c}\n}}\n")
        } else {
            format!("environment prod {{\n  // keep me\n  other = 1\n{b1}tag{b2}= {to}{c}\n\n  after = true\n}}\n")
        };
        let src = format!(
            "// generated case {case}\n@promote param tag: {ty}\nparam other: int = 0\nparam after: bool = false\n\nenvironment staging {{ tag = {from} }}\n\n{target_block}"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("main.tpt");
        std::fs::write(&file, &src).expect("write the case");
        let out = tpt_in(
            dir.path(),
            &["promote", "tag", "--from", "staging", "--to", "prod", "main.tpt"],
        );
        assert_eq!(out.code, 0, "case {case}:\n{src}\n{}", out.stderr);
        let after = std::fs::read_to_string(&file).unwrap_or_default();
        // Exactly one region of the text differs, and it is the value of `tag` in prod.
        let prefix = src.bytes().zip(after.bytes()).take_while(|(a, b)| a == b).count();
        let suffix = src
            .bytes()
            .rev()
            .zip(after.bytes().rev())
            .take_while(|(a, b)| a == b)
            .count()
            .min(src.len() - prefix)
            .min(after.len() - prefix);
        let old_mid = &src[prefix..src.len() - suffix];
        let new_mid = &after[prefix..after.len() - suffix];
        if from == to {
            assert_eq!(src, after, "case {case}: an equal value must not change the file");
            continue;
        }
        // (The new text is the value's canonical literal: `1_000` is written `1000`.)
        assert!(
            to.contains(old_mid),
            "case {case}: changed {old_mid:?} → {new_mid:?}\n{src}\n---\n{after}"
        );
        assert!(
            !new_mid.contains('\n') && !new_mid.contains("//"),
            "case {case}: {new_mid:?}"
        );
        // The tree differs in exactly that one value.
        let (a, _) = tpt_lang::syntax::parse(FileId(0), &src);
        let (b, diags) = tpt_lang::syntax::parse(FileId(0), &after);
        assert!(diags.is_empty(), "case {case}: the result does not parse");
        let strip = |d: String| tpt_lang::fmt::strip_spans(&d);
        let differing = a
            .items
            .iter()
            .zip(b.items.iter())
            .filter(|(x, y)| strip(format!("{x:?}")) != strip(format!("{y:?}")))
            .count();
        assert_eq!(differing, 1, "case {case}: more than one item changed");
        // And the promoted value is the source's value.
        let eval = tpt_in(dir.path(), &["eval", "main.tpt", "--env", "prod"]);
        let staging = tpt_in(dir.path(), &["eval", "main.tpt", "--env", "staging"]);
        let param = |out: &support::Output| {
            serde_json::from_str::<serde_json::Value>(&out.stdout)
                .ok()
                .map(|j| j["params"]["tag"].clone())
        };
        assert_eq!(param(&eval), param(&staging), "case {case}");
    }
}

//! Data-driven outcome tests: every `tests/pass/*.tpt` must check cleanly
//! (type-check and evaluate every environment), and every `tests/fail/*.tpt`
//! must fail with the code its header names (`// error: E0xxx`, several
//! separated by commas). All failures are reported together.

mod support;

use support::{files_with_extension, header, relative, repo_root, tpt};

#[test]
fn pass_files_check_cleanly() {
    let files = files_with_extension(&repo_root().join("tests").join("pass"), "tpt");
    assert!(!files.is_empty(), "no tests/pass/*.tpt files");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let name = relative(file);
            let out = tpt(&["--color", "never", "check", &name]);
            (out.code != 0).then(|| format!("{name}: exit code {}\n{}", out.code, out.stderr))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fail_files_fail_with_their_code() {
    let files = files_with_extension(&repo_root().join("tests").join("fail"), "tpt");
    assert!(!files.is_empty(), "no tests/fail/*.tpt files");
    let mut failures = Vec::new();
    for file in &files {
        let name = relative(file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let Some(codes) = header(&text, "error") else {
            failures.push(format!("{name}: no `// error: E0xxx` header"));
            continue;
        };
        let out = tpt(&["--color", "never", "check", &name]);
        if out.code != 1 {
            failures.push(format!(
                "{name}: exit code {}, expected 1\n{}",
                out.code, out.stderr
            ));
            continue;
        }
        for code in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !out.stderr.contains(code) {
                failures.push(format!("{name}: expected {code}, got:\n{}", out.stderr));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

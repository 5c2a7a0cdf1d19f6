//! UI snapshot tests: every `tests/ui/**/*.tpt` file (and every directory
//! `tests/ui/<area>/<case>/` holding a `main.tpt`) is checked with `tpt check`,
//! colors off; what it prints on stderr, followed by the exit code, must equal
//! the `.stderr` file beside it (`<case>.stderr` for a directory case).
//!
//! A header comment `// env: NAME` selects `--env NAME`; `// command: WORDS` runs
//! `tpt WORDS PATH` instead of `tpt check PATH` (for errors of other commands);
//! `// vars: NAME=VALUE …` sets environment variables for the run.
//! `BLESS=1 cargo nextest run --test ui` (re)writes the expected files.

mod support;

use std::path::{Path, PathBuf};

use similar::TextDiff;
use support::{header, relative, repo_root};

/// One snapshot case: what to check, and where its expected output lives.
struct Case {
    /// The file or directory passed to `tpt check`.
    input: PathBuf,
    /// The file whose header comments configure the run.
    main: PathBuf,
    expected: PathBuf,
}

fn ui_dir() -> PathBuf {
    repo_root().join("tests").join("ui")
}

fn find_cases(dir: &Path, cases: &mut Vec<Case>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            let main = path.join("main.tpt");
            if main.is_file() {
                cases.push(Case {
                    expected: path.with_extension("stderr"),
                    input: path,
                    main,
                });
            } else {
                find_cases(&path, cases);
            }
        } else if path.extension().is_some_and(|e| e == "tpt") {
            cases.push(Case {
                expected: path.with_extension("stderr"),
                main: path.clone(),
                input: path,
            });
        }
    }
}

/// Every `.stderr` file under `dir`.
fn find_expected(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if path.is_dir() {
            find_expected(&path, out);
        } else if path.extension().is_some_and(|e| e == "stderr") {
            out.push(path);
        }
    }
}

/// Trailing spaces are not significant (editors strip them); the text ends
/// with one newline.
fn normalize(text: &str) -> String {
    let mut out: String = text.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn run_case(case: &Case) -> String {
    let source = std::fs::read_to_string(&case.main).unwrap_or_default();
    let input = relative(&case.input);
    // `// command: promote tag --from a --to b` runs that command on the case instead of `check`.
    let command = header(&source, "command");
    let mut args = vec!["--color", "never"];
    match &command {
        Some(c) => args.extend(c.split_whitespace()),
        None => args.push("check"),
    }
    args.push(input.as_str());
    let env = header(&source, "env");
    if let Some(env) = &env {
        args.extend(["--env", env.as_str()]);
    }
    let set = header(&source, "vars").unwrap_or_default();
    let vars: Vec<(&str, &str)> = set
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    // Commands that write state run on a copy, so that every run starts afresh.
    let writes = command
        .as_deref()
        .is_some_and(|c| c.starts_with("apply") || c.starts_with("destroy"));
    let out = if writes {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let name = case.input.file_name().map(PathBuf::from).unwrap_or_default();
        if case.input.is_dir() {
            support::copy_dir(&case.input, &tmp.path().join(&name));
        } else {
            std::fs::copy(&case.input, tmp.path().join(&name)).expect("the case copies");
        }
        let input = name.display().to_string();
        if let Some(a) = args.iter_mut().find(|a| **a == relative(&case.input).as_str()) {
            *a = input.as_str();
        }
        support::tpt_with(tmp.path(), &args, &vars)
    } else {
        support::tpt_with(&repo_root(), &args, &vars)
    };
    normalize(&format!("{}\nexit code: {}\n", out.stderr, out.code))
}

#[test]
fn ui() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut cases = Vec::new();
    find_cases(&ui_dir(), &mut cases);
    assert!(!cases.is_empty(), "no ui cases found under tests/ui");

    let mut failures = Vec::new();
    for case in &cases {
        let actual = run_case(case);
        let name = relative(&case.input);
        match std::fs::read_to_string(&case.expected) {
            Ok(expected) if normalize(&expected) == actual => {}
            _ if bless => {
                if let Err(e) = std::fs::write(&case.expected, &actual) {
                    failures.push(format!("{name}: cannot write {}: {e}", relative(&case.expected)));
                }
            }
            Ok(expected) => {
                let expected = normalize(&expected);
                let diff = TextDiff::from_lines(&expected, &actual)
                    .unified_diff()
                    .header(&relative(&case.expected), "actual")
                    .to_string();
                failures.push(format!("{name}: output differs\n{diff}"));
            }
            Err(_) => failures.push(format!(
                "{name}: no expected output {}; actual output:\n{actual}",
                relative(&case.expected)
            )),
        }
    }

    // Expected files whose case is gone.
    let mut expected_files = Vec::new();
    find_expected(&ui_dir(), &mut expected_files);
    expected_files.sort();
    for file in expected_files {
        if !cases.iter().any(|c| c.expected == file) {
            failures.push(format!(
                "{}: no .tpt case for this expected output",
                relative(&file)
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {} ui cases failed (run with BLESS=1 to accept the new output):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every diagnostic code has at least one snapshot showing it.
#[test]
fn every_code_has_a_ui_test() {
    let mut files = Vec::new();
    find_expected(&ui_dir(), &mut files);
    let all: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<String> = tpt_lang::Code::ALL
        .iter()
        .filter(|c| !all.contains(c.as_str()))
        .map(|c| format!("{} ({c:?})", c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "these codes appear in no tests/ui/**/*.stderr file; add a case for each:\n  {}",
        missing.join("\n  ")
    );
}

//! The formatter over every `.tpt` file of the repository (examples, stdlib,
//! tests): the output is faithful (same tree, same comments, no fallback),
//! idempotent, and fixtures in `tests/fmt/` format to their expected text.

use std::path::{Path, PathBuf};

use tpt_lang::fmt::{format_source, format_unchecked};
use tpt_lang::source::FileId;

fn tpt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "fuzz" {
            continue;
        }
        if p.is_dir() {
            tpt_files(&p, out);
        } else if name.ends_with(".tpt") {
            out.push(p);
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_file_formats_faithfully_and_idempotently() {
    let mut files = Vec::new();
    for dir in ["examples", "stdlib", "tests", "lang/tests"] {
        tpt_files(&repo().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut problems = Vec::new();
    let mut formatted_count = 0;
    for f in &files {
        let Ok(src) = std::fs::read_to_string(f) else {
            continue;
        };
        let Some((once, faithful)) = format_unchecked(FileId(0), &src) else {
            continue;
        };
        formatted_count += 1;
        if !faithful {
            problems.push(format!(
                "{}: the output changes the meaning or loses a comment:\n{once}",
                f.display()
            ));
            continue;
        }
        let twice = format_source(FileId(0), &once).unwrap_or_default();
        if twice != once {
            problems.push(format!(
                "{}: not idempotent:\n--- once\n{once}\n--- twice\n{twice}",
                f.display()
            ));
        }
    }
    assert!(formatted_count > 20);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn fixtures_format_to_their_expected_text() {
    let dir = repo().join("lang/tests/fmt");
    let mut files = Vec::new();
    tpt_files(&dir, &mut files);
    let mut n = 0;
    for input in files.iter().filter(|p| p.to_string_lossy().ends_with(".in.tpt")) {
        let expected_path = PathBuf::from(input.to_string_lossy().replace(".in.tpt", ".out.tpt"));
        let src = std::fs::read_to_string(input).unwrap_or_default();
        let got = format_source(FileId(0), &src).unwrap_or_default();
        if std::env::var_os("BLESS").is_some() {
            let _ = std::fs::write(&expected_path, &got);
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(
            got,
            expected,
            "{} (BLESS=1 rewrites the expected file)",
            input.display()
        );
        n += 1;
    }
    assert!(n > 0, "no fixtures in {}", dir.display());
}

#[test]
fn files_with_syntax_errors_are_not_formatted() {
    assert!(format_source(FileId(0), "let x = \n").is_err());
}

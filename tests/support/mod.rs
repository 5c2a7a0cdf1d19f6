//! Helpers shared by the integration tests: running the built `tpt` binary
//! from the repository root, and finding test files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the root package's directory); tests run `tpt` there
/// so that file names in diagnostics are short and stable.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of `tpt` printed, and its exit code.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs `tpt ARGS` in `dir` with colors off.
pub fn tpt_in(dir: &Path, args: &[&str]) -> Output {
    tpt_with(dir, args, &[])
}

/// Runs `tpt ARGS` in `dir` with colors off and extra environment variables.
pub fn tpt_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tpt"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .envs(vars.iter().copied())
        .output()
        .expect("the tpt binary runs");
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        // A signal (no code) shows as -1: a crash, never a valid outcome.
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs `tpt ARGS` in the repository root.
pub fn tpt(args: &[&str]) -> Output {
    tpt_in(&repo_root(), args)
}

/// Every `*.EXT` file directly in `dir`, sorted (empty if `dir` is missing).
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// `path` relative to the repository root, with `/` separators.
pub fn relative(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The value of a header comment `// KEY: value` among the leading comment lines.
pub fn header(text: &str, key: &str) -> Option<String> {
    let prefix = format!("// {key}:");
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
}

/// Copies a directory tree (for running commands on a copy of an example).
pub fn copy_dir(from: &Path, to: &Path) {
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

/// Compares `got` with the snapshot file at `path`; with `BLESS` set, rewrites
/// the file instead. Returns a description of a mismatch.
pub fn check_snapshot(path: &Path, got: &str) -> Option<String> {
    if std::env::var_os("BLESS").is_some() {
        let _ = std::fs::write(path, got);
        return None;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    (expected != got).then(|| format!("{}:\n--- expected\n{expected}\n--- got\n{got}", path.display()))
}

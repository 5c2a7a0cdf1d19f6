//! `tpt fmt`: format files in place (atomically: a temporary file renamed over
//! the original), or with `--check` list the files that would change.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tpt_lang::{Code, Diagnostic, SourceMap};

use super::{exit, FAILED, OK};
use crate::cli::FmtArgs;
use crate::render::{plural, status, Renderer};
use tpt_executor::host::io_message;

pub fn run(args: &FmtArgs, renderer: &Renderer) -> ExitCode {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for root in &roots {
        collect(root, true, &mut files, &mut errors);
    }
    let none = SourceMap::new();
    renderer.emit(&errors, &none);
    let mut failed = !errors.is_empty();
    let mut changed = 0usize;
    let mut stdout = std::io::stdout().lock();
    for path in &files {
        match format_file(path, args.check) {
            Outcome::Unchanged => {}
            Outcome::Changed => {
                changed += 1;
                let _ = writeln!(stdout, "{}", shown(path));
            }
            Outcome::Failed(diags, sources) => {
                failed = true;
                renderer.emit(&diags, &sources);
            }
        }
    }
    let _ = stdout.flush();
    let verb = if args.check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    if changed > 0 || failed {
        status(&format!(
            "{} {verb}, {} checked{}",
            plural(changed, "file"),
            plural(files.len(), "file"),
            if failed {
                "; some files could not be formatted"
            } else {
                ""
            }
        ));
    }
    if failed || (args.check && changed > 0) {
        exit(FAILED)
    } else {
        exit(OK)
    }
}

enum Outcome {
    Unchanged,
    Changed,
    Failed(Vec<Diagnostic>, SourceMap),
}

fn format_file(path: &Path, check: bool) -> Outcome {
    let name = shown(path);
    let io_error = |what: &str, e: &std::io::Error| {
        Outcome::Failed(
            vec![
                Diagnostic::error(Code::Io, format!("cannot {what} `{name}`: {}", io_message(e)))
                    .help("check that the file exists and is readable and writable"),
            ],
            SourceMap::new(),
        )
    };
    let text = match tpt_executor::host::read_text(path) {
        Ok(t) => t,
        Err(e) => return io_error("read", &e),
    };
    let mut sources = SourceMap::new();
    let file = sources.add(name.clone(), text.as_str());
    let formatted = match tpt_lang::fmt::format_source(file, &text) {
        Ok(f) => f,
        Err(diags) => return Outcome::Failed(diags, sources),
    };
    if formatted == text {
        return Outcome::Unchanged;
    }
    if !check {
        if let Err(e) = write_atomically(path, &formatted) {
            return io_error("write", &e);
        }
    }
    Outcome::Changed
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`: a reader sees the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".tpt-fmt").tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Every file to format below `path`: the path itself when it is a file (given
/// explicitly, so any name), else `*.tpt` files found recursively, skipping
/// `target/` and hidden directories, in sorted order.
fn collect(path: &Path, explicit: bool, files: &mut Vec<PathBuf>, errors: &mut Vec<Diagnostic>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(
                Diagnostic::error(
                    Code::Io,
                    format!("cannot read `{}`: {}", shown(path), io_message(&e)),
                )
                .help("pass existing .tpt files or directories"),
            );
            return;
        }
    };
    if !meta.is_dir() {
        if explicit || path.extension().is_some_and(|e| e == "tpt") {
            files.push(path.to_path_buf());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(
                Diagnostic::error(
                    Code::Io,
                    format!("cannot read `{}`: {}", shown(path), io_message(&e)),
                )
                .help("check that the directory is readable"),
            );
            return;
        }
    };
    let mut children: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "target"
        })
        // Symbolic links to directories are not followed (no loops).
        .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    children.sort();
    for (child, is_dir) in children {
        if is_dir {
            collect(&child, false, files, errors);
        } else if child.extension().is_some_and(|e| e == "tpt") && child.is_file() {
            files.push(child);
        }
    }
}

/// A path as users wrote it, without a leading `./`.
fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    match text.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => text,
    }
}

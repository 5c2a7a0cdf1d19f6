//! The server's diagnostics are those of `tpt check`: for every UI snapshot case
//! of the repository (`tests/ui`, whose `.stderr` files are `tpt check`'s output,
//! kept exact by the root package's `ui` test), the analysis the server publishes
//! has the same diagnostics: the same codes, each at a location `tpt check` shows. Cases that run another
//! command or choose one environment (`// command:`, `// env:`) are not what an
//! editor shows and are left out.

use std::path::{Path, PathBuf};

use tpt_lsp::workspace::Workspace;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// `(input, file with the header comments, expected output)` of every case.
fn cases(dir: &Path, out: &mut Vec<(PathBuf, PathBuf, PathBuf)>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            let main = path.join("main.tpt");
            if main.is_file() {
                out.push((path.clone(), main, path.with_extension("stderr")));
            } else {
                cases(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "tpt") {
            out.push((path.clone(), path.clone(), path.with_extension("stderr")));
        }
    }
}

/// The code of each diagnostic of `tpt check`'s output, with the locations of
/// its snippets (miette heads each snippet with the primary label's location
/// when the snippet holds it, else with its first label's).
fn expected(stderr: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in stderr.lines() {
        let is_code =
            line.len() == 5 && line.starts_with('E') && line[1..].chars().all(|c| c.is_ascii_digit());
        if is_code {
            out.push((line.to_string(), Vec::new()));
        } else if let (Some((_, locs)), Some(at)) = (out.last_mut(), line.find("╭─[")) {
            locs.push(line[at + "╭─[".len()..].trim_end_matches(']').to_string());
        }
    }
    out
}

/// Pairs each of the server's diagnostics with one of `tpt check` of the same
/// code showing its primary location; what is left over on either side differs.
fn unmatched(mut want: Vec<(String, Vec<String>)>, got: Vec<(String, Option<String>)>) -> Vec<String> {
    let mut extra = Vec::new();
    for (code, loc) in got {
        let found = want.iter().position(|(c, locs)| {
            *c == code
                && match &loc {
                    Some(l) => locs.contains(l),
                    None => locs.is_empty(),
                }
        });
        match found {
            Some(i) => {
                want.remove(i);
            }
            None => extra.push(format!("only tpt lsp: {code} {}", loc.unwrap_or_default())),
        }
    }
    extra.extend(
        want.into_iter()
            .map(|(c, locs)| format!("only tpt check: {c} {locs:?}")),
    );
    extra
}

#[test]
fn diagnostics_are_those_of_tpt_check() {
    let repo = repo();
    let mut all = Vec::new();
    cases(&repo.join("tests/ui"), &mut all);
    let mut compared = 0;
    let mut failures = Vec::new();
    for (input, main, stderr) in all {
        let header = std::fs::read_to_string(&main).unwrap_or_default();
        if header
            .lines()
            .any(|l| l.starts_with("// env:") || l.starts_with("// command:") || l.starts_with("// vars:"))
        {
            continue;
        }
        let Ok(stderr) = std::fs::read_to_string(&stderr) else {
            continue;
        };
        let mut ws = Workspace::default();
        let file = if input.is_dir() {
            input.join("main.tpt")
        } else {
            input.clone()
        };
        let analysis = ws.analysis_for(&file);
        let prefix = format!("{}/", repo.display());
        let got: Vec<(String, Option<String>)> = analysis
            .diagnostics()
            .iter()
            .map(|d| {
                let loc = d.primary_span().map(|span| {
                    analysis
                        .program
                        .sources
                        .location(span)
                        .trim_start_matches(&prefix)
                        .to_string()
                });
                (d.code.to_string(), loc)
            })
            .collect();
        let differences = unmatched(expected(&stderr), got);
        if !differences.is_empty() {
            failures.push(format!("{}:\n  {}", input.display(), differences.join("\n  ")));
        }
        compared += 1;
    }
    assert!(compared > 30, "only {compared} cases compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_examples_are_clean() {
    for example in ["examples/shop/main.tpt", "examples/multi-region/main.tpt"] {
        let mut ws = Workspace::default();
        let analysis = ws.analysis_for(&repo().join(example));
        let codes: Vec<String> = analysis
            .diagnostics()
            .iter()
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        assert!(codes.is_empty(), "{example}: {codes:?}");
    }
}

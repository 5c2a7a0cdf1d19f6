//! Data-driven tests of the language server through JSON-RPC. Each
//! `tests/cases/*.case` holds files (`--- PATH` then the text, opened in the
//! editor; `--- PATH (closed)` only on disk) and, after
//! `=== requests`, one request per line; the server's answers, rendered as
//! text, must equal `*.snap` beside it (`BLESS=1` rewrites them).
//!
//! Requests (positions are 1-based `LINE:COL`):
//! `diagnostics FILE`, `hover FILE L:C`, `completion FILE L:C`,
//! `definition FILE L:C`, `references FILE L:C`, `rename FILE L:C NAME`,
//! `symbols FILE`, `format FILE`, `actions FILE L:C`, `tokens FILE` (semantic
//! tokens), `signature FILE L:C`, `inlay FILE` (hints of the whole file),
//! `lenses FILE`, `check DIR` (the `tpt.check` command), and
//! `change FILE L:C-L:C "JSON string"` (an incremental edit).

mod support;

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};
use support::{check_snapshot, Client};

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut failures = Vec::new();
    for path in &paths {
        let input = std::fs::read_to_string(path).expect("readable case");
        let actual = run_case(&input);
        if let Err(e) = check_snapshot(&path.with_extension("snap"), &actual) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn run_case(input: &str) -> String {
    let (files, requests) = input
        .split_once("=== requests\n")
        .expect("a case has `=== requests`");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    let mut sources = Vec::new();
    for chunk in files.split("--- ").skip(1) {
        let (name, text) = chunk.split_once('\n').unwrap_or((chunk, ""));
        // `--- PATH (closed)`: on disk only, never opened in the editor.
        let (name, closed) = match name.trim().strip_suffix("(closed)") {
            Some(n) => (n.trim(), true),
            None => (name.trim(), false),
        };
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a file has a directory")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        if !closed {
            sources.push((name.to_string(), text.to_string()));
        }
    }
    let mut client = Client::start(&root);
    for (name, text) in &sources {
        client.open(name, text);
    }
    let mut out = String::new();
    for line in requests
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let _ = writeln!(out, ">>> {line}");
        let result = run_request(&mut client, line);
        out.push_str(&render_paths(&result, &root));
        out.push('\n');
    }
    client.shutdown();
    out
}

fn position(lc: &str) -> Value {
    let (l, c) = lc.split_once(':').expect("LINE:COL");
    let l: u32 = l.parse().expect("a line number");
    let c: u32 = c.parse().expect("a column number");
    json!({ "line": l - 1, "character": c - 1 })
}

fn run_request(client: &mut Client, line: &str) -> String {
    let mut words = line.splitn(4, ' ');
    let command = words.next().unwrap_or("");
    let file = words.next().unwrap_or("");
    let arg = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("");
    let uri = client.uri(file);
    let at = |arg: &str| json!({ "textDocument": { "uri": uri }, "position": position(arg) });
    match command {
        "diagnostics" => render_diagnostics(&client.diagnostics(file)),
        "hover" => {
            let r = client.request("textDocument/hover", at(arg));
            match r.get("contents").and_then(|c| c.get("value")) {
                Some(v) => format!("{}\n{}\n", range(&r["range"]), v.as_str().unwrap_or("")),
                None => "(nothing)\n".to_string(),
            }
        }
        "completion" => render_completion(&client.request("textDocument/completion", at(arg))),
        "definition" => {
            let r = client.request("textDocument/definition", at(arg));
            if r.is_null() {
                "(nothing)\n".into()
            } else {
                format!("{}\n", location(&r))
            }
        }
        "references" => {
            let mut params = at(arg);
            params["context"] = json!({ "includeDeclaration": true });
            let r = client.request("textDocument/references", params);
            r.as_array()
                .map(|ls| ls.iter().map(|l| format!("{}\n", location(l))).collect())
                .unwrap_or_else(|| "(nothing)\n".into())
        }
        "lenses" => {
            let r = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri } }));
            let mut out = String::new();
            for l in r.as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{} {} {} {}",
                    range(&l["range"]),
                    l["command"]["title"].as_str().unwrap_or(""),
                    l["command"]["command"].as_str().unwrap_or(""),
                    l["command"]["arguments"]
                        .to_string()
                        .replace(&client.root.display().to_string(), "ROOT")
                );
            }
            if out.is_empty() {
                out.push_str("(nothing)\n");
            }
            out
        }
        "check" => {
            // `check DIR`: the `tpt.check` command on a configuration of the case.
            let config = client.root.join(file);
            let r = client.request(
                "workspace/executeCommand",
                json!({ "command": "tpt.check", "arguments": [config] }),
            );
            format!("{}\n", r["message"].as_str().unwrap_or(""))
        }
        "inlay" => {
            let r = client.request(
                "textDocument/inlayHint",
                json!({ "textDocument": { "uri": uri },
                        "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 100000, "character": 0 } } }),
            );
            let mut out = String::new();
            for h in r.as_array().into_iter().flatten() {
                let p = &h["position"];
                let _ = writeln!(
                    out,
                    "{}:{} {}",
                    p["line"].as_u64().unwrap_or(0) + 1,
                    p["character"].as_u64().unwrap_or(0) + 1,
                    h["label"].as_str().unwrap_or("")
                );
                if let Some(t) = h["tooltip"].as_str() {
                    let _ = writeln!(out, "    tooltip: {t}");
                }
            }
            if out.is_empty() {
                out.push_str("(nothing)\n");
            }
            out
        }
        "signature" => {
            let r = client.request("textDocument/signatureHelp", at(arg));
            match r["signatures"].get(0) {
                Some(sig) => {
                    let label = sig["label"].as_str().unwrap_or("");
                    let active = r["activeParameter"].as_u64().unwrap_or(0) as usize;
                    let param = sig["parameters"]
                        .get(active)
                        .and_then(|p| p["label"].as_array())
                        .map(|o| {
                            let (a, b) = (o[0].as_u64().unwrap_or(0), o[1].as_u64().unwrap_or(0));
                            label
                                .chars()
                                .skip(a as usize)
                                .take((b - a) as usize)
                                .collect::<String>()
                        })
                        .unwrap_or_default();
                    let doc = sig["documentation"]["value"].as_str().unwrap_or("");
                    format!("{label}\n  at: {param}\n  {doc}\n")
                }
                None => "(nothing)\n".into(),
            }
        }
        "tokens" => {
            let r = client.request(
                "textDocument/semanticTokens/full",
                json!({ "textDocument": { "uri": uri } }),
            );
            render_tokens(client, &uri, &r)
        }
        "wsymbols" => {
            let r = client.request("workspace/symbol", json!({ "query": arg }));
            r.as_array()
                .map(|ss| {
                    ss.iter()
                        .map(|s| {
                            format!(
                                "{} (kind {}) {}\n",
                                s["name"].as_str().unwrap_or(""),
                                s["kind"],
                                location(&s["location"])
                            )
                        })
                        .collect()
                })
                .unwrap_or_else(|| "(nothing)\n".into())
        }
        "selection" => {
            let r = client.request(
                "textDocument/selectionRange",
                json!({ "textDocument": { "uri": uri }, "positions": [position(arg)] }),
            );
            let mut out = String::new();
            let mut at = r.get(0);
            while let Some(s) = at {
                out.push_str(&format!("{}\n", range(&s["range"])));
                at = s.get("parent");
            }
            if out.is_empty() {
                out = "(nothing)\n".into();
            }
            out
        }
        "links" => {
            let r = client.request(
                "textDocument/documentLink",
                json!({ "textDocument": { "uri": uri } }),
            );
            r.as_array()
                .map(|ls| {
                    ls.iter()
                        .map(|l| {
                            let target = l["target"].as_str().unwrap_or("");
                            // The file's name: the directories are the test's or the stdlib copy's.
                            let shown = target.rsplit('/').take(2).collect::<Vec<_>>();
                            format!(
                                "{} → …/{}/{}\n",
                                range(&l["range"]),
                                shown.get(1).unwrap_or(&""),
                                shown.first().unwrap_or(&"")
                            )
                        })
                        .collect()
                })
                .unwrap_or_else(|| "(nothing)\n".into())
        }
        "folding" => {
            let r = client.request(
                "textDocument/foldingRange",
                json!({ "textDocument": { "uri": uri } }),
            );
            r.as_array()
                .map(|fs| {
                    fs.iter()
                        .map(|f| {
                            format!(
                                "lines {}-{}\n",
                                f["startLine"].as_u64().unwrap_or(0) + 1,
                                f["endLine"].as_u64().unwrap_or(0) + 1
                            )
                        })
                        .collect()
                })
                .unwrap_or_else(|| "(nothing)\n".into())
        }
        "highlight" => {
            let r = client.request("textDocument/documentHighlight", at(arg));
            r.as_array()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            let kind = match h["kind"].as_u64() {
                                Some(3) => "write",
                                Some(2) => "read",
                                _ => "text",
                            };
                            format!("{} {kind}\n", range(&h["range"]))
                        })
                        .collect()
                })
                .unwrap_or_else(|| "(nothing)\n".into())
        }
        "rename" => {
            let mut params = at(arg);
            params["newName"] = json!(rest);
            let r = client.request_raw("textDocument/rename", params);
            match (r.result, r.error) {
                (_, Some(e)) => format!("error {}: {}\n", e.code, e.message),
                (Some(v), None) => render_edit(&v),
                (None, None) => "(nothing)\n".into(),
            }
        }
        "symbols" => {
            let r = client.request(
                "textDocument/documentSymbol",
                json!({ "textDocument": { "uri": uri } }),
            );
            let mut out = String::new();
            for s in r.as_array().into_iter().flatten() {
                render_symbol(s, 0, &mut out);
            }
            out
        }
        "format" | "rangeformat" => {
            let options = json!({ "tabSize": 2, "insertSpaces": true });
            let r = if command == "format" {
                client.request_raw(
                    "textDocument/formatting",
                    json!({ "textDocument": { "uri": uri }, "options": options }),
                )
            } else {
                let (from, to) = arg.split_once('-').expect("L:C-L:C");
                client.request_raw(
                    "textDocument/rangeFormatting",
                    json!({ "textDocument": { "uri": uri }, "range": { "start": position(from), "end": position(to) }, "options": options }),
                )
            };
            match (r.result, r.error) {
                (_, Some(e)) => format!("error {}: {}\n", e.code, e.message),
                (Some(v), None) => match v.as_array() {
                    Some(edits) if !edits.is_empty() => edits
                        .iter()
                        .map(|edit| {
                            format!(
                                "edit {}: {:?}\n",
                                range(&edit["range"]),
                                edit["newText"].as_str().unwrap_or("")
                            )
                        })
                        .collect(),
                    _ => "(unchanged)\n".into(),
                },
                (None, None) => "(nothing)\n".into(),
            }
        }
        "actions" => {
            let p = position(arg);
            let r = client.request(
                "textDocument/codeAction",
                json!({ "textDocument": { "uri": uri }, "range": { "start": p, "end": p },
                        "context": { "diagnostics": [] } }),
            );
            let mut out = String::new();
            for a in r.as_array().into_iter().flatten() {
                let preferred = if a["isPreferred"] == true {
                    " preferred"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "{} [{}{preferred}]",
                    a["title"].as_str().unwrap_or(""),
                    a["kind"].as_str().unwrap_or("")
                );
                out.push_str(&render_edit(&a["edit"]));
            }
            if out.is_empty() {
                out.push_str("(no actions)\n");
            }
            out
        }
        "change" => {
            let (from, to) = arg.split_once('-').expect("L:C-L:C");
            let text: String = serde_json::from_str(rest).expect("the new text as a JSON string");
            client.change(
                file,
                json!({ "start": position(from), "end": position(to) }),
                &text,
            );
            String::new()
        }
        other => panic!("unknown request `{other}`"),
    }
}

/// Each token on a line: `L:C name type modifiers` (the name while the
/// document is as opened), decoded with the legend the server announced.
fn render_tokens(client: &Client, uri: &lsp_types::Url, r: &Value) -> String {
    let legend = &client.init["capabilities"]["semanticTokensProvider"]["legend"];
    let name_of = |list: &str, i: u64| legend[list][i as usize].as_str().unwrap_or("?").to_string();
    let lines: Vec<&str> = client
        .texts
        .get(uri)
        .map(|t| t.lines().collect())
        .unwrap_or_default();
    let data: Vec<u64> = r["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let (mut line, mut col) = (0, 0);
    let mut out = String::new();
    for t in data.chunks(5) {
        let [dl, dc, len, ty, mods] = [t[0], t[1], t[2], t[3], t[4]];
        col = if dl == 0 { col + dc } else { dc };
        line += dl;
        let name: String = lines
            .get(line as usize)
            .map(|l| l.chars().skip(col as usize).take(len as usize).collect())
            .unwrap_or_default();
        let mods: Vec<String> = (0..32)
            .filter(|b| mods & (1 << b) != 0)
            .map(|b| name_of("tokenModifiers", b))
            .collect();
        let _ = writeln!(
            out,
            "{}:{} {name} {} {}",
            line + 1,
            col + 1,
            name_of("tokenTypes", ty),
            mods.join(",")
        );
    }
    if out.is_empty() {
        out.push_str("(nothing)\n");
    }
    out
}

fn range(r: &Value) -> String {
    let p = |v: &Value| {
        format!(
            "{}:{}",
            v["line"].as_u64().unwrap_or(0) + 1,
            v["character"].as_u64().unwrap_or(0) + 1
        )
    };
    if r.is_null() {
        return "(no range)".into();
    }
    format!("{}-{}", p(&r["start"]), p(&r["end"]))
}

fn location(l: &Value) -> String {
    format!("{} {}", l["uri"].as_str().unwrap_or(""), range(&l["range"]))
}

fn render_diagnostics(diags: &Value) -> String {
    let mut out = String::new();
    for d in diags.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{} {} {}",
            range(&d["range"]),
            d["code"].as_str().unwrap_or(""),
            d["message"].as_str().unwrap_or("").replace('\n', "\n    ")
        );
        let fixes = d
            .get("data")
            .and_then(|d| d.get("fixes"))
            .and_then(Value::as_array);
        for fix in fixes.into_iter().flatten() {
            let preferred = if fix["preferred"] == true {
                " (preferred)"
            } else {
                ""
            };
            let _ = writeln!(out, "    fix: {}{preferred}", fix["title"].as_str().unwrap_or(""));
        }
        for r in d["relatedInformation"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    related: {} {}",
                location(&r["location"]),
                r["message"].as_str().unwrap_or("")
            );
        }
    }
    if out.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// At most this many completion items are shown (sorted as an editor sorts them).
const SHOWN_ITEMS: usize = 25;

fn render_completion(r: &Value) -> String {
    let mut items: Vec<&Value> = r["items"].as_array().into_iter().flatten().collect();
    let key = |i: &Value| {
        (
            i["sortText"]
                .as_str()
                .or(i["label"].as_str())
                .unwrap_or("")
                .to_string(),
            i["label"].as_str().unwrap_or("").to_string(),
        )
    };
    items.sort_by_key(|i| key(i));
    let mut out = String::new();
    for i in items.iter().take(SHOWN_ITEMS) {
        let kind = i["kind"].as_u64().unwrap_or(0);
        let _ = write!(out, "{} (kind {kind})", i["label"].as_str().unwrap_or(""));
        if let Some(d) = i["detail"].as_str() {
            let _ = write!(out, ": {d}");
        }
        if let Some(doc) = i["documentation"]["value"].as_str() {
            let _ = write!(out, " — {}", doc.lines().next().unwrap_or(""));
        }
        out.push('\n');
    }
    if items.len() > SHOWN_ITEMS {
        let _ = writeln!(out, "… {} more", items.len() - SHOWN_ITEMS);
    }
    if items.is_empty() {
        out.push_str("(no items)\n");
    }
    out
}

fn render_edit(edit: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(changes) = edit["changes"].as_object() {
        for (uri, edits) in changes {
            for e in edits.as_array().into_iter().flatten() {
                lines.push(format!("{uri} {} → {}", range(&e["range"]), e["newText"]));
            }
        }
    }
    lines.sort();
    if lines.is_empty() {
        return "(no edits)\n".into();
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn render_symbol(s: &Value, depth: usize, out: &mut String) {
    let _ = write!(
        out,
        "{}{} (kind {}) {}",
        "  ".repeat(depth),
        s["name"].as_str().unwrap_or(""),
        s["kind"],
        range(&s["range"])
    );
    if let Some(d) = s["detail"].as_str() {
        let _ = write!(out, " {d}");
    }
    out.push('\n');
    for c in s["children"].as_array().into_iter().flatten() {
        render_symbol(c, depth + 1, out);
    }
}

/// URIs of the temporary workspace and of the written standard library as short paths.
fn render_paths(text: &str, root: &Path) -> String {
    let prefix = format!("file://{}/", root.display());
    stdlib_paths(&text.replace(&prefix, ""))
}

/// `file:///…/tpt-stdlib-HASH/std/aws.tpt` → `std/aws.tpt`.
fn stdlib_paths(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        while let Some(i) = line.find("file://") {
            let Some(j) = line[i..].find("/std/") else { break };
            line.replace_range(i..i + j + 1, "");
        }
        out.push_str(&line);
    }
    out
}

/// A client that pulls diagnostics: none are pushed; a document's report, then
/// "unchanged" for the same result id; the workspace's report holds a
/// configuration no document of which is open; an edit asks the client to pull again.
#[test]
fn diagnostics_are_pulled_by_a_client_that_asks_for_them() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    for (rel, text) in [
        ("shop/main.tpt", "let a: int = \"x\"\n"),
        ("blog/main.tpt", "let b = missing\n"),
    ] {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let caps = json!({ "textDocument": { "diagnostic": {} },
                       "workspace": { "diagnostics": { "refreshSupport": true } } });
    let mut client = Client::start_with(&root, caps);
    let provider = &client.init["capabilities"]["diagnosticProvider"];
    assert_eq!(provider["workspaceDiagnostics"], true, "{provider}");
    client.open("shop/main.tpt", "let a: int = \"x\"\n");
    let uri = client.uri("shop/main.tpt");
    let first = client.request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(first["kind"], "full", "{first}");
    assert_eq!(first["items"][0]["code"], "E0200", "{first}");
    let again = client.request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": uri }, "previousResultId": first["resultId"] }),
    );
    assert_eq!(
        again,
        json!({ "kind": "unchanged", "resultId": first["resultId"] })
    );
    let all = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    let blog = client.uri("blog/main.tpt");
    let report = all["items"]
        .as_array()
        .and_then(|items| items.iter().find(|r| r["uri"] == blog.as_str()))
        .unwrap_or_else(|| panic!("no report of blog/main.tpt in {all}"));
    assert_eq!(report["items"][0]["code"], "E0100", "{report}");
    // An edit: the client is asked to pull again, and the report is new.
    client.change(
        "shop/main.tpt",
        json!({ "start": { "line": 0, "character": 13 }, "end": { "line": 0, "character": 16 } }),
        "1",
    );
    client.server_request("workspace/diagnostic/refresh");
    let fixed = client.request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": uri }, "previousResultId": first["resultId"] }),
    );
    assert_eq!(fixed["kind"], "full", "{fixed}");
    assert_eq!(fixed["items"], json!([]), "{fixed}");
    assert!(
        client
            .notifications
            .iter()
            .all(|n| n.method != "textDocument/publishDiagnostics"),
        "diagnostics were pushed to a client that pulls them"
    );
    client.shutdown();
}

/// The CPU time this process has used (user and system).
#[cfg(target_os = "linux")]
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which may hold spaces, inside parentheses).
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split(' ').map(|f| f.parse().unwrap_or(0)).collect();
    // utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

/// Evaluating every environment runs off the request loop: a request is
/// answered while a long evaluation runs, and an edit that makes the analysis
/// stale stops its evaluation (the process stops spending CPU on it).
#[cfg(target_os = "linux")]
#[test]
fn a_long_evaluation_runs_beside_requests_and_an_edit_cancels_it() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    // Every environment different: each evaluates the whole list (seconds in all).
    let envs: String = (0..40)
        .map(|i| format!("environment e{i} {{ k = {i} }}\n"))
        .collect();
    let text =
        format!("param k: int = 1\nlet xs = [for i in range(300000) : i * k]\nlet total = sum(xs)\n{envs}");
    std::fs::write(root.join("main.tpt"), &text).expect("write");
    let mut client = Client::start(&root);
    client.open("main.tpt", &text);
    let uri = client.uri("main.tpt");
    // Answered while the evaluation runs: before the diagnostics of version 1.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 5 } }),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("let xs")),
        "{hover}"
    );
    assert!(
        !client
            .notifications
            .iter()
            .any(|n| n.method == "textDocument/publishDiagnostics"),
        "the evaluation finished before the hover was answered: make it longer"
    );
    // The evaluation runs (on another thread): the process spends CPU.
    let start = cpu_time();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let running = cpu_time() - start;
    assert!(
        running > std::time::Duration::from_millis(150),
        "only {running:?} of CPU in 0.6 s: no evaluation runs"
    );
    // An edit with a type error: nothing to evaluate, and the running
    // evaluation of version 1 is of no use any more.
    client.change(
        "main.tpt",
        json!({ "start": { "line": 2, "character": 12 }, "end": { "line": 2, "character": 19 } }),
        "\"x\" + 1",
    );
    let diags = client.diagnostics("main.tpt");
    assert_eq!(diags[0]["code"], "E0200", "{diags}");
    // Give the evaluation thread a moment to see its flag, then measure.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = cpu_time();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let spent = cpu_time() - before;
    assert!(
        spent < std::time::Duration::from_millis(500),
        "{spent:?} of CPU in 1.5 s: the stale evaluation goes on"
    );
    client.shutdown();
}

/// A client that can watch files is asked to report every `.tpt` file; a
/// configuration that appears on disk is then checked and its diagnostics
/// published, and one that changes on disk is checked again.
#[test]
fn watched_files_are_registered_and_their_changes_honoured() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    std::fs::create_dir_all(root.join("shop")).expect("mkdir");
    std::fs::write(root.join("shop/main.tpt"), "let a = 1\n").expect("write");
    let caps = json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } });
    let mut client = Client::start_with(&root, caps);
    let registration = client.server_request("client/registerCapability");
    let r = &registration.params["registrations"][0];
    assert_eq!(r["method"], "workspace/didChangeWatchedFiles", "{r}");
    assert_eq!(
        r["registerOptions"]["watchers"][0]["globPattern"], "**/*.tpt",
        "{r}"
    );
    client.open("shop/main.tpt", "let a = 1\n");
    assert_eq!(client.diagnostics("shop/main.tpt"), json!([]));
    // A new configuration, made by another program.
    std::fs::create_dir_all(root.join("blog")).expect("mkdir");
    std::fs::write(root.join("blog/main.tpt"), "let b = missing\n").expect("write");
    let blog = client.uri("blog/main.tpt");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": blog, "type": 1 }] }),
    );
    let diags = client.diagnostics("blog/main.tpt");
    assert_eq!(diags[0]["code"], "E0100", "{diags}");
    // Mended on disk.
    std::fs::write(root.join("blog/main.tpt"), "let b = 2\n").expect("write");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": blog, "type": 2 }] }),
    );
    assert_eq!(client.diagnostics("blog/main.tpt"), json!([]));
    client.shutdown();
}

/// A client that pulls diagnostics while the environments are evaluated: its
/// pull waits for the evaluation, and a request sent after it is answered first.
#[test]
fn a_pull_waits_for_the_evaluation_and_other_requests_go_first() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    let envs: String = (0..6)
        .map(|i| format!("environment e{i} {{ k = {i} }}\n"))
        .collect();
    let text =
        format!("param k: int = 1\nlet xs = [for i in range(200000) : i * k]\nlet total = sum(xs)\n{envs}");
    std::fs::write(root.join("main.tpt"), &text).expect("write");
    let caps = json!({ "textDocument": { "diagnostic": {} } });
    let mut client = Client::start_with(&root, caps);
    client.open("main.tpt", &text);
    let uri = client.uri("main.tpt");
    let pull = client.send_request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": uri } }),
    );
    let hover = client.send_request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 5 } }),
    );
    let hovered = client.response(&hover);
    assert!(hovered.result.is_some(), "{hovered:?}");
    assert!(
        client.responses.iter().all(|r| r.id != pull),
        "the pull was answered before the hover sent after it"
    );
    let pulled = client.response(&pull);
    let report = pulled.result.unwrap_or_default();
    assert_eq!(report["kind"], "full", "{report}");
    assert_eq!(report["items"], json!([]), "{report}");
    client.shutdown();
}

/// More configurations than are evaluated at once: each is evaluated in its
/// turn, and the error only its evaluation finds is published for every one.
#[test]
fn every_configuration_is_evaluated_in_its_turn() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    let names = ["a", "b", "c", "d", "e", "f"];
    for name in names {
        std::fs::create_dir_all(root.join(name)).expect("mkdir");
        std::fs::write(
            root.join(name).join("main.tpt"),
            "let xs = [1, 2]\nlet x = xs[5]\n",
        )
        .expect("write");
    }
    let mut client = Client::start(&root);
    // Opening one document starts the publishing of every configuration.
    client.open("a/main.tpt", "let xs = [1, 2]\nlet x = xs[5]\n");
    for name in names {
        let diags = client.diagnostics(&format!("{name}/main.tpt"));
        assert_eq!(diags[0]["code"], "E0502", "{name}: {diags}");
    }
    client.shutdown();
}

/// A client that asks for it in its initialization options gets the standard
/// library as virtual documents (`tpt-std:///std/aws.tpt`, their text from
/// `tpt/stdlibDocument`), which answer requests like any document.
#[test]
fn the_standard_library_is_served_as_virtual_documents() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical temp dir");
    let text = "import std.aws\n\nresource zone: aws.HostedZone {\n  name = \"acme.io\"\n}\n";
    std::fs::write(root.join("main.tpt"), text).expect("write");
    let mut client = Client::start_with_params(
        &root,
        json!({ "capabilities": {}, "initializationOptions": { "stdlibDocuments": true } }),
    );
    client.open("main.tpt", text);
    let uri = client.uri("main.tpt");
    let def = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 2, "character": 22 } }),
    );
    let target = def["uri"].as_str().unwrap_or_default().to_string();
    assert_eq!(target, "tpt-std:///std/aws.tpt", "{def}");
    let doc = client.request("tpt/stdlibDocument", json!({ "uri": target }));
    let std_text = doc["text"].as_str().unwrap_or_default().to_string();
    assert!(std_text.contains("resource schema HostedZone"), "{doc}");
    // The definition's line is the schema's.
    let line = def["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
    assert!(
        std_text
            .lines()
            .nth(line)
            .is_some_and(|l| l.contains("HostedZone")),
        "{def}"
    );
    // Opened, it answers hover like any document.
    let std_uri: lsp_types::Url = target.parse().expect("a URI");
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": std_uri, "languageId": "tpt", "version": 1, "text": std_text } }),
    );
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": std_uri }, "position": { "line": line, "character": 18 } }),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("HostedZone")),
        "{hover}"
    );
    let unknown = client.request_raw("tpt/stdlibDocument", json!({ "uri": "tpt-std:///std/nope.tpt" }));
    assert!(unknown.error.is_some(), "{unknown:?}");
    client.shutdown();
}

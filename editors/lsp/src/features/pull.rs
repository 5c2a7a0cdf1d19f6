//! Pull diagnostics (LSP 3.17), for clients that ask for them instead of
//! having them pushed: a document's report, and the workspace's (every file
//! of every configuration, open or not). Each report has a result id, the
//! hash of its items, so that a client asking again for what has not changed
//! gets "unchanged". The server then pushes nothing and, when an edit changes
//! the analyses, asks the client to pull again (`workspace/diagnostic/refresh`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use lsp_types::{DocumentDiagnosticParams, Url, WorkspaceDiagnosticParams};
use serde_json::{json, Value};

use crate::server::{Answer, Server};

pub fn document(server: &mut Server, p: DocumentDiagnosticParams) -> Answer {
    let uri = p.text_document.uri;
    let items = match server.file(&uri) {
        Some((a, _)) => server
            .diagnostics_of(&a)
            .into_iter()
            .find(|(u, _)| *u == uri)
            .map(|(_, items)| items)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(report(&items, p.previous_result_id.as_deref()))
}

pub fn workspace(server: &mut Server, p: WorkspaceDiagnosticParams) -> Answer {
    let previous: HashMap<Url, String> = p
        .previous_result_ids
        .into_iter()
        .map(|r| (r.uri, r.value))
        .collect();
    // A file of several configurations (a shared library): the diagnostics of each.
    let mut by_uri: Vec<(Url, Vec<lsp_types::Diagnostic>)> = Vec::new();
    for a in server.ws.every_analysis() {
        for (uri, items) in server.diagnostics_of(&a) {
            match by_uri.iter_mut().find(|(u, _)| *u == uri) {
                Some((_, list)) => {
                    for d in items {
                        if !list.contains(&d) {
                            list.push(d);
                        }
                    }
                }
                None => by_uri.push((uri, items)),
            }
        }
    }
    let items: Vec<Value> = by_uri
        .into_iter()
        .map(|(uri, items)| {
            let version = server.version_of(&uri);
            let mut r = report(&items, previous.get(&uri).map(String::as_str));
            r["uri"] = json!(uri);
            r["version"] = json!(version);
            r
        })
        .collect();
    Ok(json!({ "items": items }))
}

/// A full report, or "unchanged" when its id is `previous`.
fn report(items: &[lsp_types::Diagnostic], previous: Option<&str>) -> Value {
    let text = serde_json::to_string(items).unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    let id = format!("{:016x}", h.finish());
    if previous == Some(id.as_str()) {
        json!({ "kind": "unchanged", "resultId": id })
    } else {
        json!({ "kind": "full", "resultId": id, "items": items })
    }
}

//! Definitions in the standard library open a copy of it, and that copy is a
//! document like others: hover and go to definition work inside it.

mod support;

use serde_json::{json, Value};
use support::Client;

#[test]
fn the_standard_library_can_be_browsed() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical");
    let mut c = Client::start(&root);
    c.open("main.tpt", "import std.aws\n\nresource db: aws.Postgres {}\n");
    let main = c.uri("main.tpt");
    let def = c.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": main }, "position": { "line": 2, "character": 22 } }),
    );
    let uri: lsp_types::Url = serde_json::from_value(def["uri"].clone()).expect("a location");
    assert!(uri.path().ends_with("/std/aws.tpt"), "{uri}");
    let text = std::fs::read_to_string(uri.to_file_path().expect("a file")).expect("the copy exists");
    assert_eq!(
        text,
        tpt_lang::stdlib::module("aws").map(|(_, t)| t).unwrap_or("")
    );
    assert_eq!(
        def["range"]["start"]["line"]
            .as_u64()
            .map(|l| text.lines().nth(l as usize)),
        Some(Some("resource schema Postgres {"))
    );

    // Inside the copy: the type of Postgres's `region` field, and where it is declared.
    let line = text
        .lines()
        .position(|l| l.contains("@replace region: Region?"))
        .expect("the field") as u64;
    let col = text
        .lines()
        .nth(line as usize)
        .and_then(|l| l.find("Region?"))
        .expect("the type") as u64;
    let at = json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": col + 1 } });
    let hover = c.request("textDocument/hover", at.clone());
    let shown = hover["contents"]["value"].as_str().unwrap_or("");
    assert!(shown.contains("type aws.Region = \"us-east-1\""), "{shown}");
    let def = c.request("textDocument/definition", at);
    assert_eq!(def["uri"], Value::String(uri.to_string()));
    let decl = text
        .lines()
        .nth(def["range"]["start"]["line"].as_u64().unwrap_or(0) as usize);
    assert_eq!(decl.map(|l| l.starts_with("type Region =")), Some(true));
    // Renaming it is refused.
    let r = c.request_raw(
        "textDocument/rename",
        json!({ "textDocument": { "uri": main }, "position": { "line": 2, "character": 22 }, "newName": "Pg" }),
    );
    assert!(r.error.is_some());
    c.shutdown();
}

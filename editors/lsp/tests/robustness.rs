//! Bad input never stops the server: malformed requests are answered with
//! errors, unknown documents and positions with nothing, a panic inside a
//! handler with an internal error — and the next request is answered as usual.
//! Half-typed text is simulated by every prefix of an example.

mod support;

use lsp_server::ErrorCode;
use serde_json::{json, Value};
use support::Client;

#[test]
fn malformed_requests_are_errors_not_crashes() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut c = Client::start(tmp.path());
    let r = c.request_raw("textDocument/hover", json!({ "textDocument": 5 }));
    assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::InvalidParams as i32));
    let r = c.request_raw("textDocument/noSuchThing", json!({}));
    assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::MethodNotFound as i32));
    // A document nobody opened, that does not exist: nothing to say.
    let uri = c.uri("missing/nowhere.tpt");
    for method in [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
    ] {
        let r = c.request(
            method,
            json!({ "textDocument": { "uri": uri }, "position": { "line": 3, "character": 2 } }),
        );
        assert!(r.is_null() || r.get("items").is_some(), "{method}: {r}");
    }
    // A buffer that is not a file, positions far past its end.
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "untitled:Untitled-1", "languageId": "tpt", "version": 1, "text": "resource x: " } }),
    );
    let r = c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": "untitled:Untitled-1" }, "position": { "line": 99, "character": 99 } }),
    );
    assert!(r.get("items").is_some(), "{r}");
    let r = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": "untitled:Untitled-1" } }),
    );
    assert_eq!(r, json!([]));
    // A change with a range outside the text is clamped, not fatal.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": "untitled:Untitled-1", "version": 2 },
                "contentChanges": [{ "range": { "start": { "line": 50, "character": 0 }, "end": { "line": 2, "character": 0 } }, "text": "x" }] }),
    );
    let r = c.request("textDocument/hover", json!({ "textDocument": { "uri": "untitled:Untitled-1" }, "position": { "line": 0, "character": 0 } }));
    assert!(r.is_null() || r.get("contents").is_some());
    c.shutdown();
}

#[test]
fn a_panic_in_a_handler_is_an_error_answer() {
    let answer = tpt_lsp::guarded("textDocument/hover", || panic!("boom"));
    let failure = answer.expect_err("a panic is a failure");
    assert!(matches!(failure.code, ErrorCode::InternalError));
    assert!(
        failure.message.contains("textDocument/hover") && failure.message.contains("boom"),
        "{}",
        failure.message
    );
    let fine = tpt_lsp::guarded("x", || Ok(Value::Bool(true)));
    assert_eq!(fine.ok(), Some(Value::Bool(true)));
}

#[test]
fn every_prefix_of_an_example_is_answered() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/shop/main.tpt"
    ))
    .expect("the shop example");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path().canonicalize().expect("canonical");
    let mut c = Client::start(&root);
    c.open("main.tpt", "");
    let uri = c.uri("main.tpt");
    let mut cut = 0;
    let mut version = 1;
    while cut < example.len() {
        cut = (cut + 37).min(example.len());
        while !example.is_char_boundary(cut) {
            cut += 1;
        }
        let text = &example[..cut];
        version += 1;
        c.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
        let line = text.matches('\n').count();
        let character = text.rsplit('\n').next().map_or(0, |l| l.encode_utf16().count());
        let at =
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
        for method in [
            "textDocument/completion",
            "textDocument/hover",
            "textDocument/definition",
        ] {
            let r = c.request_raw(method, at.clone());
            assert!(r.error.is_none(), "{method} at byte {cut}: {:?}", r.error);
        }
        let r = c.request_raw(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri } }),
        );
        assert!(r.error.is_none(), "symbols at byte {cut}: {:?}", r.error);
    }
    assert!(
        !c.notifications.iter().any(|n| n.method == "window/showMessage"),
        "no internal error was reported"
    );
    c.shutdown();
}

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

/// The hostile shapes of the language's limits, at and past them, on the
/// server's 2 MiB thread: every request is answered (a stack overflow would
/// abort this test binary).
#[test]
fn documents_at_the_limits_are_answered() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut c = Client::start(tmp.path());
    let deepest_chain = format!("let r = {{ a = 1 }}\nlet x = r{}\n", ".a".repeat(500));
    let deepest_brackets = format!("let x = {}1{}\n", "[".repeat(60), "]".repeat(60));
    let let_chain = format!(
        "let a0 = 0\n{}",
        (1..3000)
            .map(|i| format!("let a{i} = a{} + 1\n", i - 1))
            .collect::<String>()
    );
    let if_chain = format!("let x = {}0\n", "if true then 1 else ".repeat(10_000));
    for (i, text) in [deepest_chain, deepest_brackets, let_chain, if_chain]
        .into_iter()
        .enumerate()
    {
        let uri = c.uri(&format!("limits{i}/main.tpt"));
        c.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "tpt", "version": 1, "text": text } }),
        );
        let last = text.lines().count().saturating_sub(1);
        let col = text.lines().last().map_or(0, str::len).saturating_sub(2);
        let at = json!({ "textDocument": { "uri": uri }, "position": { "line": last, "character": col } });
        for method in [
            "textDocument/hover",
            "textDocument/definition",
            "textDocument/completion",
        ] {
            let _ = c.request(method, at.clone());
        }
        let _ = c.request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri } }),
        );
        // A file with a syntax error (the one past the limit) is answered with an error.
        let _ = c.request_raw(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
        );
    }
    c.shutdown();
}

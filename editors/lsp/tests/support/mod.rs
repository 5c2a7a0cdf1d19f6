//! An in-process LSP client: the server runs on a thread, over lsp-server's
//! in-memory connection, and is driven with JSON-RPC messages as an editor
//! would send them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::Url;
use serde_json::{json, Value};

pub struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<(), String>>>,
    next_id: i32,
    /// Notifications received and not yet looked at.
    pub notifications: Vec<Notification>,
    pub root: PathBuf,
    versions: std::collections::HashMap<Url, i32>,
    /// What the server answered to `initialize`.
    pub init: Value,
    /// The text of each open document, while no edit changed it.
    pub texts: std::collections::HashMap<Url, String>,
    /// Requests the server sent (and were not awaited yet).
    pub server_requests: Vec<Request>,
    /// Responses that came while another was awaited.
    pub responses: Vec<Response>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub fn start(root: &Path) -> Client {
        Client::start_with(root, json!({}))
    }

    /// A client with these capabilities (the `initialize` request's).
    pub fn start_with(root: &Path, capabilities: Value) -> Client {
        Client::start_with_params(root, json!({ "capabilities": capabilities }))
    }

    /// A client whose `initialize` request has these parameters (and the root).
    pub fn start_with_params(root: &Path, mut params: Value) -> Client {
        let (server_side, client_side) = Connection::memory();
        let server = std::thread::spawn(move || tpt_lsp::serve(&server_side));
        let mut c = Client {
            conn: client_side,
            server: Some(server),
            next_id: 0,
            notifications: Vec::new(),
            root: root.to_path_buf(),
            versions: Default::default(),
            init: Value::Null,
            texts: Default::default(),
            server_requests: Vec::new(),
            responses: Vec::new(),
        };
        let root_uri = Url::from_directory_path(root).ok();
        params["rootUri"] = json!(root_uri);
        let init = c.request("initialize", params);
        assert!(init.get("capabilities").is_some(), "initialize answered {init}");
        c.init = init;
        c.notify("initialized", json!({}));
        c
    }

    pub fn uri(&self, rel: &str) -> Url {
        Url::from_file_path(self.root.join(rel)).expect("an absolute path")
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.to_string(),
                params,
            )))
            .expect("the server is running");
    }

    fn receive(&mut self) -> Message {
        match self.conn.receiver.recv_timeout(TIMEOUT) {
            Ok(m) => m,
            Err(e) => panic!("no message from the server in {TIMEOUT:?}: {e}"),
        }
    }

    /// Sends a request and waits for its response (keeping notifications that come before it).
    pub fn request_raw(&mut self, method: &str, params: Value) -> Response {
        let id = self.send_request(method, params);
        self.response(&id)
    }

    /// Sends a request without waiting for its response ([`Client::response`]).
    pub fn send_request(&mut self, method: &str, params: Value) -> RequestId {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.to_string(),
                params,
            )))
            .expect("the server is running");
        id
    }

    /// The response to request `id`, waiting for it; the responses to other
    /// requests that come first are kept, in order, in `responses`.
    pub fn response(&mut self, id: &RequestId) -> Response {
        if let Some(i) = self.responses.iter().position(|r| &r.id == id) {
            return self.responses.remove(i);
        }
        loop {
            match self.receive() {
                Message::Response(r) if &r.id == id => return r,
                Message::Notification(n) => self.notifications.push(n),
                Message::Request(r) => self.server_requests.push(r),
                Message::Response(r) => self.responses.push(r),
            }
        }
    }

    /// The result of a request; an error response fails the test.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let r = self.request_raw(method, params);
        if let Some(e) = r.error {
            panic!("{method} failed: {} {}", e.code, e.message);
        }
        r.result.unwrap_or(Value::Null)
    }

    pub fn open(&mut self, rel: &str, text: &str) {
        let uri = self.uri(rel);
        self.versions.insert(uri.clone(), 1);
        self.texts.insert(uri.clone(), text.to_string());
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "tpt", "version": 1, "text": text } }),
        );
    }

    /// An incremental edit: `range` (LSP JSON) replaced by `text`.
    pub fn change(&mut self, rel: &str, range: Value, text: &str) {
        let uri = self.uri(rel);
        let version = self.versions.get(&uri).copied().unwrap_or(0) + 1;
        self.versions.insert(uri.clone(), version);
        self.texts.remove(&uri);
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{ "range": range, "text": text }] }),
        );
    }

    /// The diagnostics published for a document at its current version.
    pub fn diagnostics(&mut self, rel: &str) -> Value {
        let uri = self.uri(rel);
        let version = self.versions.get(&uri).copied();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let found = self.notifications.iter().rposition(|n| {
                n.method == "textDocument/publishDiagnostics"
                    && n.params.get("uri").and_then(Value::as_str) == Some(uri.as_str())
                    && n.params.get("version").and_then(Value::as_i64).map(|v| v as i32) == version
            });
            if let Some(i) = found {
                let n = self.notifications.remove(i);
                return n.params.get("diagnostics").cloned().unwrap_or(Value::Null);
            }
            assert!(
                Instant::now() < deadline,
                "no diagnostics for {rel} at version {version:?}"
            );
            if let Ok(Message::Notification(n)) = self.conn.receiver.recv_timeout(Duration::from_millis(200))
            {
                self.notifications.push(n);
            }
        }
    }

    /// Waits for the server to send a request of `method` (and answers it).
    pub fn server_request(&mut self, method: &str) -> Request {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.server_requests.iter().position(|r| r.method == method) {
                let r = self.server_requests.remove(i);
                let answer = Response::new_ok(r.id.clone(), Value::Null);
                self.conn
                    .sender
                    .send(Message::Response(answer))
                    .expect("the server is running");
                return r;
            }
            assert!(Instant::now() < deadline, "no {method} request from the server");
            match self.conn.receiver.recv_timeout(Duration::from_millis(200)) {
                Ok(Message::Notification(n)) => self.notifications.push(n),
                Ok(Message::Request(r)) => self.server_requests.push(r),
                _ => {}
            }
        }
    }

    pub fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        if let Some(h) = self.server.take() {
            let outcome = h.join().expect("the server thread does not panic");
            assert_eq!(outcome, Ok(()));
        }
    }
}

/// Compares `actual` with the file at `path`; `BLESS=1` rewrites the file instead.
pub fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string();
    Err(format!("{} differs (BLESS=1 to accept):\n{diff}", path.display()))
}

//! An edit on a generated workspace of about 5,000 lines (main.tpt with 220
//! resources, 10 imported library files, 5 environment files), through the
//! server's JSON-RPC connection: the time from sending `didChange` to
//! receiving the new diagnostics of the edited file. Then how requests grow
//! with a file: one file of N resources that all read one param — its
//! references, the outline, completion after `rK.`, and an edit that makes N
//! errors until their diagnostics arrive. Prints p50 and p95; asserts nothing
//! about time. Run with `cargo bench -p tpt-lsp`.

#![allow(clippy::print_stdout)]

/// The allocator of the `tpt` binary, so that the bench measures what `tpt lsp` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use lsp_types::Url;
use serde_json::{json, Value};

const RESOURCES: usize = 220;
const LIBS: usize = 10;
const ENVS: usize = 5;
const RUNS: usize = 60;

fn generate(dir: &Path) -> usize {
    let mut lines = 0;
    let mut write = |rel: &str, text: String| {
        lines += text.lines().count();
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    };
    let mut main = String::from("import std.aws\nimport std.k8s\n");
    for l in 0..LIBS {
        let _ = writeln!(main, "import \"./lib/l{l}.tpt\" as l{l}");
    }
    main.push_str(
        "\n/// Where it runs.\nparam region: aws.Region\n/// The image tag.\n@promote param tag: string\n\n",
    );
    main.push_str("resource cluster: aws.EksCluster {\n  region = region\n}\n\n");
    for i in 0..RESOURCES {
        let l = i % LIBS;
        let _ = write!(
            main,
            "/// App number {i}.\nresource app_{i}: k8s.App {{\n  cluster = cluster\n  namespace = \"ns-{i}\"\n  \
             image = \"ghcr.io/acme/app-{i}:${{tag}}\"\n  replicas = l{l}.replicas_of({i})\n  port = 8080\n  \
             labels = {{ team = l{l}.team, index = \"{i}\" }}\n}}\n\n"
        );
    }
    write("main.tpt", main);
    for l in 0..LIBS {
        let mut lib = format!(
            "/// The team of library {l}.\nlet team = \"team-{l}\"\n\n/// How many replicas app I runs.\n\
             fn replicas_of(i: int): int = if i % 2 == 0 then 2 else 3\n\n"
        );
        for k in 0..110 {
            let _ = writeln!(lib, "/// Value {k}.\nlet v{k} = {{ a = {k}, b = \"{l}-{k}\" }}");
        }
        write(&format!("lib/l{l}.tpt"), lib);
    }
    for e in 0..ENVS {
        let mut env = format!(
            "/// Environment {e}.\nenvironment e{e} {{\n  region = \"us-east-1\"\n  tag = \"1.0.{e}\"\n"
        );
        for i in (e..RESOURCES).step_by(2) {
            let _ = writeln!(env, "  app_{i} {{ replicas = {} }}", 1 + (i + e) % 5);
        }
        env.push_str("}\n");
        write(&format!("envs/e{e}.tpt"), env);
    }
    lines
}

struct Client {
    conn: Connection,
    next: i32,
}

impl Client {
    /// A server on an in-memory connection, initialized; and its thread.
    fn start() -> (Client, std::thread::JoinHandle<Result<(), String>>) {
        let (server_side, client_side) = Connection::memory();
        let server = std::thread::spawn(move || tpt_lsp::serve(&server_side));
        let mut c = Client {
            conn: client_side,
            next: 0,
        };
        c.request("initialize", json!({ "capabilities": {} }));
        c.notify("initialized", json!({}));
        (c, server)
    }

    fn send(&self, m: Message) {
        self.conn.sender.send(m).expect("server running");
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(Message::Notification(Notification::new(method.into(), params)));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.send(Message::Request(Request::new(id.clone(), method.into(), params)));
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(60))
                .expect("an answer")
            {
                Message::Response(r) if r.id == id => return r.result.unwrap_or(Value::Null),
                _ => {}
            }
        }
    }

    /// Waits for the diagnostics of `uri` at `version`; returns how many there are.
    fn diagnostics(&self, uri: &Url, version: i32) -> usize {
        loop {
            let m = self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(60))
                .expect("diagnostics");
            if let Message::Notification(n) = m {
                if n.method == "textDocument/publishDiagnostics"
                    && n.params["uri"].as_str() == Some(uri.as_str())
                    && n.params["version"].as_i64() == Some(i64::from(version))
                {
                    return n.params["diagnostics"].as_array().map_or(0, Vec::len);
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().canonicalize().expect("canonical");
    let lines = generate(&dir);
    let (mut c, server) = Client::start();

    let main_path = dir.join("main.tpt");
    let text = std::fs::read_to_string(&main_path).expect("main.tpt");
    let uri = Url::from_file_path(&main_path).expect("absolute");
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tpt", "version": 1, "text": text } }),
    );
    let start = Instant::now();
    let first = c.diagnostics(&uri, 1);
    let open_ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(first, 0, "the generated workspace checks cleanly");

    // The edit: a namespace in the middle of main.tpt, changed and changed back;
    // then the same with a type error (the checker stops before evaluation).
    let line = text
        .lines()
        .position(|l| l.contains("\"ns-110\""))
        .expect("the edited line") as u32;
    let col = text
        .lines()
        .nth(line as usize)
        .and_then(|l| l.find("110"))
        .expect("column") as u32;
    let mut version = 1;
    let mut run = |c: &Client, new: &str, old_len: u32| {
        version += 1;
        let range = json!({ "start": { "line": line, "character": col }, "end": { "line": line, "character": col + old_len } });
        let t = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": range, "text": new }] }),
        );
        let n = c.diagnostics(&uri, version);
        (t.elapsed(), n)
    };
    // After an edit, the first hover builds the symbol index of the whole
    // configuration; completion reads the text and the analysis.
    let hover_line = text
        .lines()
        .position(|l| l.contains("replicas_of(110)"))
        .expect("the hovered line") as u32;
    let hover_col = text
        .lines()
        .nth(hover_line as usize)
        .and_then(|l| l.find("replicas_of"))
        .expect("column") as u32;
    let at = |line: u32, character: u32| json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
    let mut hovers = Vec::new();
    let mut completions = Vec::new();
    let mut clean = Vec::new();
    let mut failing = Vec::new();
    for _ in 0..RUNS {
        let (d, n) = run(&c, "111", 3);
        assert_eq!(n, 0);
        clean.push(d);
        let t = Instant::now();
        let hover = c.request("textDocument/hover", at(hover_line, hover_col + 2));
        hovers.push(t.elapsed());
        assert!(
            hover["contents"]["value"]
                .as_str()
                .is_some_and(|v| v.contains("fn l")),
            "{hover}"
        );
        let t = Instant::now();
        let items = c.request("textDocument/completion", at(hover_line, 2));
        completions.push(t.elapsed());
        assert!(items["items"].as_array().is_some_and(|i| !i.is_empty()));
        let (d, _) = run(&c, "110", 3);
        clean.push(d);
        // `"ns-1"10"` is a syntax error; then back.
        let (d, n) = run(&c, "1\"", 1);
        assert!(n > 0);
        failing.push(d);
        let (_, _) = run(&c, "1", 2);
    }
    clean.sort();
    failing.sort();
    hovers.sort();
    completions.sort();
    println!(
        "workspace: {lines} lines in {} files ({RESOURCES} resources, {ENVS} environments)",
        1 + LIBS + ENVS
    );
    println!("open (first analysis, stdlib and every file parsed): {open_ms:.1} ms");
    println!("| edit → diagnostics | runs | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    println!(
        "| valid edit (parse 1 file, check, evaluate {ENVS} environments, graphs) | {} | {:.1} | {:.1} |",
        clean.len(),
        percentile(&clean, 0.5),
        percentile(&clean, 0.95)
    );
    println!(
        "| edit making a syntax error (parse 1 file, check) | {} | {:.1} | {:.1} |",
        failing.len(),
        percentile(&failing, 0.5),
        percentile(&failing, 0.95)
    );
    println!("| request after an edit | runs | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    println!(
        "| hover (builds the symbol index of the configuration) | {} | {:.1} | {:.1} |",
        hovers.len(),
        percentile(&hovers, 0.5),
        percentile(&hovers, 0.95)
    );
    println!(
        "| completion in a resource body | {} | {:.1} | {:.1} |",
        completions.len(),
        percentile(&completions, 0.5),
        percentile(&completions, 0.95)
    );
    c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    let _ = server.join();
    scaling();
}

/// The sizes of the one-file workspace of [`scaling`].
const SIZES: [usize; 3] = [200, 800, 1_600];
/// Runs of each request per size.
const SCALING_RUNS: usize = 15;

/// Requests on one file of N resources that all read the param `p`, for each
/// size: the time of each should grow with N, not N².
fn scaling() {
    println!("\n| one file, N resources reading one param | lines | references to it p50 ms | outline p50 ms | completion after `rK.` p50 ms | edit making N errors → diagnostics p50 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().canonicalize().expect("canonical");
        let mut text = String::from(
            "resource schema S {\n  name: string\n  tag: string\n}\n\nparam p: string = \"x\"\n",
        );
        for i in 0..n {
            let _ = write!(
                text,
                "\n/// Resource {i}.\nresource r{i}: S {{\n  name = \"r{i}\"\n  tag = p\n}}\n"
            );
        }
        let path = dir.join("main.tpt");
        std::fs::write(&path, &text).expect("write");
        let uri = Url::from_file_path(&path).expect("absolute");
        let (mut c, server) = Client::start();
        c.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "tpt", "version": 1, "text": text } }),
        );
        assert_eq!(c.diagnostics(&uri, 1), 0, "the generated file checks cleanly");
        let timed = |c: &mut Client, method: &str, params: Value, check: &dyn Fn(&Value) -> bool| {
            let mut times = Vec::new();
            for _ in 0..SCALING_RUNS {
                let t = Instant::now();
                let answer = c.request(method, params.clone());
                times.push(t.elapsed());
                assert!(check(&answer), "{method}: {answer}");
            }
            times.sort();
            percentile(&times, 0.5)
        };
        // `p` in `param p: string` (line 5, column 6).
        let refs = timed(
            &mut c,
            "textDocument/references",
            json!({ "textDocument": { "uri": uri }, "position": { "line": 5, "character": 6 }, "context": { "includeDeclaration": true } }),
            &|a| a.as_array().is_some_and(|l| l.len() > n),
        );
        let outline = timed(
            &mut c,
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri } }),
            &|a| a.as_array().is_some_and(|l| l.len() > n),
        );
        // `tag = p` of the last resource becomes `tag = rK.` (K = N/2).
        let lines = text.lines().count();
        let last = text
            .lines()
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| *l == "  tag = p")
            .expect("a tag line") as u32;
        let typed = format!("r{}.", n / 2);
        let mut version = 2;
        c.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": { "start": { "line": last, "character": 8 }, "end": { "line": last, "character": 9 } }, "text": typed }] }),
        );
        c.diagnostics(&uri, version);
        let completion = timed(
            &mut c,
            "textDocument/completion",
            json!({ "textDocument": { "uri": uri }, "position": { "line": last, "character": 8 + typed.len() } }),
            &|a| {
                a["items"].as_array().is_some_and(|i| !i.is_empty())
                    || a.as_array().is_some_and(|i| !i.is_empty())
            },
        );
        // `string` → `int` in `param p: string`: every `tag = p` is an error; and back.
        let mut errors = Vec::new();
        for _ in 0..SCALING_RUNS {
            for (new, start, end, expect_errors) in [("int", 9, 15, true), ("string", 9, 12, false)] {
                version += 1;
                let t = Instant::now();
                c.notify(
                    "textDocument/didChange",
                    json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": { "start": { "line": 5, "character": start }, "end": { "line": 5, "character": end } }, "text": new }] }),
                );
                let found = c.diagnostics(&uri, version);
                if expect_errors {
                    errors.push(t.elapsed());
                    assert!(found >= n, "{found} errors for {n} uses");
                }
            }
        }
        errors.sort();
        println!(
            "| {n} | {lines} | {refs:.1} | {outline:.1} | {completion:.1} | {:.1} |",
            percentile(&errors, 0.5)
        );
        c.request("shutdown", Value::Null);
        c.notify("exit", Value::Null);
        let _ = server.join();
    }
}

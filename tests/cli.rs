//! End-to-end tests of the `tpt` binary: help text, exit codes, `eval`
//! output, `fmt` behaviour. Each test works in its own temporary directory.

mod support;

use std::path::Path;

use support::{tpt, tpt_in, Output};
use tempfile::TempDir;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(path, text).expect("write a test file");
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read a test file")
}

fn temp() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

const SHOP: &str = r#"
resource schema Database {
  engine: "postgres" | "mysql" = "postgres"
  password: secret
  @output url: string
}

resource schema App {
  image: string
  replicas: int(1..10) = 1
  database_url: string
}

param tag: string

resource db: Database { password = secret_env("TPT_TEST_DB_PASSWORD") }

resource web: App {
  image = "shop:${tag}"
  database_url = db.url
}

environment prod { tag = "1.2.0" }
"#;

/// Like [`SHOP`] without a secret: needs no builtin function.
const PLAIN: &str = r#"
resource schema App {
  image: string
  replicas: int(1..10) = 1
}

param tag: string

resource web: App { image = "shop:${tag}" }

environment staging { tag = "1.3.0" }
environment prod { tag = "1.2.0" }
"#;

// ------------------------------------------------------------------ help

#[test]
fn help_lists_commands_with_examples() {
    let out = tpt(&["--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for word in ["check", "eval", "fmt", "--color", "Examples:"] {
        assert!(
            out.stdout.contains(word),
            "`tpt --help` lacks {word}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn every_command_has_help_with_examples() {
    for command in ["check", "eval", "fmt"] {
        let out = tpt(&[command, "--help"]);
        assert_eq!(out.code, 0, "{command}: {}", out.stderr);
        assert!(
            out.stdout.contains("Examples:"),
            "`tpt {command} --help`:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("tpt {command}")),
            "`tpt {command} --help`:\n{}",
            out.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(tpt(&[]).code, 2);
    assert_eq!(tpt(&["frobnicate"]).code, 2);
    assert_eq!(tpt(&["eval"]).code, 2, "eval needs a PATH");
    assert_eq!(tpt(&["check", "--color", "sometimes"]).code, 2);
    let zero = tpt(&["apply", "examples/shop", "--parallelism", "0"]);
    assert_eq!(zero.code, 2, "at least one operation must be allowed to run");
    assert!(zero.stderr.contains("--parallelism"), "{}", zero.stderr);
}

// ------------------------------------------------------------------ check

#[test]
fn check_ok_prints_a_summary_and_exits_0() {
    let dir = temp();
    write(
        dir.path(),
        "main.tpt",
        "param name: string = \"shop\"\nlet host = \"${name}.example.com\"\n",
    );
    let out = tpt_in(dir.path(), &["check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "checked 1 file: ok\n");
    assert_eq!(out.stdout, "");
}

#[test]
fn check_a_directory_reads_main_and_envs() {
    let dir = temp();
    write(dir.path(), "main.tpt", "param tag: string\n");
    write(dir.path(), "envs/prod.tpt", "environment prod { tag = \"1\" }\n");
    write(
        dir.path(),
        "envs/staging.tpt",
        "environment staging { tag = \"2\" }\n",
    );
    write(dir.path(), "envs/notes.txt", "not a tpt file\n");
    let out = tpt_in(dir.path(), &["check", "."]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "checked 3 files, 2 environments: ok\n");

    let one = tpt_in(dir.path(), &["check", ".", "--env", "prod"]);
    assert_eq!(one.stderr, "checked 3 files, 1 environment: ok\n");
}

#[test]
fn check_errors_exit_1_with_location_and_help() {
    let dir = temp();
    write(dir.path(), "bad.tpt", "let a = 1\nparam port: integr = 80\n");
    let out = tpt_in(dir.path(), &["--color", "never", "check", "bad.tpt"]);
    assert_eq!(out.code, 1);
    for part in [
        "E0102",
        "unknown type `integr`",
        "bad.tpt:2:13",
        "param port: integr = 80",
        "help:",
    ] {
        assert!(out.stderr.contains(part), "missing {part:?} in:\n{}", out.stderr);
    }
    assert!(out.stderr.ends_with("error: 1 error\n"), "{}", out.stderr);
}

#[test]
fn check_reports_io_problems_as_diagnostics() {
    let dir = temp();
    let missing = tpt_in(dir.path(), &["check", "nowhere.tpt"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("E0600"), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("cannot read `nowhere.tpt`"),
        "{}",
        missing.stderr
    );

    let no_main = tpt_in(dir.path(), &["check", "."]);
    assert_eq!(no_main.code, 1);
    assert!(no_main.stderr.contains("E0600"), "{}", no_main.stderr);
    assert!(no_main.stderr.contains("no `main.tpt`"), "{}", no_main.stderr);
}

#[test]
fn check_never_panics_on_binary_input() {
    let dir = temp();
    std::fs::write(dir.path().join("junk.tpt"), [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let out = tpt_in(dir.path(), &["check", "junk.tpt"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("E0600"), "{}", out.stderr);
}

#[test]
fn color_follows_the_flag() {
    let dir = temp();
    write(dir.path(), "bad.tpt", "let = 1\n");
    let plain = tpt_in(dir.path(), &["--color", "never", "check", "bad.tpt"]);
    assert!(!plain.stderr.contains('\u{1b}'), "{}", plain.stderr);
    let colored = tpt_in(dir.path(), &["--color", "always", "check", "bad.tpt"]);
    assert!(colored.stderr.contains('\u{1b}'), "{}", colored.stderr);
    // `auto` into a pipe is plain.
    let auto = tpt_in(dir.path(), &["check", "bad.tpt"]);
    assert_eq!(auto.stderr, plain.stderr);
}

// ------------------------------------------------------------------ eval

fn eval_json(out: &Output) -> serde_json::Value {
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("eval prints JSON")
}

#[test]
fn eval_prints_environment_params_and_resources() {
    let dir = temp();
    write(dir.path(), "main.tpt", PLAIN);
    let json = eval_json(&tpt_in(dir.path(), &["eval", ".", "--env", "prod"]));
    assert_eq!(json["environment"], "prod");
    assert!(json["params"].is_object(), "{json}");
    assert!(json["resources"].is_array(), "{json}");
    let keys: Vec<&String> = json.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["environment", "params", "resources"]);
}

#[test]
fn eval_resolves_values_and_redacts_secrets() {
    let dir = temp();
    write(dir.path(), "main.tpt", SHOP);
    let out = support::tpt_with(
        dir.path(),
        &["eval", ".", "--env", "prod"],
        &[("TPT_TEST_DB_PASSWORD", "hunter2")],
    );
    assert!(
        !out.stdout.contains("hunter2"),
        "a secret was printed:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains("hunter2"),
        "a secret was printed:\n{}",
        out.stderr
    );
    let json = eval_json(&out);
    let expected = serde_json::json!({
        "environment": "prod",
        "params": { "tag": "1.2.0" },
        "resources": [
            {
                "address": "db",
                "type": "Database",
                "inputs": { "engine": "postgres", "password": "(sensitive)" },
                "depends_on": []
            },
            {
                "address": "web",
                "type": "App",
                "inputs": {
                    "image": "shop:1.2.0",
                    "replicas": 1,
                    "database_url": { "$unknown": "db.url" }
                },
                "depends_on": ["db"]
            }
        ]
    });
    assert_eq!(json, expected);
}

#[test]
fn eval_yaml() {
    let dir = temp();
    write(dir.path(), "main.tpt", PLAIN);
    let out = tpt_in(dir.path(), &["eval", ".", "--env", "prod", "--format", "yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("environment: prod\n"), "{}", out.stdout);
}

#[test]
fn eval_needs_env_when_there_are_environments() {
    let dir = temp();
    write(dir.path(), "main.tpt", PLAIN);
    let out = tpt_in(dir.path(), &["--color", "never", "eval", "."]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("E0300"), "{}", out.stderr);
    assert!(out.stderr.contains("`prod`"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn eval_without_environments_needs_no_env() {
    let dir = temp();
    write(dir.path(), "one.tpt", "param name: string = \"shop\"\n");
    let json = eval_json(&tpt_in(dir.path(), &["eval", "one.tpt"]));
    assert_eq!(json["environment"], serde_json::Value::Null);
}

#[test]
fn eval_of_a_broken_config_prints_nothing_on_stdout() {
    let dir = temp();
    write(dir.path(), "main.tpt", "let = \n");
    let out = tpt_in(dir.path(), &["eval", "."]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("E0001"), "{}", out.stderr);
}

// ------------------------------------------------------------------ fmt

const FORMATTED: &str = "let x = 1\n";

#[test]
fn fmt_check_of_formatted_files_exits_0_and_writes_nothing() {
    let dir = temp();
    write(dir.path(), "a.tpt", FORMATTED);
    write(dir.path(), "sub/b.tpt", FORMATTED);
    let out = tpt_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(read(dir.path(), "a.tpt"), FORMATTED);
}

#[test]
fn fmt_skips_target_and_hidden_directories() {
    let dir = temp();
    write(dir.path(), "a.tpt", FORMATTED);
    // These would fail to format if they were visited.
    write(dir.path(), "target/broken.tpt", "let = \n");
    write(dir.path(), ".hidden/broken.tpt", "let = \n");
    let out = tpt_in(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn fmt_reports_syntax_errors_and_leaves_the_file_alone() {
    let dir = temp();
    let broken = "let   x =\nlet y = 2\n";
    write(dir.path(), "broken.tpt", broken);
    let out = tpt_in(dir.path(), &["--color", "never", "fmt", "broken.tpt"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("E0001"), "{}", out.stderr);
    assert!(out.stderr.contains("broken.tpt:"), "{}", out.stderr);
    assert_eq!(read(dir.path(), "broken.tpt"), broken);
}

#[test]
fn fmt_of_a_missing_path_is_an_error() {
    let dir = temp();
    let out = tpt_in(dir.path(), &["fmt", "nowhere.tpt"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("E0600"), "{}", out.stderr);
}

#[test]
fn fmt_check_lists_unformatted_files_then_fmt_fixes_them() {
    let dir = temp();
    let messy = "let    x    =    1\n\n\n\nlet y=2\n";
    write(dir.path(), "messy.tpt", messy);
    write(dir.path(), "clean.tpt", FORMATTED);

    let check = tpt_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert_eq!(check.stdout, "messy.tpt\n");
    assert_eq!(read(dir.path(), "messy.tpt"), messy, "--check must not write");

    let fix = tpt_in(dir.path(), &["fmt"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    assert_eq!(fix.stdout, "messy.tpt\n");
    let formatted = read(dir.path(), "messy.tpt");
    assert_ne!(formatted, messy);

    let again = tpt_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(again.code, 0, "formatting is idempotent: {}", again.stdout);
}

/// A pipe (or a device) in place of a file is E0600 for every command that
/// reads files, before it is opened: opening a pipe would wait for a writer.
#[test]
fn a_pipe_in_place_of_a_file_is_refused_not_waited_on() {
    let dir = temp();
    std::fs::write(dir.path().join("main.tpt"), "let x = 1\n").expect("write main.tpt");
    std::fs::create_dir(dir.path().join("envs")).expect("make envs/");
    for fifo in ["pipe.tpt", "envs/dev.tpt"] {
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(fifo))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
    }
    for args in [
        vec!["check", "pipe.tpt"],
        vec!["check", "."],
        vec!["fmt", "pipe.tpt"],
        vec!["show", "pipe.tpt"],
    ] {
        let started = std::time::Instant::now();
        let out = tpt_in(dir.path(), &args);
        let stderr = &out.stderr;
        assert_eq!(out.code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("E0600") && stderr.contains("not a regular file"),
            "{args:?}: {stderr}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?} waited"
        );
    }
}

/// Imports stay inside the configuration's directory unless
/// `--allow-imports-from` widens it; a symbolic link inside the tree that
/// points outside it is outside.
#[test]
fn imports_outside_the_configuration_need_a_flag() {
    let dir = temp();
    let root = dir.path();
    std::fs::create_dir_all(root.join("app")).expect("make app/");
    std::fs::create_dir_all(root.join("lib")).expect("make lib/");
    std::fs::write(root.join("lib/names.tpt"), "let prefix = \"shop\"\n").expect("write the library");
    std::fs::write(
        root.join("app/main.tpt"),
        "import \"../lib/names.tpt\" as names\n\noutput name: string = names.prefix\n",
    )
    .expect("write the app");
    let refused = tpt_in(root, &["check", "app"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("E0103") && refused.stderr.contains("outside the configuration"),
        "{}",
        refused.stderr
    );
    let allowed = tpt_in(root, &["check", "app", "--allow-imports-from", "lib"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);

    // A link in the tree to the library is still the library, outside.
    std::fs::write(
        root.join("app/main.tpt"),
        "import \"./linked.tpt\" as names\n\noutput name: string = names.prefix\n",
    )
    .expect("write the app");
    std::os::unix::fs::symlink(root.join("lib/names.tpt"), root.join("app/linked.tpt"))
        .expect("a symbolic link");
    let linked = tpt_in(root, &["check", "app"]);
    assert_eq!(linked.code, 1, "{}", linked.stderr);
    assert!(
        linked.stderr.contains("outside the configuration"),
        "{}",
        linked.stderr
    );
}

/// README's test command is the one `.ci/run` calls, and it needs only Rust:
/// the script installs the test runner where it is missing.
#[test]
fn the_readme_test_command_is_what_ci_runs() {
    let root = support::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    let script = std::fs::read_to_string(root.join("tests/run.sh")).expect("tests/run.sh");
    let after = readme
        .split("The tests (what CI runs")
        .nth(1)
        .expect("the README says what CI runs");
    let command = after
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.lines().next())
        .expect("a command block");
    assert_eq!(command, "bash tests/run.sh");
    assert!(ci.lines().any(|l| l == command), ".ci/run calls `{command}`");
    assert!(
        script.contains("command -v cargo-nextest")
            && script.contains("cargo install --locked cargo-nextest"),
        "tests/run.sh installs cargo-nextest when it is missing"
    );
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(root.join("tests/run.sh"))
        .status()
        .expect("bash runs");
    assert!(syntax.success());
}

/// `body` as one frame of the Language Server Protocol.
fn lsp_frame(body: &[u8]) -> Vec<u8> {
    let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    f.extend_from_slice(body);
    f
}

/// Runs `tpt lsp` in `dir` with `input` on stdin (then closed): every message
/// it wrote, and its exit code.
fn lsp_session(dir: &Path, input: &[u8]) -> (Vec<serde_json::Value>, i32) {
    let mut lsp = LspProcess::start(dir);
    lsp.write(input);
    drop(lsp.stdin.take());
    let messages = lsp.messages.iter().collect();
    let code = lsp.child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
    (messages, code)
}

#[test]
fn the_language_server_answers_bad_frames_and_keeps_its_lifecycle() {
    use serde_json::json;
    let dir = temp();
    write(dir.path(), "main.tpt", "let x = 1\n");
    let uri = format!("file://{}/main.tpt", dir.path().display());
    let request = |id: i32, method: &str, params: serde_json::Value| {
        lsp_frame(
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
                .to_string()
                .as_bytes(),
        )
    };
    let hover = json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": 4 } });
    let mut input = request(1, "initialize", json!({ "capabilities": {} }));
    input.extend(lsp_frame(
        br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
    ));
    // Not JSON; a batch; no Content-Length (the next frame's header follows on
    // the same line); not UTF-8; a message with an id that is no message.
    input.extend(lsp_frame(b"{not json"));
    input.extend(lsp_frame(br#"[{"jsonrpc":"2.0","id":2,"method":"shutdown"}]"#));
    input.extend(b"Content-Type: application/json\r\n\r\n{\"jsonrpc\":\"2.0\"}");
    input.extend(lsp_frame(
        b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":\"\xff\"}",
    ));
    input.extend(lsp_frame(br#"{"jsonrpc":"2.0","id":4,"error":2}"#));
    // A document whose text holds a lone UTF-16 surrogate, as a JavaScript client may send.
    let open = json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": {
        "uri": uri, "languageId": "tpt", "version": 1, "text": "let x = 1\nlet s = \"SURROGATE\"\n" } } })
    .to_string()
    .replace("SURROGATE", "\\ud800");
    input.extend(lsp_frame(open.as_bytes()));
    input.extend(request(5, "textDocument/hover", hover.clone()));
    input.extend(request(6, "shutdown", serde_json::Value::Null));
    input.extend(request(7, "textDocument/hover", hover));
    input.extend(lsp_frame(br#"{"jsonrpc":"2.0","method":"exit"}"#));
    let (messages, code) = lsp_session(dir.path(), &input);
    let answer = |id: serde_json::Value| {
        messages
            .iter()
            .find(|m| m["id"] == id && m.get("method").is_none())
    };
    let code_of = |m: &serde_json::Value| m["error"]["code"].as_i64();
    assert!(
        answer(json!(1)).is_some_and(|m| m["result"]["capabilities"].is_object()),
        "{messages:#?}"
    );
    let null_errors: Vec<_> = messages
        .iter()
        .filter(|m| m["id"].is_null() && m.get("method").is_none())
        .filter_map(code_of)
        .collect();
    // Parse errors for the text that is not JSON, the frame without a length
    // and the body that is not UTF-8; an invalid request for the batch.
    assert_eq!(
        null_errors.iter().filter(|c| **c == -32700).count(),
        3,
        "{messages:#?}"
    );
    assert_eq!(
        null_errors.iter().filter(|c| **c == -32600).count(),
        1,
        "{messages:#?}"
    );
    assert_eq!(answer(json!(4)).and_then(code_of), Some(-32600), "{messages:#?}");
    let hovered = answer(json!(5)).expect("the hover is answered");
    assert!(hovered.get("error").is_none(), "{hovered}");
    assert!(answer(json!(6)).is_some_and(|m| m["result"].is_null() && m.get("error").is_none()));
    // After `shutdown` a request is refused; `exit` then ends the server with 0.
    assert_eq!(answer(json!(7)).and_then(code_of), Some(-32600), "{messages:#?}");
    assert_eq!(code, 0);

    // `exit` without `shutdown`: exit code 1, as the specification says.
    let mut input = request(1, "initialize", json!({ "capabilities": {} }));
    input.extend(lsp_frame(br#"{"jsonrpc":"2.0","method":"exit"}"#));
    let (_, code) = lsp_session(dir.path(), &input);
    assert_eq!(code, 1);
}

/// `tpt lsp` as a process: frames written to it, messages read from it as
/// they come.
struct LspProcess {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    messages: std::sync::mpsc::Receiver<serde_json::Value>,
    /// The messages [`LspProcess::answer`] passed over.
    seen: Vec<serde_json::Value>,
}

impl LspProcess {
    fn start(dir: &Path) -> LspProcess {
        LspProcess::start_with(dir, &[])
    }

    /// With these variables added to its environment.
    fn start_with(dir: &Path, vars: &[(&str, &str)]) -> LspProcess {
        use std::io::Read as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_tpt"))
            .arg("lsp")
            .envs(vars.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tpt lsp starts");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (send, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let header = String::from_utf8_lossy(&buf[..at]).into_owned();
                    let Some(length) = header
                        .trim()
                        .strip_prefix("Content-Length: ")
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        return;
                    };
                    if buf.len() < at + 4 + length {
                        break;
                    }
                    let message = serde_json::from_slice(&buf[at + 4..at + 4 + length]).unwrap_or_default();
                    buf.drain(..at + 4 + length);
                    if send.send(message).is_err() {
                        return;
                    }
                }
            }
        });
        LspProcess {
            child,
            stdin,
            messages,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, message: serde_json::Value) {
        self.write(&lsp_frame(message.to_string().as_bytes()));
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("the server reads");
    }

    /// The next message, within 30 s.
    fn next(&self) -> serde_json::Value {
        self.messages
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a message from the server within 30 s")
    }

    /// Sends a request and returns its answer (the messages before it are kept in `seen`).
    fn request(&mut self, id: i64, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.send(serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.answer(id)
    }

    /// The answer to request `id` (the messages before it are kept in `seen`).
    fn answer(&mut self, id: i64) -> serde_json::Value {
        loop {
            let m = self.next();
            if m["id"] == id && m.get("method").is_none() {
                return m;
            }
            self.seen.push(m);
        }
    }

    /// Says `shutdown` and `exit`; the exit code.
    fn stop(mut self) -> i32 {
        use serde_json::json;
        self.send(json!({ "jsonrpc": "2.0", "id": 999, "method": "shutdown" }));
        self.send(json!({ "jsonrpc": "2.0", "method": "exit" }));
        drop(self.stdin.take());
        self.child.wait().ok().and_then(|s| s.code()).unwrap_or(-1)
    }
}

#[test]
fn a_burst_of_edits_is_analysed_once_not_edit_by_edit() {
    use serde_json::json;
    let dir = temp();
    write(dir.path(), "main.tpt", "let x = 0\n");
    let uri = format!("file://{}/main.tpt", dir.path().display());
    let mut lsp = LspProcess::start(dir.path());
    lsp.send(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }));
    lsp.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    // The whole burst in one write, as a client replaying its changes sends it.
    let mut burst = lsp_frame(
        json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": {
            "uri": uri, "languageId": "tpt", "version": 1, "text": "let x = 0\n" } } })
        .to_string()
        .as_bytes(),
    );
    for version in 2..202 {
        let change = json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": uri, "version": version },
            "contentChanges": [{ "text": format!("let x = {version}\n") }] } });
        burst.extend(lsp_frame(change.to_string().as_bytes()));
    }
    lsp.write(&burst);
    // Diagnostics until those of the last version.
    let mut published = 0;
    loop {
        let m = lsp.next();
        if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str() {
            published += 1;
            if m["params"]["version"] == 201 {
                break;
            }
        }
    }
    // The server reads ahead and analyses the last text, not each one (it was
    // one analysis per edit: the reader handed over one message at a time).
    assert!(
        (1..=10).contains(&published),
        "{published} publications for 200 edits"
    );
    assert_eq!(lsp.stop(), 0);
}

/// The example `shop` copied into a temporary directory (a plan takes its lock there).
fn shop_example() -> TempDir {
    let dir = temp();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    for f in ["main.tpt", "envs/dev.tpt", "envs/staging.tpt", "envs/prod.tpt"] {
        write(dir.path(), f, &read(&example, f));
    }
    dir
}

fn lsp_initialized(dir: &Path, vars: &[(&str, &str)]) -> LspProcess {
    use serde_json::json;
    let mut lsp = LspProcess::start_with(dir, vars);
    let root = format!("file://{}/", dir.display());
    let init = lsp.request(1, "initialize", json!({ "capabilities": {}, "rootUri": root }));
    let commands = &init["result"]["capabilities"]["executeCommandProvider"]["commands"];
    assert_eq!(commands, &json!(["tpt.check", "tpt.plan"]), "{init}");
    lsp.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    lsp
}

#[test]
fn the_language_server_plans_as_tpt_plan_does_from_its_code_lenses() {
    use serde_json::json;
    let dir = shop_example();
    let config = dir.path().display().to_string();
    let mut lsp = lsp_initialized(dir.path(), &[]);
    let uri = |f: &str| format!("file://{}/{f}", dir.path().display());
    for f in ["main.tpt", "envs/prod.tpt"] {
        lsp.send(
            json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": {
            "uri": uri(f), "languageId": "tpt", "version": 1, "text": read(dir.path(), f) } } }),
        );
    }
    let titles = |lenses: &serde_json::Value| -> Vec<String> {
        lenses["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["command"]["title"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let main = lsp.request(
        2,
        "textDocument/codeLens",
        json!({ "textDocument": { "uri": uri("main.tpt") } }),
    );
    let main_titles = titles(&main);
    assert!(main_titles.contains(&"▶ check".to_string()), "{main_titles:?}");
    assert!(
        main_titles.contains(&"▶ plan `zone`".to_string()),
        "{main_titles:?}"
    );
    let prod = lsp.request(
        3,
        "textDocument/codeLens",
        json!({ "textDocument": { "uri": uri("envs/prod.tpt") } }),
    );
    assert_eq!(titles(&prod), vec!["▶ plan prod"], "{prod}");
    // The lens's command, run: the plan `tpt plan --env prod` prints.
    let command = prod["result"][0]["command"].clone();
    let planned = lsp.request(
        4,
        "workspace/executeCommand",
        json!({ "command": command["command"], "arguments": command["arguments"] }),
    );
    let cli = tpt(&["plan", &config, "--env", "prod"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    let text = planned["result"]["plan"].as_str().unwrap_or_default();
    assert_eq!(text, cli.stdout, "{planned}");
    assert!(text.contains("Plan: 7 to create"), "{text}");
    // Editors show the summary, and have the whole plan in their log.
    let said = |method: &str, start: &str| {
        lsp.seen.iter().any(|m| {
            m["method"] == method
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(start))
        })
    };
    assert!(
        said("window/showMessage", "tpt plan prod: Plan: 7 to create"),
        "{:#?}",
        lsp.seen
    );
    assert!(said("window/logMessage", &text[..20]), "{:#?}", lsp.seen);
    // A resource's plan: its changes in each environment.
    let zone = lsp.request(
        5,
        "workspace/executeCommand",
        json!({ "command": "tpt.plan", "arguments": [{ "config": config, "resource": "zone" }] }),
    );
    let text = zone["result"]["plan"].as_str().unwrap_or_default();
    for part in [
        "# dev\n",
        "# staging\n",
        "# prod\n",
        "+ zone (aws.HostedZone) will be created",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(!text.contains("shop_dns"), "{text}");
    // `tpt.check`: counted, and said.
    let checked = lsp.request(
        6,
        "workspace/executeCommand",
        json!({ "command": "tpt.check", "arguments": [config] }),
    );
    assert_eq!(checked["result"]["errors"], 0, "{checked}");
    assert_eq!(checked["result"]["environments"], 3, "{checked}");
    // A plan of a configuration with errors answers them, as `tpt plan` prints them.
    write(dir.path(), "envs/prod.tpt", "environment prod { nope = 1 }\n");
    let broken = lsp.request(
        7,
        "workspace/executeCommand",
        json!({ "command": "tpt.plan", "arguments": [{ "config": config, "env": "prod" }] }),
    );
    let message = broken["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("E0305") && message.contains("envs/prod.tpt:1:20"),
        "{broken}"
    );
    assert_eq!(lsp.stop(), 0);
}

#[test]
fn a_plan_the_client_cancels_stops_while_it_waits() {
    use serde_json::json;
    // An AWS endpoint that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let endpoint = format!("http://{}", silent.local_addr().expect("its address"));
    let (connected, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
            let _ = connected.send(());
        }
    });
    let dir = temp();
    write(
        dir.path(),
        "main.tpt",
        "import std.aws\n\nresource apex: aws.ExistingHostedZone {\n  name = \"acme.io\"\n}\n",
    );
    let vars = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let mut lsp = lsp_initialized(dir.path(), &vars);
    let config = dir.path().display().to_string();
    lsp.send(
        json!({ "jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
                     "params": { "command": "tpt.plan", "arguments": [{ "config": config }] } }),
    );
    // The plan reads the zone, and waits on the silent endpoint; other
    // requests are answered meanwhile.
    accepted
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the plan connects to the endpoint");
    let symbols = lsp.request(3, "workspace/symbol", json!({ "query": "" }));
    assert!(symbols.get("result").is_some(), "{symbols}");
    let started = std::time::Instant::now();
    lsp.send(json!({ "jsonrpc": "2.0", "method": "$/cancelRequest", "params": { "id": 2 } }));
    let answer = lsp.answer(2);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the cancel took {:?}",
        started.elapsed()
    );
    assert_eq!(
        answer["error"]["message"].as_str(),
        Some("cancelled: nothing was planned"),
        "{answer}"
    );
    assert_eq!(lsp.stop(), 0);
}

/// The VS Code extension's client test (`editors/vscode/test/client.test.js`:
/// the protocol library under the extension's client, with the capabilities
/// VS Code declares) against the built binary. Needs node and the extension's
/// `npm ci && npm run build`; without them it says why and passes, unless
/// `TPT_REQUIRE_NODE=1` (as in CI), where it fails.
#[test]
fn the_vscode_client_test_passes_against_the_built_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    let installed = dir.join("node_modules/vscode-languageserver-protocol").is_dir();
    let built = dir.join("out/client.js").is_file();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    if !(installed && built && node) {
        let why = if !node {
            "node is not installed"
        } else if !installed {
            "the extension's dependencies are not installed (cd editors/vscode && npm ci)"
        } else {
            "the extension is not built (cd editors/vscode && npm run build)"
        };
        assert!(
            std::env::var("TPT_REQUIRE_NODE").as_deref() != Ok("1"),
            "{why}, and TPT_REQUIRE_NODE=1 requires this test to run"
        );
        #[allow(clippy::print_stderr)] // says why the test did not run
        {
            eprintln!("skipped: {why} (TPT_REQUIRE_NODE=1 makes this a failure)");
        }
        return;
    }
    let out = std::process::Command::new("node")
        .args(["--test", "test/client.test.js"])
        .current_dir(&dir)
        .env("TPT_BIN", env!("CARGO_BIN_EXE_tpt"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# pass 1") && stdout.contains("# skipped 0"),
        "{stdout}"
    );
}

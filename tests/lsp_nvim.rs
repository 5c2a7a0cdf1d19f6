//! `tpt lsp` with a real client: Neovim, headless, with the editor package of
//! `editors/nvim` (filetype detection, syntax, the LSP setup) and the built
//! `tpt` binary. It opens a copy of the shop example with an error in it and
//! must receive the diagnostic, a hover text and a completion list, and open
//! the standard library read-only in the same server; and it renames a
//! library's `let` in both apps that import it, from the library.
//!
//! Without `nvim` on PATH the tests say why and pass, unless
//! `TPT_REQUIRE_NVIM=1` (as in CI), where they fail.

#![allow(clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Around every test's Lua: `say` writes a line of the report; the editor
/// package set up with the built binary, `TPT_FILE` opened; an error reported.
const PRELUDE: &str = r#"
local out = {}
local function say(line) table.insert(out, line) end
local ok, err = pcall(function()
  local file, bin = os.getenv('TPT_FILE'), os.getenv('TPT_BIN')
  vim.opt.runtimepath:prepend(os.getenv('TPT_NVIM_PLUGIN'))
  vim.cmd('filetype plugin on')
  vim.cmd('syntax on')
  require('tpt').setup({ cmd = { bin, 'lsp' } })
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
"#;
const EPILOGUE: &str = r#"
end)
if not ok then say('error: ' .. tostring(err)) end
vim.fn.writefile(out, os.getenv('TPT_OUT'))
vim.cmd('qa!')
"#;

const SCRIPT: &str = r#"
  local buf = vim.api.nvim_get_current_buf()
  say('root: ' .. require('tpt').root_dir(file))
  say('filetype: ' .. vim.bo[buf].filetype)
  say('syntax: ' .. tostring(vim.b[buf].current_syntax))
  local got = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  say('diagnostics received: ' .. tostring(got))
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
    say(string.format('diagnostic: %d:%d %s %s', d.lnum + 1, d.col + 1, tostring(code), d.message:gsub('\n', ' | ')))
  end
  local client
  for _, c in pairs(vim.lsp.buf_get_clients(buf)) do client = c end
  if not client then error('no LSP client attached') end
  local function at(line, col)
    return { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = line, character = col } }
  end
  local hover = client.request_sync('textDocument/hover',
    at(tonumber(os.getenv('TPT_HOVER_LINE')), tonumber(os.getenv('TPT_HOVER_COL'))), 10000, buf)
  if hover and hover.result and hover.result.contents then
    say('hover: ' .. hover.result.contents.value:gsub('\n', ' | '))
  else
    say('hover: none ' .. vim.inspect(hover))
  end
  local completion = client.request_sync('textDocument/completion',
    at(tonumber(os.getenv('TPT_COMPLETE_LINE')), tonumber(os.getenv('TPT_COMPLETE_COL'))), 10000, buf)
  local items = completion and completion.result and (completion.result.items or completion.result) or {}
  for _, item in ipairs(items) do say('completion: ' .. item.label .. ' ' .. tostring(item.detail)) end
  -- Go to a definition in the standard library: its file opens read-only,
  -- served by the same server.
  local def = client.request_sync('textDocument/definition',
    at(tonumber(os.getenv('TPT_DEF_LINE')), tonumber(os.getenv('TPT_DEF_COL'))), 10000, buf)
  local loc = def and def.result and (def.result[1] or def.result)
  if loc and loc.uri then
    vim.lsp.util.jump_to_location(loc, 'utf-16')
    local sbuf = vim.api.nvim_get_current_buf()
    vim.wait(10000, function() return #vim.lsp.buf_get_clients(sbuf) > 0 end, 50)
    say('stdlib: ' .. loc.uri)
    say('stdlib readonly: ' .. tostring(vim.bo[sbuf].readonly) .. ' modifiable: ' .. tostring(vim.bo[sbuf].modifiable))
    local row = vim.api.nvim_win_get_cursor(0)[1]
    say('stdlib line: ' .. (vim.api.nvim_buf_get_lines(sbuf, row - 1, row, false)[1] or ''))
    local n = 0
    for _, c in pairs(vim.lsp.get_active_clients()) do
      if c.name == 'tpt' then n = n + 1 end
    end
    say('tpt servers: ' .. n)
  else
    say('definition: none ' .. vim.inspect(def))
  end
  client.stop()
"#;

fn have_nvim() -> bool {
    Command::new("nvim")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The 0-based line and column of the first occurrence of `needle` (plus `offset` columns).
fn position(text: &str, needle: &str, offset: usize) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is in the example"));
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + offset;
    (line, col)
}

/// Whether nvim is here to run a test; without it the test says why and
/// passes, unless `TPT_REQUIRE_NVIM=1` (as in CI), where it fails.
fn nvim_or_skip() -> bool {
    if have_nvim() {
        return true;
    }
    if std::env::var("TPT_REQUIRE_NVIM").as_deref() == Ok("1") {
        panic!("nvim is not installed, and TPT_REQUIRE_NVIM=1 requires this test to run (apt-get install neovim)");
    }
    eprintln!(
        "skipped: nvim is not installed (apt-get install neovim; TPT_REQUIRE_NVIM=1 makes this a failure)"
    );
    false
}

/// Runs `script` (between [`PRELUDE`] and [`EPILOGUE`]) in headless Neovim (in
/// `dir`, editing `file`, with `editors/nvim` and the built binary, and `vars`)
/// within 90 s; the report it wrote.
fn run_nvim(dir: &Path, script: &str, file: &Path, vars: &[(&str, String)]) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_file = dir.join("test.lua");
    std::fs::write(&script_file, format!("{PRELUDE}{script}{EPILOGUE}")).expect("write the script");
    let out = dir.join("out.txt");
    let mut child = Command::new("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n"])
        .arg("-c")
        .arg(format!("luafile {}", script_file.display()))
        .env("TPT_FILE", file)
        .env("TPT_BIN", env!("CARGO_BIN_EXE_tpt"))
        .env("TPT_NVIM_PLUGIN", repo.join("editors/nvim"))
        .env("TPT_OUT", &out)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nvim starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("waiting for nvim").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&out).expect("the script wrote its report")
}

#[test]
fn neovim_receives_diagnostics_hover_and_completion() {
    if !nvim_or_skip() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("shop");
    support::copy_dir(&repo.join("examples/shop"), &dir);
    let main = dir.join("main.tpt");
    let text = std::fs::read_to_string(&main).expect("main.tpt");
    // The error: a misspelt param, which `tpt check` reports as E0100 with a suggestion.
    let text = text.replacen("  replicas = replicas\n", "  replicas = replicaz\n", 1);
    std::fs::write(&main, &text).expect("write main.tpt");
    let (hover_line, hover_col) = position(&text, "  replicas = replicaz", 3);
    let (complete_line, complete_col) = position(&text, "  namespace = \"shop\"", 2);
    let (def_line, def_col) = position(&text, "k8s.App {", 5);

    // A repository around the configuration: its root is the server's workspace.
    std::fs::create_dir(tmp.path().join(".git")).expect("mkdir .git");

    let lines = [
        ("TPT_HOVER_LINE", hover_line),
        ("TPT_HOVER_COL", hover_col),
        ("TPT_COMPLETE_LINE", complete_line),
        ("TPT_COMPLETE_COL", complete_col),
        ("TPT_DEF_LINE", def_line),
        ("TPT_DEF_COL", def_col),
    ]
    .map(|(k, v)| (k, v.to_string()));
    let report = run_nvim(tmp.path(), SCRIPT, &main, &lines);
    let has = |line: &str| report.lines().any(|l| l.starts_with(line));
    let root = tmp.path().canonicalize().expect("canonical");
    assert!(
        report
            .lines()
            .any(|l| l
                .strip_prefix("root: ")
                .is_some_and(|r| Path::new(r).canonicalize().ok().as_deref() == Some(root.as_path()))),
        "{report}"
    );
    assert!(has("filetype: tpt"), "{report}");
    assert!(has("syntax: tpt"), "{report}");
    assert!(!has("error:"), "{report}");
    assert!(has("diagnostics received: true"), "{report}");
    let diagnostic = format!(
        "diagnostic: {}:{} E0100 unknown name `replicaz`",
        hover_line + 1,
        14
    );
    assert!(has(&diagnostic), "expected `{diagnostic}` in:\n{report}");
    assert!(report.contains("did you mean `replicas`?"), "{report}");
    assert!(has("hover: ```tpt | replicas: int(0..1000)"), "{report}");
    assert!(report.contains("How many pods to run."), "{report}");
    // The fields of k8s.App that the shop does not set yet.
    for field in [
        "completion: name Name?",
        "completion: health_path string",
        "completion: wait bool",
    ] {
        assert!(has(field), "expected `{field}` in:\n{report}");
    }
    assert!(!has("completion: image"), "`image` is set already:\n{report}");
    assert!(has("stdlib: tpt-std:///std/k8s.tpt"), "{report}");
    assert!(has("stdlib line: resource schema App"), "{report}");
    assert!(has("stdlib readonly: true modifiable: false"), "{report}");
    assert!(has("tpt servers: 1"), "{report}");
}

/// Renames a `let` of a library two apps import, from the library, in one
/// Neovim: the one server of the repository edits the library and both apps.
const RENAME_SCRIPT: &str = r#"
  local buf = vim.api.nvim_get_current_buf()
  local client
  vim.wait(30000, function()
    for _, c in pairs(vim.lsp.buf_get_clients(buf)) do client = c end
    return client ~= nil and client.initialized
  end, 50)
  if not client then error('no LSP client attached') end
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) },
                   position = { line = 1, character = 5 }, newName = 'apex' }
  local r = client.request_sync('textDocument/rename', params, 10000, buf)
  if not (r and r.result) then error('no rename: ' .. vim.inspect(r)) end
  vim.lsp.util.apply_workspace_edit(r.result, 'utf-16')
  vim.cmd('silent! wall')
  local n = 0
  for _ in pairs(r.result.changes or r.result.documentChanges or {}) do n = n + 1 end
  say('files edited: ' .. n)
  client.stop()
"#;

#[test]
fn neovim_renames_in_a_library_across_the_apps_that_import_it() {
    if !nvim_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path();
    std::fs::create_dir(root.join(".git")).expect("mkdir .git");
    let files = [
        (
            "lib/names.tpt",
            "/// The company's domain.\nlet domain = \"acme.io\"\n",
        ),
        (
            "shop/main.tpt",
            "import \"../lib/names.tpt\" as names\n\nlet shop_host = \"shop.${names.domain}\"\n",
        ),
        (
            "blog/main.tpt",
            "import \"../lib/names.tpt\" as n\n\nlet blog_host = \"blog.${n.domain}\"\n",
        ),
    ];
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let report = run_nvim(root, RENAME_SCRIPT, &root.join("lib/names.tpt"), &[]);
    assert!(!report.contains("error:"), "{report}");
    assert!(report.contains("files edited: 3"), "{report}");
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).expect("read");
    assert_eq!(
        read("lib/names.tpt"),
        "/// The company's domain.\nlet apex = \"acme.io\"\n"
    );
    assert!(
        read("shop/main.tpt").contains("${names.apex}"),
        "{}",
        read("shop/main.tpt")
    );
    assert!(
        read("blog/main.tpt").contains("${n.apex}"),
        "{}",
        read("blog/main.tpt")
    );
}

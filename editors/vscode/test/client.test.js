// `tpt lsp` driven as the extension drives it: its client module
// (`out/client.js`, built by `npm run build`: the server command, the
// initialization options, the standard library's documents) over the
// protocol library under vscode-languageclient (vscode-languageserver-protocol),
// with the capabilities VS Code's client declares for the features used
// here: pull diagnostics, quick fixes, code lenses and their commands,
// semantic tokens, inlay hints. (VS Code itself cannot be started here: its
// test runner downloads an editor build.) `TPT_BIN` names the binary; without
// it the test is skipped and says why (`cargo test` runs it with the built binary).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { pathToFileURL } = require('node:url');
const rpc = require('vscode-languageserver-protocol/node');

const bin = process.env.TPT_BIN;
const built = path.resolve(__dirname, '..', 'out', 'client.js');
const skip = !bin ? 'TPT_BIN is not set (cargo test sets it to the built tpt)'
  : !fs.existsSync(built) ? 'the extension is not built (npm run build)' : false;

// What VS Code's client (vscode-languageclient 9) declares for these features.
const capabilities = {
  workspace: {
    workspaceFolders: true,
    diagnostics: { refreshSupport: true },
    codeLens: { refreshSupport: true },
    semanticTokens: { refreshSupport: true },
    inlayHint: { refreshSupport: true },
    executeCommand: { dynamicRegistration: true },
  },
  textDocument: {
    synchronization: { dynamicRegistration: true, didSave: true },
    diagnostic: { dynamicRegistration: true, relatedDocumentSupport: false },
    codeLens: { dynamicRegistration: true },
    semanticTokens: {
      dynamicRegistration: true,
      tokenTypes: ['namespace', 'class', 'type', 'parameter', 'variable', 'property', 'enumMember', 'function'],
      tokenModifiers: ['declaration', 'readonly', 'defaultLibrary'],
      formats: ['relative'],
      requests: { range: true, full: { delta: true } },
    },
    inlayHint: { dynamicRegistration: true },
    codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } }, isPreferredSupport: true },
  },
};

test('tpt lsp answers the extension client', { skip }, async () => {
  const client = require(built);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tpt-vscode-'));
  fs.writeFileSync(
    path.join(dir, 'main.tpt'),
    'import std.aws\n\nresource zone: aws.HostedZone {\n  name = domain\n}\n',
  );
  const { command, args } = client.serverCommand(bin, []);
  const server = spawn(command, args, { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  const connection = rpc.createProtocolConnection(
    new rpc.StreamMessageReader(server.stdout),
    new rpc.StreamMessageWriter(server.stdin),
  );
  const shown = [];
  connection.onNotification('window/showMessage', (p) => shown.push(p.message));
  connection.onRequest('workspace/diagnostic/refresh', () => null);
  connection.listen();
  try {
    const root = pathToFileURL(dir + path.sep).href;
    const init = await connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: root,
      workspaceFolders: [{ uri: root, name: 'shop' }],
      capabilities,
      initializationOptions: client.initializationOptions,
    });
    const caps = init.capabilities;
    assert.equal(caps.diagnosticProvider.workspaceDiagnostics, true);
    assert.deepEqual(caps.executeCommandProvider.commands, ['tpt.check', 'tpt.plan']);
    assert.ok(caps.semanticTokensProvider.legend.tokenTypes.includes('class'));
    await connection.sendNotification('initialized', {});
    const uri = pathToFileURL(path.join(dir, 'main.tpt')).href;
    const text = fs.readFileSync(path.join(dir, 'main.tpt'), 'utf8');
    await connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'tpt', version: 1, text },
    });

    // Pulled diagnostics, with the quick fix that declares the param.
    const report = await connection.sendRequest('textDocument/diagnostic', { textDocument: { uri } });
    assert.equal(report.kind, 'full');
    assert.equal(report.items[0].code, 'E0100');
    const actions = await connection.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range: report.items[0].range,
      context: { diagnostics: report.items },
    });
    assert.equal(actions[0].title, 'Declare `param domain: aws.Domain`');
    assert.equal(actions[0].isPreferred, true);

    // Mended as the quick fix says: clean, and a plan from the lens.
    const edit = actions[0].edit.changes[uri][0];
    await connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: edit.range, text: edit.newText.replace('aws.Domain', 'aws.Domain = "acme.io"') }],
    });
    const clean = await connection.sendRequest('textDocument/diagnostic', { textDocument: { uri } });
    assert.deepEqual(clean.items, []);
    const lenses = await connection.sendRequest('textDocument/codeLens', { textDocument: { uri } });
    const plan = lenses.find((l) => l.command.title === '▶ plan');
    assert.ok(plan, JSON.stringify(lenses));
    // The plan reads the files on disk: save the edit first.
    const [line, ...rest] = text.split('\n');
    fs.writeFileSync(path.join(dir, 'main.tpt'), [line, '', 'param domain: aws.Domain = "acme.io"', ...rest].join('\n'));
    const planned = await connection.sendRequest('workspace/executeCommand', plan.command);
    assert.match(planned.plan, /\+ zone \(aws\.HostedZone\) will be created/);
    assert.match(planned.plan, /Plan: 1 to create/);
    assert.ok(shown.some((m) => m.startsWith('tpt plan: Plan: 1 to create')), JSON.stringify(shown));

    // Semantic tokens and inlay hints of the document.
    const tokens = await connection.sendRequest('textDocument/semanticTokens/full', { textDocument: { uri } });
    assert.ok(tokens.data.length > 0 && tokens.data.length % 5 === 0);
    const hints = await connection.sendRequest('textDocument/inlayHint', {
      textDocument: { uri },
      range: { start: { line: 0, character: 0 }, end: { line: 100, character: 0 } },
    });
    assert.ok(hints.some((h) => h.label.includes('private = false')), JSON.stringify(hints));

    // A definition in the standard library: a virtual document, its text from
    // the server (what the extension's content provider shows).
    const def = await connection.sendRequest('textDocument/definition', {
      textDocument: { uri },
      position: { line: 4, character: 22 },
    });
    assert.equal(def.uri, `${client.STDLIB_SCHEME}:///std/aws.tpt`, JSON.stringify(def));
    assert.ok(client.documentSelector.some((d) => d.scheme === client.STDLIB_SCHEME));
    const stdText = await client.stdlibText((m, p) => connection.sendRequest(m, p), def.uri);
    assert.match(stdText.split('\n')[def.range.start.line], /HostedZone/);

    await connection.sendRequest('shutdown');
    await connection.sendNotification('exit');
    assert.equal(await exited, 0);
  } finally {
    connection.dispose();
    server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

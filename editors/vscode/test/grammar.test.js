// The TextMate grammar, tokenized with vscode-textmate (the engine VS Code uses)
// on the repository's example and standard library files and on a fixture with
// every kind of token: key tokens must get their scopes, and no string or
// comment may run on past its end.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const repo = path.resolve(__dirname, '..', '..', '..');
const grammarPath = path.resolve(__dirname, '..', 'syntaxes', 'tpt.tmLanguage.json');

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.tpt') return null;
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  return registry.loadGrammar('source.tpt');
}

/** Every token of a file: { line, text, scopes }. */
function tokenize(grammar, text) {
  const out = [];
  let state = vsctm.INITIAL;
  text.split('\n').forEach((line, i) => {
    const r = grammar.tokenizeLine(line, state);
    for (const t of r.tokens) {
      out.push({ line: i + 1, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  });
  return out;
}

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return e.name.endsWith('.tpt') ? [p] : [];
  });
}

const examples = [
  ...files(path.join(repo, 'examples')),
  ...files(path.join(repo, 'stdlib')),
  path.join(__dirname, 'fixtures', 'tokens.tpt'),
];

/** The scopes of the first token with this text (on a line containing `on`, if given). */
function scopesOf(tokens, text, on) {
  const t = tokens.find((t) => t.text.trim() === text && (!on || on(t)));
  assert.ok(t, `a token \`${text}\``);
  return t.scopes;
}

function has(scopes, scope) {
  return scopes.some((s) => s === scope || s.startsWith(scope + '.'));
}

test('key tokens of the shop example', async () => {
  const grammar = await loadGrammar();
  const text = fs.readFileSync(path.join(repo, 'examples', 'shop', 'main.tpt'), 'utf8');
  const tokens = tokenize(grammar, text);
  assert.ok(has(scopesOf(tokens, 'resource'), 'keyword.declaration'));
  assert.ok(has(scopesOf(tokens, 'import'), 'keyword.declaration.import'));
  assert.ok(has(scopesOf(tokens, 'param'), 'keyword.declaration'));
  const annotated = (t) => text.split('\n')[t.line - 1].includes('@promote');
  assert.ok(has(scopesOf(tokens, '@', annotated), 'punctuation.definition.annotation'));
  assert.ok(has(scopesOf(tokens, 'promote', annotated), 'storage.modifier.annotation'));
  assert.ok(has(scopesOf(tokens, 'EksCluster'), 'entity.name.type'));
  assert.ok(has(scopesOf(tokens, 'main', (t) => t.line === tokens.find((u) => u.text === 'resource').line), 'entity.name.variable.resource'));
  assert.ok(has(scopesOf(tokens, '8080'), 'constant.numeric.integer'));
  assert.ok(has(scopesOf(tokens, 'true'), 'constant.language'));
  // A string with an interpolation: the quotes and text are a string, `${` opens an interpolation
  // whose name is code.
  const hostLine = tokens.find((t) => t.text === 'shop.').line;
  assert.ok(has(scopesOf(tokens, 'shop.', (t) => t.line === hostLine), 'string.quoted.double'));
  const open = scopesOf(tokens, '${', (t) => t.line === hostLine);
  assert.ok(has(open, 'punctuation.section.interpolation.begin'));
  const inner = scopesOf(tokens, 'domain', (t) => t.line === hostLine);
  assert.ok(has(inner, 'meta.interpolation') && !inner.includes('punctuation.section.interpolation.begin.tpt'));
  // Comments: a plain one trailing code, and doc comments.
  assert.ok(has(scopesOf(tokens, '// a reference: orders depends on main'), 'comment.line.double-slash'));
  assert.ok(tokens.some((t) => t.text.startsWith('/// ') && has(t.scopes, 'comment.line.documentation')));
  assert.ok(has(scopesOf(tokens, 'region', (t) => /^\s*region = /.test(text.split('\n')[t.line - 1])), 'variable.other.property'));
});

test('every kind of token in the fixture', async () => {
  const grammar = await loadGrammar();
  const tokens = tokenize(grammar, fs.readFileSync(path.join(__dirname, 'fixtures', 'tokens.tpt'), 'utf8'));
  const expect = [
    ['1h30m', 'constant.numeric.duration'],
    ['2.5e3', 'constant.numeric.float'],
    ['65535', 'constant.numeric.integer'],
    ['..', 'keyword.operator.range'],
    ['/^[a-z]+\\/[0-9]$/', 'string.regexp'],
    ['"""', 'string.quoted.triple'],
    ['\\$', 'constant.character.escape'],
    ['\\n', 'constant.character.escape'],
    ['a block comment', 'comment.block'],
    ['over two lines', 'comment.block'],
    ['double', 'entity.name.function'],
    ['if', 'keyword.control'],
    ['then', 'keyword.control'],
    ['for', 'keyword.control'],
    ['join', 'entity.name.function.call'],
    ['??', 'keyword.operator'],
    ['Port', 'entity.name.type'],
    ['int', 'support.type.primitive'],
    ['std', 'keyword.other.std'],
    ['kube', 'entity.name.namespace'],
    ['false', 'constant.language'],
  ];
  for (const [text, scope] of expect) {
    assert.ok(has(scopesOf(tokens, text), scope), `\`${text}\` has ${scope}: ${scopesOf(tokens, text).join(' ')}`);
  }
  // Interpolation inside a text block, and a string nested in an interpolation.
  const kind = scopesOf(tokens, 'tag', (t) => t.line === 13);
  assert.ok(has(kind, 'string.quoted.triple') && has(kind, 'meta.interpolation'));
  const nested = scopesOf(tokens, 'x', (t) => t.line === 22);
  assert.ok(has(nested, 'meta.interpolation') && has(nested, 'string.quoted.double'));
  assert.ok(has(scopesOf(tokens, '.acme.io', (t) => t.line === 22), 'string.quoted.double'));
});

test('strings and comments end where they end, in every example', async () => {
  const grammar = await loadGrammar();
  for (const file of examples) {
    const text = fs.readFileSync(file, 'utf8');
    const tokens = tokenize(grammar, text);
    const lines = text.split('\n');
    for (const t of tokens) {
      // A declaration keyword at the start of a line is never inside a string or comment.
      const starts = /^(resource|param|let|fn|schema|type|environment|import)\b/.test(lines[t.line - 1]);
      if (starts && t.text === lines[t.line - 1].split(/\s/)[0]) {
        assert.ok(
          has(t.scopes, 'keyword.declaration'),
          `${path.relative(repo, file)}:${t.line}: \`${t.text}\` is ${t.scopes.join(' ')}`,
        );
      }
    }
  }
});

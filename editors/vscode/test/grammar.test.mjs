// Grammar tests: the injection grammar tokenized with the real TextMate engine over fixture YAML.
// YAML comes from a published YAML grammar; Lua from our own small fixture grammar and from a
// published Lua grammar, so the scopes we emit are checked against both.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const INJECTION = 'tea.injection.lua-jinja';

const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
const contributed = pkg.contributes.grammars.find((g) => g.scopeName === INJECTION);

function grammarFile(name) {
  return require.resolve(`tm-grammars/grammars/${name}`);
}

const LUA_PROVIDERS = {
  'fixture Lua grammar': path.join(here, 'fixtures', 'lua.tmLanguage.json'),
  'published Lua grammar': grammarFile('lua.json'),
};

let onigLib;
before(async () => {
  const wasm = await readFile(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  onigLib = Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (s) => new oniguruma.OnigString(s),
  });
});

async function yamlGrammar(luaFile) {
  const files = {
    'source.yaml': grammarFile('yaml.json'),
    'source.lua': luaFile,
    [INJECTION]: path.join(root, contributed.path),
  };
  const registry = new vsctm.Registry({
    onigLib,
    loadGrammar: async (scopeName) => {
      const file = files[scopeName];
      if (!file) return null;
      return vsctm.parseRawGrammar(await readFile(file, 'utf8'), file);
    },
    // what VS Code does for a grammar contributed with `injectTo`
    getInjections: (scopeName) =>
      contributed.injectTo.includes(scopeName) ? [INJECTION] : undefined,
  });
  return registry.loadGrammar('source.yaml');
}

/** Tokenize a whole file: one entry per line, each a list of {start, end, text, scopes}. */
function tokenize(grammar, text) {
  let stack = vsctm.INITIAL;
  return text.split('\n').map((line) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    return r.tokens.map((t) => ({
      start: t.startIndex,
      end: Math.min(t.endIndex, line.length),
      text: line.slice(t.startIndex, t.endIndex),
      scopes: t.scopes,
    }));
  });
}

const fixtureText = await readFile(path.join(here, 'fixtures', 'embedded.tea.yaml'), 'utf8');
const fixtureLines = fixtureText.split('\n');

/** Scopes of the token at the `nth` occurrence of `word` on 1-based line `line`. */
function scopesOf(lines, line, word, nth = 0) {
  const src = fixtureLines[line - 1];
  let col = -1;
  for (let i = 0; i <= nth; i++) {
    col = src.indexOf(word, col + 1);
    assert.ok(col >= 0, `'${word}' #${nth} not on line ${line}: ${JSON.stringify(src)}`);
  }
  const tok = lines[line - 1].find((t) => t.start <= col && col < t.end);
  assert.ok(tok, `no token at ${line}:${col}`);
  return tok.scopes;
}

const has = (scopes, name) => scopes.some((s) => s === name || s.startsWith(name + '.'));
const anyLua = (scopes) => scopes.some((s) => s.endsWith('.lua'));
const anyJinja = (scopes) => scopes.some((s) => s.endsWith('.jinja'));

test('package.json contributes the injection into source.yaml with embedded languages', () => {
  assert.equal(contributed.path, './syntaxes/tea-lua.injection.json');
  assert.deepEqual(contributed.injectTo, ['source.yaml']);
  assert.equal(contributed.embeddedLanguages['meta.embedded.block.lua'], 'lua');
});

for (const [provider, luaFile] of Object.entries(LUA_PROVIDERS)) {
  describe(`with the ${provider}`, () => {
    let lines;
    before(async () => {
      lines = tokenize(await yamlGrammar(luaFile), fixtureText);
    });

    test('Lua keywords in a `run: |` block get Lua scopes', () => {
      for (const [line, word, scope] of [
        [9, 'local', 'keyword.local.lua'],
        [10, 'if', 'keyword.control.lua'],
        [10, 'then', 'keyword.control.lua'],
        [11, 'return', 'keyword.control.lua'],
        [12, 'end', 'keyword.control.lua'],
        [13, 'return', 'keyword.control.lua'],
        [9, 'or', 'keyword.operator.logical.lua'],
      ]) {
        const scopes = scopesOf(lines, line, word);
        assert.ok(has(scopes, 'meta.embedded.block.lua'), `${line} ${word}: ${scopes}`);
        assert.ok(has(scopes, scope), `${line} ${word}: ${scopes}`);
      }
      assert.ok(has(scopesOf(lines, 8, '-- count up'), 'comment'), 'Lua comment');
      assert.ok(has(scopesOf(lines, 10, '3'), 'constant.numeric'), 'Lua number');
      assert.ok(has(scopesOf(lines, 11, '"yes"'), 'string.quoted.double'), 'Lua string');
    });

    test('the block header keeps its YAML scopes', () => {
      assert.ok(has(scopesOf(lines, 7, 'run'), 'entity.name.tag.yaml'));
      assert.ok(has(scopesOf(lines, 7, '|'), 'keyword.control.flow.block-scalar.literal.yaml'));
      assert.ok(!anyLua(scopesOf(lines, 7, 'run')));
    });

    test('text outside the Lua blocks gets no Lua scope', () => {
      // the key right after the block, whose value is the word `lua`
      assert.ok(!anyLua(scopesOf(lines, 14, 'language')), 'key after block');
      assert.ok(!anyLua(scopesOf(lines, 14, 'lua')), 'value after block');
      assert.ok(has(scopesOf(lines, 14, 'language'), 'entity.name.tag.yaml'));
      // a Lua keyword in an ordinary YAML string
      assert.ok(!anyLua(scopesOf(lines, 2, 'return')), 'keyword in a YAML string');
      assert.ok(has(scopesOf(lines, 2, 'return'), 'string.quoted.double.yaml'));
      assert.ok(!anyLua(scopesOf(lines, 15, 'name')), 'next node');
      assert.ok(!anyLua(scopesOf(lines, 26, 'name')), 'key after a block in a sequence item');
      assert.ok(!anyLua(scopesOf(lines, 41, 'return')), 'comment');
    });

    test('every Lua-bearing spelling is scoped', () => {
      // `- run: |` as the first key of a sequence item
      assert.ok(has(scopesOf(lines, 25, 'return'), 'keyword.control.lua'));
      // `script: |-` with a chomping indicator
      assert.ok(has(scopesOf(lines, 29, 'return'), 'keyword.control.lua'));
      // one-line plain scalar
      const inline = scopesOf(lines, 31, 'return');
      assert.ok(has(inline, 'meta.embedded.inline.lua') && has(inline, 'keyword.control.lua'));
      assert.ok(has(scopesOf(lines, 31, '1'), 'constant.numeric'));
      // folded `run: >` nested deeper
      assert.ok(has(scopesOf(lines, 40, 'return'), 'keyword.control.lua'));
      // `condition: |` is Lua, with Jinja still recognised inside
      assert.ok(has(scopesOf(lines, 36, 'and'), 'keyword.operator.logical.lua'));
      const v = scopesOf(lines, 36, 'variables');
      assert.ok(has(v, 'variable.language.jinja') && has(v, 'meta.embedded.inline.jinja'), `${v}`);
    });

    test('`{{ state.x }}` in a YAML string gets Jinja scopes', () => {
      const open = scopesOf(lines, 18, '{{');
      assert.ok(has(open, 'punctuation.section.embedded.begin.jinja'), `${open}`);
      assert.ok(has(open, 'string.quoted.double.yaml'), 'still inside the YAML string');
      const state = scopesOf(lines, 18, 'state');
      assert.ok(has(state, 'meta.embedded.inline.jinja') && has(state, 'variable.language.jinja'));
      assert.ok(has(scopesOf(lines, 18, 'user'), 'variable.other.property.jinja'));
      assert.ok(has(scopesOf(lines, 18, '}}'), 'punctuation.section.embedded.end.jinja'));
      assert.ok(has(scopesOf(lines, 19, 'tojson'), 'support.function.filter.jinja'));
      assert.ok(has(scopesOf(lines, 21, '>'), 'keyword.operator.jinja'));
      assert.ok(has(scopesOf(lines, 21, '2'), 'constant.numeric.jinja'));
      // the text of the string around the template is plain YAML string
      const around = scopesOf(lines, 18, 'https');
      assert.ok(!anyJinja(around) && has(around, 'string.quoted.double.yaml'), `${around}`);
      // the string closes normally after the template: the next key is a key
      assert.ok(has(scopesOf(lines, 19, 'body'), 'entity.name.tag.yaml'));
    });

    test('no Jinja in YAML comments nor in Lua code', () => {
      assert.ok(!anyJinja(scopesOf(lines, 41, '{{')));
      assert.ok(!anyJinja(scopesOf(lines, 11, '{')), 'Lua table constructor');
    });
  });
}

// Grammar tests: our injection grammars tokenized with the real TextMate engine over fixture YAML,
// with the YAML, Lua and Python grammars VS Code 1.139 ships (pinned copies, see
// fixtures/vscode-1.139/LICENSES.txt), and with the published textmate ones (tm-grammars) that
// older VS Code versions and other editors use.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  GRAMMAR_SETS,
  contributed,
  fixtures,
  linesScoped,
  root,
  tokenize,
  yamlGrammar,
} from './lib/textmate.mjs';

const here = path.join(root, 'test');
const fixtureText = await readFile(path.join(fixtures, 'embedded.tea.yaml'), 'utf8');
const pythonText = await readFile(path.join(fixtures, 'python.tea.yaml'), 'utf8');
const exampleText = await readFile(
  path.join(root, '..', '..', 'examples', 'parallel_pipeline.tea.yaml'),
  'utf8',
);

/** Scopes of the token at the `nth` occurrence of `word` on 1-based line `line`. */
function scopesOf(lines, line, word, nth = 0) {
  const src = lines.source[line - 1];
  let col = -1;
  for (let i = 0; i <= nth; i++) {
    col = src.indexOf(word, col + 1);
    assert.ok(col >= 0, `'${word}' #${nth} not on line ${line}: ${JSON.stringify(src)}`);
  }
  const tok = lines[line - 1].find((t) => t.start <= col && col < t.end);
  assert.ok(tok, `no token at ${line}:${col}`);
  return tok.scopes;
}

/** Every scope of every non-blank token on 1-based line `line`. */
const lines0 = (lines, line) =>
  lines[line - 1].filter((t) => t.text.trim() !== '').flatMap((t) => t.scopes);
const has = (scopes, name) => scopes.some((s) => s === name || s.startsWith(name + '.'));
const anyLua = (scopes) => scopes.some((s) => s.endsWith('.lua'));
const anyJinja = (scopes) => scopes.some((s) => s.endsWith('.jinja'));

test('package.json contributes the injection into source.yaml with embedded languages', () => {
  assert.equal(contributed.path, './syntaxes/tea-lua.injection.json');
  assert.deepEqual(contributed.injectTo, ['source.yaml']);
  assert.equal(contributed.embeddedLanguages['meta.embedded.block.lua'], 'lua');
});

function tokenized(grammar, text) {
  const lines = tokenize(grammar, text);
  lines.source = text.split('\n');
  return lines;
}

/** Blocks of code lines (non-blank lines indented past a `run: |` style key), found by indentation. */
function codeLines(text) {
  const src = text.split('\n');
  const out = [];
  for (let i = 0; i < src.length; i++) {
    const head = /^(\s*)(?:- )?(?:run|script|code|condition):\s*[|>]/.exec(src[i]);
    if (!head) continue;
    const indent = head[0].indexOf('-') === head[1].length ? head[1].length + 2 : head[1].length;
    for (let j = i + 1; j < src.length; j++) {
      if (src[j].trim() === '') continue;
      if (src[j].search(/\S/) <= indent) break;
      out.push(j + 1);
    }
  }
  return out;
}

test('the generated grammar files are up to date', () => {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-grammar.mjs'), '--check'], {
    cwd: root,
  });
});

for (const [setName, set] of Object.entries(GRAMMAR_SETS)) {
  describe(`with ${setName}`, () => {
    let lines;
    let python;
    let example;
    before(async () => {
      const grammar = await yamlGrammar(set);
      lines = tokenized(grammar, fixtureText);
      python = tokenized(grammar, pythonText);
      example = tokenized(grammar, exampleText);
    });

    test('no invalid token anywhere in the fixtures and the example', () => {
      for (const [name, toks] of [['embedded', lines], ['python', python], ['example', example]]) {
        toks.forEach((tokens, i) => {
          for (const t of tokens) {
            assert.ok(
              !t.scopes.some((sc) => sc.startsWith('invalid')),
              `${name}:${i + 1} ${JSON.stringify(t.text)}: ${t.scopes.join(' ')}`,
            );
          }
        });
      }
    });

    test('every Lua line of the bundled example is scoped as Lua, and nothing else', () => {
      const expected = codeLines(exampleText);
      assert.equal(expected.length, 60);
      assert.deepEqual(linesScoped(example, '.lua'), expected);
    });

    test('Python code is scoped as Python, Lua code as Lua, in every form', () => {
      const expectedPython = [7, 8, 9, 13, 14, 15, 18, 19, 20, 23, 26, 27, 29, 32, 50, 51, 52, 66, 67];
      const expectedLua = [35, 36, 39, 40, 45];
      assert.deepEqual(linesScoped(python, '.python'), expectedPython);
      assert.deepEqual(linesScoped(python, '.lua'), expectedLua);
      assert.ok(has(scopesOf(python, 7, 'import'), 'meta.embedded.block.python'));
      assert.ok(has(scopesOf(python, 7, 'import'), 'keyword.control.import.python'));
      assert.ok(has(scopesOf(python, 13, 'if'), 'keyword.control.flow.python'));
      assert.ok(has(scopesOf(python, 32, 'x'), 'meta.embedded.inline.python'));
      // Jinja inside Python (TEA renders Python code through Jinja first)
      const j = scopesOf(python, 19, 'state');
      assert.ok(has(j, 'variable.language.jinja') && has(j, 'meta.embedded.block.python'), `${j}`);
      assert.ok(has(scopesOf(python, 19, 'length'), 'support.function.filter.jinja'));
      // Prolog (`language: prolog`) is neither: left uncoloured, never Lua
      for (const line of [56, 57, 58, 62, 63]) {
        const sc = lines0(python, line);
        assert.ok(sc.includes('meta.embedded.block.prolog'), `${line}: ${sc}`);
        assert.ok(!sc.some((x) => /\.(lua|python)$/.test(x)), `${line}: ${sc}`);
      }
      // the keys after each block are YAML keys again
      for (const [line, word] of [[10, 'name'], [11, 'language'], [30, 'name'], [48, 'type'], [59, 'name']]) {
        const sc = scopesOf(python, line, word);
        assert.ok(has(sc, 'entity.name.tag.yaml') && !sc.some((x) => /\.(lua|python)$/.test(x)));
      }
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

// Shared by the grammar tests and scripts/measure-grammar.mjs: the real TextMate engine
// (vscode-textmate + oniguruma) loading YAML, Lua and Python grammars plus our injection, the way
// VS Code does for a grammar contributed with `injectTo`.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const fixtures = path.join(root, 'test', 'fixtures');
export const INJECTION = 'tea.injection.lua-jinja';

const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
export const contributed = pkg.contributes.grammars.find((g) => g.scopeName === INJECTION);
/** Every grammar the extension contributes, all injected into source.yaml. */
export const injections = pkg.contributes.grammars.filter((g) => g.injectTo);

const published = (name) => require.resolve(`tm-grammars/grammars/${name}`);
const vscodeDir = path.join(fixtures, 'vscode-1.139');

/** The grammar sets the tests run against: scope name -> file. */
export const GRAMMAR_SETS = {
  // what VS Code 1.139 ships (RedCMD's YAML grammar, sumneko's Lua, MagicPython)
  'VS Code 1.139': {
    'source.yaml': path.join(vscodeDir, 'yaml.tmLanguage.json'),
    'source.yaml.1.3': path.join(vscodeDir, 'yaml-1.3.tmLanguage.json'),
    'source.yaml.1.2': path.join(vscodeDir, 'yaml-1.2.tmLanguage.json'),
    'source.yaml.1.1': path.join(vscodeDir, 'yaml-1.1.tmLanguage.json'),
    'source.yaml.1.0': path.join(vscodeDir, 'yaml-1.0.tmLanguage.json'),
    'source.yaml.embedded': path.join(vscodeDir, 'yaml-embedded.tmLanguage.json'),
    'source.lua': path.join(vscodeDir, 'lua.tmLanguage.json'),
    'source.python': path.join(vscodeDir, 'MagicPython.tmLanguage.json'),
    'source.regexp.python': path.join(vscodeDir, 'MagicRegExp.tmLanguage.json'),
  },
  // the published tm-grammars set (the classic textmate YAML grammar), with our small Lua fixture
  'tm-grammars + fixture Lua': {
    'source.yaml': published('yaml.json'),
    'source.lua': path.join(fixtures, 'lua.tmLanguage.json'),
    'source.python': published('python.json'),
  },
  'tm-grammars': {
    'source.yaml': published('yaml.json'),
    'source.lua': published('lua.json'),
    'source.python': published('python.json'),
  },
};

let onigLib;
async function onig() {
  if (!onigLib) {
    const wasm = await readFile(require.resolve('vscode-oniguruma/release/onig.wasm'));
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
    onigLib = Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    });
  }
  return onigLib;
}

/** source.yaml from `set` with our injection. */
export async function yamlGrammar(set) {
  const files = { ...set };
  for (const g of injections) files[g.scopeName] = path.join(root, g.path);
  const registry = new vsctm.Registry({
    onigLib: onig(),
    loadGrammar: async (scopeName) => {
      const file = files[scopeName];
      if (!file) return null;
      return vsctm.parseRawGrammar(await readFile(file, 'utf8'), file);
    },
    getInjections: (scopeName) => {
      const names = injections.filter((g) => g.injectTo.includes(scopeName));
      return names.length > 0 ? names.map((g) => g.scopeName) : undefined;
    },
  });
  return registry.loadGrammar('source.yaml');
}

/** Tokenize a whole text: one entry per line, each a list of {start, end, text, scopes}. */
export function tokenize(grammar, text) {
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

/** 1-based numbers of the lines with at least one non-blank token scoped `*.lua` (or other suffix). */
export function linesScoped(lines, suffix = '.lua') {
  const out = [];
  lines.forEach((tokens, i) => {
    if (tokens.some((t) => t.text.trim() !== '' && t.scopes.some((s) => s.endsWith(suffix)))) {
      out.push(i + 1);
    }
  });
  return out;
}

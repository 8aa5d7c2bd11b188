// Writes syntaxes/tea-lua.injection.json. The regexes live here, readable, with their reasons;
// `node scripts/build-grammar.mjs --check` fails when the JSON is out of date (run by the tests).
//
// How the injection finds code in VS Code's YAML grammar (RedCMD's, shipped since 1.9x): that
// grammar consumes each line's indentation (and a sequence's `- `) in nested `while` rules, so a
// key never starts at `^` of the line as our rules see it. Every rule here is therefore anchored
// at `\G`, the position where YAML's own rules stopped: the start of the key. The older textmate
// YAML grammar (tm-grammars) leaves the indentation to us; `\G` is then the line start, so the
// optional `[ ]*` before the key covers both.
//
// Which language: an explicit `language:` may come after the code, where a grammar cannot see
// it, and tea-lsp decides unmarked code by compiling it (Lua if it compiles as Lua, else Python).
// A grammar cannot compile, so it looks at the first non-blank line of the code: Python when that
// line holds a construct Lua cannot parse (see PYTHON_FIRST_LINE), else Lua. Such code cannot
// compile as Lua, so tea-lsp also takes it as Python; the converse (a first line valid in both
// languages, then Python) is highlighted as Lua.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '..', 'syntaxes', 'tea-lua.injection.json');
const outDash = path.resolve(here, '..', 'syntaxes', 'tea-dash.injection.json');

// A line (after its indentation) that Lua cannot parse but Python can start with.
const notLuaComment = '(?!--)';
const PYTHON_FIRST_LINE =
  '(?:' +
  [
    'import\\s+[\\w.]',
    'from\\s+[\\w.]+\\s+import\\b',
    '(?:async\\s+)?def\\s+\\w',
    'class\\s+\\w',
    '@\\w',
    '#', // a Python comment; `#x` cannot start a Lua statement
    '(?:raise|del|global|nonlocal|with|lambda|yield|await)\\s+[^\\s=(]',
    'assert\\s+[^\\s(=]',
    'pass\\s*(?:#.*)?$',
    // a line ending in `:` (if/for/while/def/try/else...): a Lua line never ends in `:`
    `${notLuaComment}(?:(?!--)[^#])*:\\s*(?:#.*)?$`,
    // a dict display with a string key, e.g. `return {"n": 1}`
    '(?:(?!--).)*\\{\\s*(?:"[^"]*"|\'[^\']*\')\\s*:',
    // augmented assignment `x += 1` (Lua has none)
    '(?:(?!--).)*[\\w\\])]\\s*(?:\\*\\*|//|>>|<<|[-+*/%&|^@])=(?!=)',
    // a list display after `=`, e.g. `xs = [1, 2]` (not a Lua long string `[[` / `[==[`)
    '(?:(?!--).)*=\\s*\\[(?!=*\\[)',
    // an empty list `[]`, a comprehension `[x for ...`, `!=`, `**`, `is None`, `not in`,
    // a triple-quoted string: none of them parses as Lua
    '(?:(?!--).)*(?:\\[\\s*\\]|\\[[^\\]]*\\bfor\\b|!=|\\*\\*|\\bis\\s+(?:not\\s+)?None\\b|\\bnot\\s+in\\b|"""|\'\'\')',
  ].join('|') +
  ')';

// A Prolog clause (`language: prolog`), which Lua cannot start with either: a `%` comment, a
// `:-` directive, or a call ending the line with `,` or `.` (`state(x, V),`). Left uncoloured.
const PROLOG_FIRST_LINE = '(?:%|:-|[a-z]\\w*\\(.*\\)\\s*[,.]\\s*(?:%.*)?$)';

const KEY_CODE = '(run|script|code)';
const HEAD_TAIL = '[ \\t]*(:)[ \\t]+(?:(\\|)|(>))([1-9][-+]?|[-+][1-9]?)?[ \\t]*(#.*)?$';
const headCaptures = {
  1: { name: 'entity.name.tag.yaml' },
  2: { name: 'punctuation.separator.key-value.mapping.yaml' },
  3: { name: 'keyword.control.flow.block-scalar.literal.yaml' },
  4: { name: 'keyword.control.flow.block-scalar.folded.yaml' },
  5: { name: 'storage.modifier.chomping-indicator.yaml' },
  6: { name: 'comment.line.number-sign.yaml' },
};

// The lines of a block scalar: indented past the key (YAML's rules have consumed the indentation
// up to the key, so one more space remains) or blank. With the textmate grammar, which consumes
// nothing, `\G` is the line start and the captured indentation of the key comes first.
const blockWhile = '(?:\\G|^)(?=\\1[ ]|[ \\t]*$)';
// `- run: |` when the YAML grammar leaves the `- ` to us (the textmate grammar only; VS Code's
// consumes it, and `(?<!-)` keeps the rules above from starting right after it).
const dashWhile = '(?:\\G|^)(?=\\1[ ]\\3[ ]|[ \\t]*$)';

function codeBody(withJinja) {
  const python = {
    comment: 'The first non-blank line cannot be Lua: Python to the end of the block.',
    begin: `\\G(?=[ \\t]*${PYTHON_FIRST_LINE})`,
    end: '(?!)',
    contentName: 'meta.embedded.block.python',
    patterns: [{ include: 'tea.injection.lua-jinja#jinja' }, { include: 'source.python' }],
  };
  const prolog = {
    comment: 'The first non-blank line is Prolog: no embedded grammar to the end of the block.',
    begin: `\\G(?=[ \\t]*${PROLOG_FIRST_LINE})`,
    end: '(?!)',
    contentName: 'meta.embedded.block.prolog',
  };
  const lua = {
    comment: 'Otherwise Lua to the end of the block.',
    begin: '\\G(?=[ \\t]*\\S)',
    end: '(?!)',
    contentName: 'meta.embedded.block.lua',
    patterns: withJinja ? [{ include: 'tea.injection.lua-jinja#jinja' }, { include: 'source.lua' }] : [{ include: 'source.lua' }],
  };
  return [python, prolog, lua];
}

function shifted(by) {
  return Object.fromEntries(
    Object.entries(headCaptures).map(([k, v]) => [String(Number(k) + by), v]),
  );
}

function blockRule(keys, withJinja, comment) {
  return {
    comment,
    begin: `(?:\\G|^)(?<!-)([ ]*)${keys}${HEAD_TAIL}`,
    beginCaptures: shifted(1),
    while: blockWhile,
    name: 'meta.embedded.block.tea',
    patterns: codeBody(withJinja),
  };
}

function dashBlockRule(keys, withJinja, comment) {
  return {
    comment,
    begin: `^([ ]*)(-)([ ]+)${keys}${HEAD_TAIL}`,
    beginCaptures: { 2: { name: 'punctuation.definition.block.sequence.item.yaml' }, ...shifted(3) },
    while: dashWhile,
    name: 'meta.embedded.block.tea',
    patterns: codeBody(withJinja),
  };
}

function inlineRule(language, lookahead) {
  return {
    begin: `(?:\\G|^)(?<!-)([ ]*)(?:(-)[ ]+)?${KEY_CODE}[ \\t]*(:)[ \\t]+${lookahead}`,
    beginCaptures: {
      2: { name: 'punctuation.definition.block.sequence.item.yaml' },
      3: { name: 'entity.name.tag.yaml' },
      4: { name: 'punctuation.separator.key-value.mapping.yaml' },
    },
    end: '$',
    contentName: `meta.embedded.inline.${language}`,
    patterns:
      language === 'python'
        ? [{ include: '#jinja' }, { include: 'source.python' }]
        : [{ include: 'source.lua' }],
  };
}

// Jinja: `{{ expression }}`, `{% statement %}`, `{# comment #}` anywhere in YAML values.
const JINJA = {
  "jinja": {
    "patterns": [
      {
        "include": "#jinja-comment"
      },
      {
        "include": "#jinja-statement"
      },
      {
        "include": "#jinja-expression"
      }
    ]
  },
  "jinja-comment": {
    "begin": "\\{#",
    "end": "#\\}|$",
    "name": "comment.block.jinja",
    "captures": {
      "0": {
        "name": "punctuation.definition.comment.jinja"
      }
    }
  },
  "jinja-expression": {
    "begin": "\\{\\{-?",
    "beginCaptures": {
      "0": {
        "name": "punctuation.section.embedded.begin.jinja"
      }
    },
    "end": "-?\\}\\}|$",
    "endCaptures": {
      "0": {
        "name": "punctuation.section.embedded.end.jinja"
      }
    },
    "name": "meta.embedded.inline.jinja",
    "contentName": "source.jinja",
    "patterns": [
      {
        "include": "#jinja-inner"
      }
    ]
  },
  "jinja-statement": {
    "begin": "\\{%-?",
    "beginCaptures": {
      "0": {
        "name": "punctuation.section.embedded.begin.jinja"
      }
    },
    "end": "-?%\\}|$",
    "endCaptures": {
      "0": {
        "name": "punctuation.section.embedded.end.jinja"
      }
    },
    "name": "meta.embedded.inline.jinja",
    "contentName": "source.jinja",
    "patterns": [
      {
        "match": "(?<![\\w.])(for|endfor|if|elif|else|endif|set|endset|macro|endmacro|call|endcall|filter|endfilter|with|endwith|block|endblock|raw|endraw|break|continue|do)\\b",
        "name": "keyword.control.jinja"
      },
      {
        "include": "#jinja-inner"
      }
    ]
  },
  "jinja-inner": {
    "patterns": [
      {
        "match": "\\\"(?:[^\\\"\\\\]|\\\\.)*\\\"",
        "name": "string.quoted.double.jinja"
      },
      {
        "match": "'(?:[^'\\\\]|\\\\.)*'",
        "name": "string.quoted.single.jinja"
      },
      {
        "match": "\\b[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\\b",
        "name": "constant.numeric.jinja"
      },
      {
        "match": "\\b(?:true|false|none|True|False|None)\\b",
        "name": "constant.language.jinja"
      },
      {
        "match": "\\b(?:and|or|not|in|is)\\b",
        "name": "keyword.operator.logical.jinja"
      },
      {
        "match": "\\b(?:if|else|recursive)\\b",
        "name": "keyword.control.jinja"
      },
      {
        "match": "(\\|)[ \\t]*([A-Za-z_][A-Za-z0-9_]*)",
        "captures": {
          "1": {
            "name": "keyword.operator.filter.jinja"
          },
          "2": {
            "name": "support.function.filter.jinja"
          }
        }
      },
      {
        "match": "(?<![\\w.])(?:state|variables|result|parallel_results|loop)\\b",
        "name": "variable.language.jinja"
      },
      {
        "match": "(\\.)([A-Za-z_][A-Za-z0-9_]*)",
        "captures": {
          "1": {
            "name": "punctuation.accessor.jinja"
          },
          "2": {
            "name": "variable.other.property.jinja"
          }
        }
      },
      {
        "match": "\\b[A-Za-z_][A-Za-z0-9_]*(?=\\s*\\()",
        "name": "entity.name.function.jinja"
      },
      {
        "match": "\\b[A-Za-z_][A-Za-z0-9_]*\\b",
        "name": "variable.other.jinja"
      },
      {
        "match": "==|!=|<=|>=|<|>|\\*\\*|//|[-+*/%~=]",
        "name": "keyword.operator.jinja"
      },
      {
        "match": "[\\[\\](){},:]",
        "name": "punctuation.jinja"
      }
    ]
  }
};

const grammar = {
  name: 'TEA embedded code and Jinja',
  comment:
    'Generated by scripts/build-grammar.mjs: edit that file. Injected into YAML: Lua or Python in ' +
    'run/script/code/condition values, Jinja in {{ }}, {% %} and {# #}.',
  scopeName: 'tea.injection.lua-jinja',
  injectionSelector:
    'L:source.yaml -comment -meta.embedded.block.tea -meta.embedded.inline.lua ' +
    '-meta.embedded.inline.python -meta.embedded.inline.jinja',
  patterns: [{ include: '#code-block' }, { include: '#code-line' }, { include: '#jinja' }],
  repository: {
    'code-block': {
      comment: 'A block scalar (| or >) under run/script/code, or condition (with Jinja).',
      patterns: [
        blockRule(KEY_CODE, false, 'run: | / script: | / code: | (also after `- `)'),
        blockRule('(condition)', true, 'condition: | (Lua or Python, with Jinja)'),
      ],
    },
    'code-line': {
      comment:
        'A one-line plain scalar under run/script/code, e.g. `run: return {x = 1}`; Python when ' +
        'the line cannot be Lua.',
      patterns: [
        inlineRule('python', `(?=[^\\s|>"'\\[{&*!%@\`#])(?=${PYTHON_FIRST_LINE})`),
        inlineRule('lua', '(?=[^\\s|>"\'\\[{&*!%@`#])'),
      ],
    },
    ...JINJA,
  },
};

// `- run: |` for the textmate YAML grammar (VS Code before its YAML grammar change, and the
// published tm-grammars one), which leaves the `- ` to us. Its own grammar, because VS Code's
// YAML grammar must never see this `^` rule: it would take the `- ` from YAML's sequence rule.
// VS Code's grammar scopes everything `meta.stream.yaml`, the textmate one does not.
const dashGrammar = {
  name: 'TEA embedded code after `- ` (textmate YAML grammar)',
  comment: 'Generated by scripts/build-grammar.mjs: edit that file.',
  scopeName: 'tea.injection.dash',
  injectionSelector:
    'L:source.yaml -meta.stream.yaml -comment -meta.embedded.block.tea ' +
    '-meta.embedded.inline.lua -meta.embedded.inline.python -meta.embedded.inline.jinja',
  patterns: [
    dashBlockRule(KEY_CODE, false, '- run: |'),
    dashBlockRule('(condition)', true, '- condition: |'),
  ],
};

let stale = false;
for (const [file, g] of [[out, grammar], [outDash, dashGrammar]]) {
  const text = JSON.stringify(g, null, 2) + '\n';
  const name = path.relative(process.cwd(), file);
  if (process.argv.includes('--check')) {
    const current = await readFile(file, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(`${name} is out of date: run node scripts/build-grammar.mjs`);
      stale = true;
    }
  } else {
    await writeFile(file, text);
    console.log(`wrote ${name}`);
  }
}
if (stale) process.exit(1);

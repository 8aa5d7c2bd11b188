"""Which language unmarked code is read as: explicit markers, defaults, the file override."""

from __future__ import annotations

from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.config import Config
from tea_lsp.langs.detect import (
    auto_language,
    file_default_language,
    has_lua_marker,
    resolve_language,
)
from tea_lsp.model.build import build_workflow
from tea_lsp.syntax.yaml_tree import parse_yaml


def codes_at(text: str, config: Config | None = None) -> list[tuple[str, int, int]]:
    diags = analyze(dedent(text), "t.yaml", config).diagnostics
    return [
        (d.code, d.span.start_line + 1, d.span.start_col + 1)
        for d in diags
        if d.code.startswith(("TEA3", "TEA7"))
    ]


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("return { x = 1 }", "lua"),
        ("return {}", "lua"),  # both parse: Lua, the format tea-lsp documents
        ('return {"x": state["y"]}', "python"),
        ("x = [i for i in range(3)]", "python"),
        # Jinja is masked before parsing Python (TEA's Python engine renders it first).
        ('n = {{ state.n }}\nreturn {"n": n + 1}', "python"),
        ("{% if state.a %}\nx = 1\n{% endif %}\nreturn {'x': 1}", "python"),
        # Neither parses: the language the code resembles most.
        ("local x = 1\nx += 1\nreturn { x = x }", "lua"),
        ("def f(:\n    return None\nresult = f()", "python"),
        ('results = state["r"][:${n}]\nreturn {"r": results}', "python"),
    ],
)
def test_auto_language(code: str, language: str) -> None:
    assert auto_language(code) == language


def _node(text: str) -> object:
    wf = build_workflow(parse_yaml(dedent(text)).documents[0].root)
    assert wf is not None
    return wf.nodes[0]


@pytest.mark.parametrize(
    ("text", "default", "language"),
    [
        ("nodes:\n  - name: a\n    language: python\n    run: return { x = 1 }\n", "lua", "python"),
        ("nodes:\n  - name: a\n    run: {type: lua, code: 'return {}'}\n", "python", "lua"),
        ("nodes:\n  - name: a\n    language: prolog\n    run: 'x :- y.'\n", "auto", "prolog"),
        ("nodes:\n  - name: a\n    run: return { x = 1 }\n", "python", "python"),
        ("nodes:\n  - name: a\n    run: 'return {\"x\": 1}'\n", "lua", "lua"),
        ("nodes:\n  - name: a\n    run: 'return {\"x\": 1}'\n", "auto", "python"),
    ],
)
def test_explicit_language_wins_then_the_default(text: str, default: str, language: str) -> None:
    node = _node(text)
    assert resolve_language(node, default) == language  # type: ignore[arg-type]


def test_file_default_language_comment() -> None:
    assert file_default_language("# tea-lsp: default-language=python\nnodes: []\n") == "python"
    assert file_default_language("name: x\n  #tea-lsp: default-language: lua\n") == "lua"
    assert file_default_language("# tea-lsp: default-language=ruby\n") is None
    assert file_default_language("run: '# tea-lsp: default-language=lua'\n") is None
    assert file_default_language("nodes: []\n") is None


UNMARKED_LUA = """\
nodes:
  - name: a
    run: |
      return { x = 1 }
"""


def test_file_comment_overrides_the_configuration() -> None:
    # Read as Python, this Lua table is a syntax error.
    assert codes_at("# tea-lsp: default-language=python\n" + UNMARKED_LUA) == [("TEA701", 5, 16)]
    assert codes_at(UNMARKED_LUA, Config(default_language="python")) == [("TEA701", 4, 16)]
    text = "# tea-lsp: default-language=lua\n" + UNMARKED_LUA
    assert codes_at(text, Config(default_language="python")) == []
    assert codes_at(UNMARKED_LUA) == []


def test_no_lua_error_and_no_hint_for_unmarked_python() -> None:
    text = """\
    nodes:
      - name: a
        run: |
          items = [x for x in state.get("items", [])]
          return {"n": len(items)}
      - name: b
        run: |
          return {"ok": True}
      - name: c
        run: return { lua = true }
    """
    diags = analyze(dedent(text), "t.yaml").diagnostics
    [note] = [d for d in diags if d.code.startswith(("TEA3", "TEA7"))]
    assert (note.code, note.severity.label, note.span.start_line, note.span.start_col) == (
        "TEA309",
        "info",
        2,
        4,
    )
    assert note.message == (
        "node 'a' (and 1 more node) has Python code without 'language:': TEA's Python engine "
        "runs it as Python, but its Rust engine runs unmarked code as Lua; add "
        "'language: python'"
    )


def test_engines_note_is_silent_when_the_default_is_chosen() -> None:
    text = "nodes:\n  - name: a\n    run: 'return {\"x\": 1}'\n"
    assert codes_at(text) == [("TEA309", 3, 5)]
    assert codes_at(text, Config(default_language="python")) == []
    assert codes_at("# tea-lsp: default-language=python\n" + text) == []
    # Explicitly marked Python is not noted.
    marked = "nodes:\n  - name: a\n    language: python\n    run: 'return {\"x\": 1}'\n"
    assert codes_at(marked) == []


def test_engines_note_does_not_fail_check() -> None:
    text = "name: w\nnodes:\n  - name: a\n    run: 'return {\"x\": 1}'\n"
    diags = analyze(text, "t.yaml").diagnostics
    assert [(d.code, d.severity.label) for d in diags] == [("TEA309", "info")]


@pytest.mark.parametrize(
    ("code", "marked"),
    [
        ("-- lua\nreturn {}", True),
        ("--lua\nreturn {}", True),
        ("\n  -- lua  \nreturn {}", True),
        ("-- lua tables start at 1\nreturn {}", False),
        ("return {} -- lua", False),
        ("-- Lua\nreturn {}", False),
    ],
)
def test_lua_marker(code: str, marked: bool) -> None:
    assert has_lua_marker(code) is marked


def test_lua_marker_without_language_is_a_warning() -> None:
    text = """\
    nodes:
      - name: a
        run: |
          -- lua
          return { x = 1 }
      - name: b
        run: {code: "--lua\\nreturn {}"}
      - name: c
        language: lua
        run: |
          -- lua
          return {}
    """
    diags = [d for d in analyze(dedent(text), "t.yaml").diagnostics if d.code == "TEA310"]
    assert [
        (d.severity.label, d.span.start_line, d.span.start_col, d.span.end_col) for d in diags
    ] == [
        ("warning", 3, 6, 12),
        ("warning", 6, 16, 34),  # an escaped flow scalar: the whole value
    ]
    assert diags[0].message == (
        "'-- lua' does not make this code Lua under 'tea run': TEA's Python engine runs it as "
        "Python, where this line is an error ('lua' is undefined); add 'language: lua'"
    )

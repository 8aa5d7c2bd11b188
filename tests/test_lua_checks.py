"""The Lua checks (TEA301–TEA308) through ``analyze()``: positions, messages, fixes, flows."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic
from tea_lsp.langs import lua
from tests.conftest import FIXTURES


def lua_diags(text: str, config: Config | None = None) -> list[Diagnostic]:
    diags = analyze(dedent(text), "t.yaml", config).diagnostics
    return [d for d in diags if d.code.startswith("TEA3")]


def lines(text: str, config: Config | None = None) -> list[str]:
    return [
        f"{d.span.start_line + 1}:{d.span.start_col + 1} {d.severity.label}[{d.code}] {d.message}"
        for d in lua_diags(text, config)
    ]


@pytest.mark.parametrize("path", sorted((FIXTURES / "ok").glob("*.yaml")), ids=lambda p: p.stem)
def test_ok_fixtures_have_no_lua_diagnostics(path: Path) -> None:
    diags = analyze(path.read_text(encoding="utf-8"), str(path)).diagnostics
    assert [d for d in diags if d.code.startswith("TEA3")] == []


def test_syntax_error_span_covers_the_token() -> None:
    (d,) = lua_diags(
        """\
        nodes:
          - name: a
            run: |
              return { x = 1 ... }
        """
    )
    assert d.code == "TEA301"
    assert (d.span.start_line, d.span.start_col, d.span.end_line, d.span.end_col) == (3, 21, 3, 24)


def test_whole_value_for_folded_scalars() -> None:
    (d,) = lua_diags(
        """\
        nodes:
          - name: a
            run: >
              local x = 1
              return { x = x x }
        """
    )
    assert (d.span.start_line, d.span.start_col) == (2, 9)
    assert (d.span.end_line, d.span.end_col) == (4, 24)


def test_unmarked_python_is_not_a_lua_error_and_gets_a_language_fix() -> None:
    text = dedent(
        """\
        nodes:
          - name: a
            run: |
              if state["x"]:
                  return {"y": 1}
              return {}
        """
    )
    diags = lua_diags(text)
    assert [d.code for d in diags] == ["TEA309"]
    note = diags[0]
    assert note.message == (
        "node 'a' has Python code without 'language:': TEA's Python engine runs it as Python, "
        "but its Rust engine runs unmarked code as Lua; add 'language: python'"
    )
    assert (note.span.start_line, note.span.start_col) == (2, 4)
    assert note.fix is not None
    (edit,) = note.fix.edits
    assert edit.new_text == "    language: python\n"
    fixed = _apply(text, edit.span.start_line, edit.span.start_col, edit.new_text)
    assert "    language: python\n    run: |\n" in fixed
    assert lua_diags(fixed) == []


def test_language_fix_when_run_is_on_the_dash_line() -> None:
    text = dedent(
        """\
        nodes:
          - run: |
              def f(): pass
            name: a
        """
    )
    note = next(d for d in lua_diags(text) if d.code == "TEA309")
    assert note.fix is not None
    (edit,) = note.fix.edits
    assert (edit.span.start_line, edit.new_text) == (3, "    language: python\n")


def test_python_hint_only_for_code_marked_as_lua() -> None:
    assert lines("nodes:\n  - name: a\n    language: lua\n    run: x += 1\n") == [
        "4:12 error[TEA301] lua syntax error: syntax error near '+'; Lua has no '+=': write "
        "'x = x + 1'"
    ]
    text = "nodes:\n  - name: a\n    language: lua\n    run: 'return {\"a\": [1]}'\n"
    diags = lua_diags(text)
    assert [d.code for d in diags] == ["TEA307", "TEA301"]
    hint = diags[0]
    assert hint.message == (
        "code marked as 'lua' does not compile as Lua but parses as Python; did you mean 'python'?"
    )
    assert (hint.span.start_line, hint.span.start_col, hint.span.end_col) == (2, 14, 17)
    assert hint.fix is not None
    (edit,) = hint.fix.edits
    assert (edit.span, edit.new_text) == (hint.span, "python")
    flow = "nodes:\n  - {name: a, run: {type: lua, code: 'return {\"a\": [1]}'}}\n"
    hint = next(d for d in lua_diags(flow) if d.code == "TEA307")
    assert (hint.span.start_line, hint.span.start_col) == (1, 26)


def _apply(text: str, line: int, col: int, new: str) -> str:
    rows = text.splitlines(keepends=True)
    rows[line] = rows[line][:col] + new + rows[line][col:]
    return "".join(rows)


@pytest.mark.parametrize("language", ["python", "prolog"])
def test_other_languages_are_not_compiled(language: str) -> None:
    text = f"""\
    nodes:
      - name: a
        language: {language}
        run: |
          this is not lua at all {{
    """
    assert lua_diags(text) == []


def test_snippet_size_bound() -> None:
    text = """\
    nodes:
      - name: a
        run: |
          return { x = 1 }
          -- padding padding padding
    """
    assert lines(text, Config(max_snippet_bytes=20)) == [
        "3:10 error[TEA308] lua snippet is 44 bytes, over the checking limit of 20 bytes; "
        "it was not checked"
    ]


@pytest.mark.parametrize(
    "code",
    [
        '"x = \\0 1"',  # a NUL byte through a YAML escape
        "|\n      local s = [==[ unbalanced ]=]",
        '"local x = ' + "(" * 3000 + '"',  # unmarked junk that reads as Lua
        "|\n      " + "local t = " + "{" * 500 + "}" * 500,
    ],
)
def test_bad_input_gives_a_diagnostic(code: str) -> None:
    diags = lua_diags(f"nodes:\n  - name: a\n    run: {code}\n")
    assert [d.code for d in diags] == ["TEA301"]


def test_main_flow_order_and_loops() -> None:
    text = """\
    nodes:
      - name: first
        run: return { n = (state.n or 0) + 1, v = later_value }
        goto:
          - {if: "state.n > 3", to: __end__}
          - to: second
      - name: second
        run: |
          later_value = 1
          return {}
        goto: first
    """
    # 'second' loops back to 'first', so it can run before it: defined.
    assert lines(text) == []


def test_global_from_a_sub_step_of_the_same_node() -> None:
    text = """\
    nodes:
      - name: outer
        steps:
          - name: s1
            run: helper = function(x) return x + 1 end
          - name: s2
            run: return { n = helper(1) }
    """
    assert lines(text) == []


def test_dynamic_parallel_item_vars_are_state_keys() -> None:
    text = """\
    state_schema: {docs: list, out: int}
    nodes:
      - name: fan
        type: dynamic_parallel
        items: "{{ state.docs }}"
        item_var: doc
        fan_in: join
        steps:
          - name: one
            run: "return { out = #state.doc.text + state.index }"
      - name: join
        fan_in: true
        run: "return { out = #state.parallel_results + state.missing_key }"
    """
    assert lines(text) == [
        "13:58 warning[TEA305] state key 'missing_key' is not declared and no node provides it"
    ]


def test_yaml_comment_cutting_a_plain_scalar() -> None:
    text = """\
    nodes:
      - name: a
        run: return { n = #state.items }
    """
    assert lines(text) == [
        "3:22 error[TEA301] lua syntax error: unexpected symbol near <eof>; ' #' starts a YAML "
        "comment in a plain scalar, so the code stops there: quote it or use a block scalar ('|')"
    ]


def test_no_schema_no_state_key_warnings() -> None:
    assert lines("nodes:\n  - name: a\n    run: return { x = state.anything }\n") == []


def test_reanalysis_recompiles_only_the_edited_snippet() -> None:
    nodes = "".join(
        f"  - name: n{i}\n    run: |\n      local v{i} = state.x or {i}\n"
        f"      return {{ x = v{i} }}\n"
        for i in range(30)
    )
    text = "nodes:\n" + nodes
    analyze(text, "t.yaml")
    before = lua.compile_check.cache_info()
    edited = text.replace("local v7 = state.x or 7", "local v7 = state.x or 8")
    analyze(edited, "t.yaml")
    after = lua.compile_check.cache_info()
    assert after.misses - before.misses == 1


def test_undefined_global_carries_a_did_you_mean_fix() -> None:
    from tea_lsp.analysis import analyze
    from tea_lsp.diagnostics import Fix, Span, TextEdit

    text = "name: x\nnodes:\n  - name: start\n    run: |\n      return { n = stat.count }\n"
    [d] = analyze(text, "t.yaml").diagnostics
    assert (d.code, d.message) == ("TEA302", "undefined global 'stat'; did you mean 'state'?")
    assert d.fix == Fix("Replace 'stat' with 'state'", (TextEdit(Span(4, 19, 4, 23), "state"),))


def test_state_key_typo_is_caught_without_a_schema() -> None:
    """Without `state_schema`, a read close to a key set earlier is a typo; other keys may come
    from the run's input, and nothing is said after a node that could set any key."""
    text = """\
    initial_state: {count: 0}
    nodes:
      - name: bump
        run: return { total = state.count + 1 }
      - name: show
        run: return { text = state.totl .. state.from_input }
    """
    assert lines(text) == [
        "6:32 warning[TEA305] state key 'totl' is not declared and no node provides it; "
        "did you mean 'total'?"
    ]
    opaque = text.replace("  - name: show", "  - name: call\n    uses: web.search\n  - name: show")
    assert lines(opaque) == []

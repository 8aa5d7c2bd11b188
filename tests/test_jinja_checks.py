"""Template checks (TEA401–TEA404) through ``analyze()``: roles, positions, limits."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.checks.jinja_templates import _has_all, _template_snippets
from tea_lsp.checks.lua_common import lua_returned_keys
from tea_lsp.config import Config
from tea_lsp.langs.jinja import KeyScope, check_template, needed_keys
from tests.conftest import FIXTURES

PATH = "t.yaml"


def lines(text: str, config: Config | None = None) -> list[str]:
    analysis = analyze(dedent(text), PATH, config)
    return [
        f"{PATH}:{d.span.start_line + 1}:{d.span.start_col + 1}: "
        f"{d.severity.label}[{d.code}] {d.message}"
        for d in analysis.diagnostics
        if d.code.startswith("TEA4")
    ]


def test_result_is_known_in_outputs_and_conditions_only() -> None:
    text = """\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with: {data:  "{{ result }}"}
            output:
              x: "{{ result }}"
            goto:
              - if: result
                to: loop
              - to: loop
          - name: loop
            type: while_loop
            max_iterations: 2
            condition: result.ok
            body:
              - name: wait
                uses: time.sleep
                with: {seconds: 0}
          - name: b
            uses: json.stringify
            with: {data:  1}
        edges:
          - {from: b, to: __end__, condition: "{{ result }}"}
        """
    assert lines(text) == [
        f"{PATH}:5:23: error[TEA403] undefined name 'result' in template; "
        "'result' is only defined in 'output' and in conditions",
        f"{PATH}:15:16: error[TEA403] undefined name 'result' in template; "
        "'result' is only defined in 'output' and in conditions",
    ]


def test_dynamic_parallel_names() -> None:
    text = """\
        name: t
        nodes:
          - name: each
            type: dynamic_parallel
            items: "{{ item }}"
            item_var: it
            index_var: ix
            steps:
              - name: one
                uses: json.stringify
                with: {data:  "{{ it }} {{ ix }} {{ index }}"}
            fan_in: join
          - name: join
            uses: json.stringify
            with: {data:  "{{ parallel_results }} {{ it }}"}
        """
    assert lines(text) == [
        f"{PATH}:5:16: error[TEA403] undefined name 'item' in template",
        f"{PATH}:11:45: error[TEA403] undefined name 'index' in template",
        f"{PATH}:15:46: error[TEA403] undefined name 'it' in template",
    ]


def test_edge_conditions_from_a_fan_in_see_parallel_results() -> None:
    text = """\
        name: t
        nodes:
          - name: s
            uses: time.sleep
            with: {seconds: 0}
          - name: a
            uses: time.sleep
            with: {seconds: 0}
          - name: b
            uses: time.sleep
            with: {seconds: 0}
          - name: j
            fan_in: true
            uses: time.sleep
            with: {seconds: 0}
          - name: k
            uses: time.sleep
            with: {seconds: 0}
        edges:
          - {from: s, parallel: [a, b]}
          - {from: a, to: j}
          - {from: b, to: j}
          - {from: j, to: k, when: "parallel_results | length == 2"}
          - {from: s, to: k, condition: "parallel_results | length > 0"}
          - {from: k, to: __end__}
        """
    assert lines(text) == [
        f"{PATH}:24:34: error[TEA403] undefined name 'parallel_results' in template; "
        "'parallel_results' is only defined in a fan-in node",
    ]


def test_no_state_schema_no_state_key_warnings() -> None:
    text = """\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with: {data:  "{{ state.anything }}"}
        """
    assert lines(text) == []


def test_state_keys_from_every_provider() -> None:
    text = """\
        name: t
        state_schema: {declared: int}
        initial_state: {initial: 1}
        input_schema:
          properties: {from_input: {type: string}}
        nodes:
          - name: lua_table
            run: |
              return { from_lua = 1, ["quoted"] = 2 }
          - name: lua_var
            run: |
              local out = { built = 1 }
              out.later = 2
              return out
          - name: expr
            run: {type: expression, value: "1", output_key: from_expr}
          - name: act
            uses: json.stringify
            with:
              data:  >-
                {{ state.declared }} {{ state.initial }} {{ state.from_input }}
                {{ state.from_lua }} {{ state.quoted }} {{ state.built }} {{ state.later }}
                {{ state.from_expr }}
            output: from_output
          - name: act2
            uses: json.stringify
            with: {data:  1}
            output:
              mapped: "{{ state.from_output }} {{ state.nowhere }}"
          - name: act3
            uses: json.stringify
            with: {value: "{{ state.mapped }}"}
          - name: py
            language: python
            run: |
              return {"from_py": 1}
        """
    assert lines(text) == [
        f"{PATH}:29:49: warning[TEA404] state key 'nowhere' is not declared and no node "
        "provides it",
    ]


def test_too_large_template_is_a_warning_not_a_hang() -> None:
    big = "{{ state.x }}" * 200
    text = f"""\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with:
              data:  "{big}"
        """
    assert lines(text, Config(max_snippet_bytes=1000)) == [
        f"{PATH}:6:14: warning[TEA401] template is too large to check: 2600 bytes, "
        "the limit is 1000",
    ]
    assert lines(text) == []


def test_too_many_tokens_is_a_warning() -> None:
    chain = "a." * 30000
    text = f"""\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with:
              data:  "{{{{ {chain}b }}}}"
        """
    assert lines(text) == [
        f"{PATH}:6:15: warning[TEA401] template is too large to check: more than 50000 tokens",
    ]


def test_nul_and_deep_nesting_in_yaml_give_diagnostics() -> None:
    deep = "(" * 3000 + "1" + ")" * 3000
    text = f"""\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with:
              data:  "{{{{ {deep} }}}}"
              other: "\\0{{{{ state.x \\0 }}}}"
        """
    assert lines(text) == [
        f"{PATH}:6:15: error[TEA401] template is nested too deeply to check",
        f"{PATH}:7:14: error[TEA401] template syntax error: unexpected char '\\x00'",
    ]


def test_select_and_ignore_apply() -> None:
    text = """\
        name: t
        nodes:
          - name: a
            uses: json.stringify
            with: {data:  "{{ stat | uper }}"}
        """
    assert len(lines(text)) == 2
    assert lines(text, Config(ignore=frozenset({"TEA403"}))) == [
        f"{PATH}:5:30: error[TEA402] unknown filter 'uper' in template; did you mean 'upper'?"
    ]


def test_lua_returned_keys() -> None:
    assert lua_returned_keys('return { a = 1, b = { c = 2 }, ["d"] = "x = y", e = f(g = 1) }') == {
        "a",
        "b",
        "d",
        "e",
    }
    code = 'local out = { x = 1 }\nout.y = 2\nout["z"] = 3\nreturn out'
    assert lua_returned_keys(code) == {"x", "y", "z", "result"}
    code = "if a then return nil end\nreturn {\n  -- c = 1\n  n = 1,\n  s = [[ q = 1 ]],\n}"
    assert lua_returned_keys(code) == {"n", "s"}
    assert lua_returned_keys("return 5") == {"result"}
    assert lua_returned_keys("local t = {}") == set()


def test_keys_returned_by_lua_nodes_count_as_provided() -> None:
    text = """\
        name: keys
        state_schema: {declared: int}
        nodes:
          - name: a
            run: return { a = 1, b = { c = 2 }, ["d"] = "x = y" }
          - name: b
            run: return 5
          - name: c
            uses: json.stringify
            with: {data:  "{{ [state.a, state.d, state.result, state.declared, state.c] }}"}
        """
    assert lines(text) == [
        f"{PATH}:10:78: warning[TEA404] state key 'c' is not declared and no node provides it"
    ]


@pytest.mark.parametrize("path", sorted((FIXTURES).glob("*/*.yaml")), ids=lambda p: p.stem)
def test_template_snippets_are_the_model_templates_in_order(path: Path) -> None:
    """The check's own pick of template snippets is ``wf.snippets()`` filtered, in order."""
    text = path.read_bytes().decode("utf-8", "replace")
    for wf in analyze(text, str(path)).workflows:
        if wf is None:
            continue
        expected = [s for s in wf.snippets() if s.kind == "jinja" or s.role == "expression"]
        picked = _template_snippets(wf)
        assert len(picked) == len(expected)
        assert all(a is b for a, b in zip(picked, expected, strict=True))


_TEMPLATES = (
    "{{ state.a }}",
    "{{ state.a }} and {{ state.b | default(1) }}",
    "{% if state.b is defined %}{{ state.b }}{% endif %}{{ variables.v }}",
    "{{ state.a | nosuchfilter }}",
    "{{ nope }}",
    "{{ result.x }}",
    "{{ state.a",
    "{{ variables.v }}{{ variables.w | default('') }}",
    "{% for x in state.items_ %}{{ x }}{% endfor %}",
)
_CONDITIONS = ("a", "!b", "state.a and not state.c", "true", "state.a ==")


@pytest.mark.parametrize(
    ("text", "condition"),
    [(t, False) for t in _TEMPLATES] + [(c, True) for c in _CONDITIONS],
)
@pytest.mark.parametrize("state", [None, frozenset(), frozenset({"a"}), frozenset({"a", "b"})])
@pytest.mark.parametrize("variables", [None, frozenset(), frozenset({"v"})])
@pytest.mark.parametrize("names", [frozenset({"state", "variables"}), frozenset({"result"})])
def test_needed_keys_tell_when_a_template_is_clean(
    text: str,
    condition: bool,
    state: frozenset[str] | None,
    variables: frozenset[str] | None,
    names: frozenset[str],
) -> None:
    """The shortcut agrees with the full check: no problem exactly when the keys it needs are
    there (and ``None`` whenever some other problem is found)."""
    expression = condition
    problems = check_template(
        text,
        expression=expression,
        known_names=names,
        condition=condition,
        keys=KeyScope(state, variables=variables),
    )
    needs = needed_keys(text, expression=expression, known_names=names, condition=condition)
    clean = needs is not None and _has_all(needs, state, variables, names)
    assert clean == (problems == [])

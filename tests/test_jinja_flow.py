"""Template context and state-key flow: TEA's names, the condition shorthand at run time and in
the checker, flow-aware state keys (quiet below opaque nodes), ``variables.X`` and
``parallel_results`` typos, and a template bomb in a real run."""

from __future__ import annotations

import textwrap
import time

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.state_flow import code_state_key_problem, state_keys_at, variable_problem
from tea_lsp.config import Config
from tea_lsp.engine import RunOptions, run_workflow
from tea_lsp.model.build import build_workflow
from tea_lsp.syntax.yaml_tree import YMap, parse_yaml


def diags(
    text: str, codes: tuple[str, ...] = ("TEA403", "TEA404", "TEA405")
) -> list[tuple[str, int, int, str]]:
    a = analyze(textwrap.dedent(text), "wf.yaml")
    return [
        (d.code, d.span.start_line + 1, d.span.start_col + 1, d.message)
        for d in a.diagnostics
        if d.code in codes
    ]


def run(text: str, **input_: object) -> dict[str, object]:
    result = run_workflow(
        textwrap.dedent(text), input=input_ or None, options=RunOptions(strategy="thread")
    )
    assert result.ok, (result.error, result.diagnostics)
    assert result.state is not None
    return dict(result.state)


SHORTHAND = """
    name: shorthand
    nodes:
      - name: a
        run: |
          return { seen = "a" }
      - name: on_yes
        run: |
          return { went = "yes" }
      - name: on_no
        run: |
          return { went = "no" }
    edges:
      - {from: __start__, to: a}
      - {from: a, to: on_yes, when: "flag"}
      - {from: a, to: on_no, when: "!flag"}
      - {from: on_yes, to: __end__}
      - {from: on_no, to: __end__}
"""


def test_when_shorthand_reads_the_state_key_at_run_time() -> None:
    assert run(SHORTHAND, flag=True)["went"] == "yes"
    assert run(SHORTHAND, flag=False)["went"] == "no"
    assert run(SHORTHAND)["went"] == "no"  # a missing key is false


def test_a_missing_key_in_a_template_reads_as_none_at_run_time() -> None:
    state = run(
        """
        name: missing
        nodes:
          - name: a
            run:
              type: expression
              value: "{{ 'n=' ~ state.nope }}"
              output_key: text
          - name: b
            run:
              type: expression
              value: "{{ state.nope }}"
              output_key: value
        """
    )
    assert state["text"] == "n=None"
    assert state["value"] is None


def test_upstream_context_names_are_known() -> None:
    assert diags(
        """
        name: ctx
        nodes:
          - name: a
            run:
              type: expression
              value: "{{ [secrets.k, settings.x, data.p, env.HOME, checkpoint.dir, sekrets] }}"
              output_key: out
        """
    ) == [("TEA403", 7, 76, "undefined name 'sekrets' in template; did you mean 'secrets'?")]


def test_keys_set_by_python_or_actions_without_output_are_quiet() -> None:
    assert (
        diags(
            """
        name: opaque
        state_schema: {x: int}
        nodes:
          - name: py
            language: python
            run: |
              out = compute()
              return out
          - name: act
            uses: http.get
            with: {url: "http://localhost/"}
          - name: read
            run:
              type: expression
              value: "{{ state.anything }}"
              output_key: out
        """
        )
        == []
    )


def test_keys_set_only_later_are_read_before_they_are_set() -> None:
    assert diags(
        """
        name: before-opaque
        state_schema: {x: int}
        nodes:
          - name: read
            run:
              type: expression
              value: "{{ state.y }}"
              output_key: out
          - name: py
            language: python
            run: |
              return {"y": 1}
        """
    ) == [
        (
            "TEA404",
            8,
            24,
            "state key 'y' is read before it is set: no path to this template passes through "
            "'py', which sets it",
        )
    ]


def test_keys_set_on_a_cycle_count_everywhere_on_it() -> None:
    assert (
        diags(
            """
        name: cycle
        input_schema: {type: object, properties: {n: {type: integer}}}
        nodes:
          - name: read
            run:
              type: expression
              value: "{{ state.total | default(0) }} {{ state.last }}"
              output_key: out
          - name: write
            run: |
              return { last = 1 }
            goto:
              - if: state.n > 3
                to: read
              - to: __end__
        """
        )
        == []
    )


def test_condition_shorthand_typo_in_the_checker() -> None:
    assert diags(
        """
        name: typo
        initial_state: {ready: false}
        nodes:
          - name: a
            run: |
              return { x = 1 }
            goto:
              - if: "!redy"
                to: __end__
              - if: ready
                to: __end__
              - to: __end__
        """
    ) == [
        (
            "TEA404",
            9,
            15,
            "state key 'redy' is not declared and no node provides it; did you mean 'ready'?",
        )
    ]


def test_variables_without_a_section_are_not_checked() -> None:
    assert (
        diags(
            """
        name: overlay
        nodes:
          - name: a
            run:
              type: expression
              value: "{{ variables.api_url }}"
              output_key: out
        """
        )
        == []
    )


def test_python_writing_variables_turns_the_check_off() -> None:
    assert (
        diags(
            """
        name: py-vars
        variables: {a: 1}
        nodes:
          - name: set
            language: python
            run: |
              variables["b"] = 2
          - name: read
            run:
              type: expression
              value: "{{ variables.b }}"
              output_key: out
        """
        )
        == []
    )


@pytest.mark.timeout(60)
def test_a_template_bomb_in_a_run_is_a_clean_tea608_error() -> None:
    t0 = time.monotonic()
    result = run_workflow(
        textwrap.dedent(
            """
            name: bomb
            nodes:
              - name: a
                run:
                  type: expression
                  value: "{{ 'x' | center(3000000000) }}"
                  output_key: out
            """
        ),
        options=RunOptions(strategy="thread"),
    )
    assert not result.ok
    d = result.error_diagnostic
    assert d is not None
    assert (d.code, d.message) == (
        "TEA608",
        "node 'a': template error: the result of 'center' is too large: 3000000003 characters "
        "or items, the limit is 10000000",
    )
    assert time.monotonic() - t0 < 30


def test_python_nodes_provide_the_keys_they_write_literally() -> None:
    assert diags(
        """
        name: py-literal
        state_schema: {x: int}
        nodes:
          - name: py
            language: python
            run: |
              state["assigned"] = 1
              state.update({"updated": 2})
              return {"returned": 3}
          - name: read
            run:
              type: expression
              value: "{{ [state.assigned, state.updated, state.returned, state.retruned] }}"
              output_key: out
        """
    ) == [
        (
            "TEA404",
            14,
            72,
            "state key 'retruned' is not declared and no node provides it; "
            "did you mean 'returned'?",
        )
    ]


@pytest.mark.parametrize(
    "code",
    [
        "out = {}\nreturn out",
        "return {**state, 'a': 1}",
        "for k in ks:\n    state[k] = 1",
        "helper(state)",
        "exec('x')",
    ],
)
def test_python_nodes_whose_keys_are_unknown_are_opaque(code: str) -> None:
    body = textwrap.indent(code, " " * 14)
    assert (
        diags(
            f"""
        name: py-opaque
        state_schema: {{x: int}}
        nodes:
          - name: py
            language: python
            run: |
{body}
          - name: read
            run:
              type: expression
              value: "{{{{ state.anything }}}}"
              output_key: out
        """
        )
        == []
    )


def _ctx(text: str) -> CheckContext:
    text = textwrap.dedent(text)
    parsed = parse_yaml(text)
    doc = parsed.documents[0]
    assert isinstance(doc.root, YMap)
    return CheckContext(text, "wf.yaml", parsed.lines, doc, build_workflow(doc.root), Config())


def test_code_state_key_problem_for_code_checks() -> None:
    ctx = _ctx(
        """
        name: lua-flow
        input_schema: {properties: {q: {type: string}}}
        nodes:
          - name: first
            run: |
              return { a = state.q .. state.b }
          - name: second
            run: |
              return { b = state.a }
        """
    )
    wf = ctx.workflow
    assert wf is not None
    first, second = wf.by_name["first"], wf.by_name["second"]
    assert code_state_key_problem(ctx, first, "q") is None
    assert code_state_key_problem(ctx, first, "b") == (
        "state key 'b' is read before it is set: no path to this node passes through "
        "'second', which sets it"
    )
    assert code_state_key_problem(ctx, second, "a") is None
    assert code_state_key_problem(ctx, second, "qq") == (
        "state key 'qq' is not declared and no node provides it; did you mean 'q'?"
    )
    assert state_keys_at(ctx, second) == frozenset({"q", "a"})
    assert variable_problem(ctx, "x") is None  # no 'variables' in the file

"""TEA215–TEA218 and the reachability of nodes named by actions: where they speak and where
they stay quiet because they cannot know."""

from __future__ import annotations

from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze


def found(text: str, *codes: str) -> list[str]:
    return [
        f"{d.span.start_line + 1}:{d.span.start_col + 1} {d.code}"
        for d in analyze(dedent(text), "t.yaml").diagnostics
        if d.code in codes
    ]


def test_plain_list_target_is_reported_too() -> None:
    text = """\
        name: w
        nodes:
          - name: a
            run: return {}
          - name: b
            run: return {}
        edges:
          - {from: a, to: [b]}
        """
    assert found(text, "TEA215") == ["8:19 TEA215"]


def test_loop_without_exit_quiet_when_a_handler_or_a_dead_end_may_lead_out() -> None:
    handler = """\
        name: w
        nodes:
          - name: a
            run: return {}
            on_error: {fallback: b}
            goto: a
          - name: b
            run: return {}
        """
    assert found(handler, "TEA218") == []
    dead_end = """\
        name: w
        nodes:
          - name: a
            run: return {}
        edges:
          - {from: a, to: {x: 1}}
        """
    assert found(dead_end, "TEA218") == []


def test_loop_reported_once_where_control_enters_it() -> None:
    text = """\
        name: w
        nodes:
          - name: start
            run: return {}
          - name: a
            run: return {}
          - name: b
            run: return {}
            goto: a
        """
    [d] = [d for d in analyze(dedent(text), "t.yaml").diagnostics if d.code == "TEA218"]
    assert (d.span.start_line, d.message) == (
        2,
        "no route from node 'start' leads to '__end__': once the run reaches it, it loops "
        "through 'a', 'b' forever; add a 'goto' rule or an edge to '__end__'",
    )
    assert [r.message for r in d.related] == ["'a' is in the loop", "'b' is in the loop"]


def test_node_named_by_a_template_in_correct_silences_reachability() -> None:
    text = """\
        name: w
        nodes:
          - name: check
            uses: retry.loop
            with:
              validate: validate.extraction
              correct: "{{ state.fixer }}"
            goto: __end__
          - name: fix_a
            run: return {}
        """
    assert found(text, "TEA204", "TEA201") == []
    literal = text.replace('"{{ state.fixer }}"', "fix_a").replace("fix_a\n    run", "x")
    assert found(literal, "TEA204", "TEA201") == []
    unreached = text.replace('"{{ state.fixer }}"', "check")
    assert found(unreached, "TEA204", "TEA201") == ["9:11 TEA204"]


def test_a_node_run_by_an_action_is_one_call_not_a_route() -> None:
    text = """\
        name: w
        nodes:
          - name: check
            uses: retry.loop
            with:
              validate: validate.extraction
              correct: fix
            goto: __end__
          - name: fix
            run: return {}
          - name: after_fix
            run: return {}
        """
    # retry.loop runs 'fix' by itself; nothing routes to 'after_fix'.
    assert found(text, "TEA204", "TEA201") == ["11:11 TEA204"]


@pytest.mark.timeout(20)
def test_a_loop_of_20000_nodes_is_found_in_linear_time() -> None:
    # which nodes are on the loop was once asked node by node (quadratic: ~260 s here)
    n = 20_000
    parts = ["name: w\nnodes:\n  - {name: start, run: 'return {}'}\n"]
    parts += [f"  - {{name: n{i}, run: 'return {{}}', goto: n{(i + 1) % n}}}\n" for i in range(n)]
    [d] = [d for d in analyze("".join(parts), "t.yaml").diagnostics if d.code == "TEA218"]
    assert (d.span.start_line, d.span.start_col, d.message) == (
        2,
        11,
        "no route from node 'start' leads to '__end__': once the run reaches it, it loops "
        f"through 'n0', 'n1', 'n2', 'n3', 'n4' and {n - 5} more forever; add a 'goto' rule or "
        "an edge to '__end__'",
    )
    assert [r.message for r in d.related] == [f"'n{i}' is in the loop" for i in range(5)]

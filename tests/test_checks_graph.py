"""Graph checks (TEA201–TEA213) and the model/routing facts they rely on."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.diagnostics import Diagnostic, Related, Span
from tea_lsp.model.build import build_workflow
from tea_lsp.model.routing import common_successor, reachable
from tea_lsp.model.workflow import END, START, Workflow
from tea_lsp.syntax.yaml_tree import parse_yaml
from tests.conftest import FIXTURES

OWN = ("TEA1", "TEA2")


def graph_diags(text: str) -> list[Diagnostic]:
    # TEA215 (a list 'to', which TEA cannot load) is left to tests/test_graph_traps.py: these
    # tests use the list spelling for the fan-outs tea-lsp runs.
    found = analyze(dedent(text), "t.yaml").diagnostics
    return [d for d in found if d.code.startswith("TEA2") and d.code != "TEA215"]


def lines(text: str) -> list[str]:
    return [
        f"{d.span.start_line + 1}:{d.span.start_col + 1} {d.code} {d.message}"
        for d in graph_diags(text)
    ]


def codes(text: str) -> list[str]:
    return [d.code for d in graph_diags(text)]


def workflow(text: str) -> Workflow:
    wf = build_workflow(parse_yaml(dedent(text)).documents[0].root)
    assert wf is not None
    return wf


@pytest.mark.parametrize("path", sorted((FIXTURES / "ok").glob("*.yaml")), ids=lambda p: p.stem)
def test_ok_fixtures_have_no_schema_or_graph_diagnostics(path: Path) -> None:
    found = analyze(path.read_text(encoding="utf-8"), str(path)).diagnostics
    assert [d for d in found if d.code.startswith(OWN)] == []


# ---- TEA201
def test_unknown_names_in_every_role() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - name: start
            goto:
              - {if: state.x, to: finsh}
              - to: __end__
          - name: finish
          - name: dp
            type: dynamic_parallel
            items: "{{ state.xs }}"
            fan_in: colect
            steps:
              - name: one
          - name: collect
            fan_in: true
        edges:
          - {from: strat, to: finish}
          - {from: finish, parallel: [dp, colect]}
          - {from: finish, condition: "{{ state.ok }}", targets: {"true": dp, "false": nowhere}}
        """
    ) == [
        "5:27 TEA201 unknown node 'finsh' in 'goto'; did you mean 'finish'?",
        "11:13 TEA201 unknown node 'colect' in 'fan_in'; did you mean 'collect'?",
        "17:12 TEA201 unknown node 'strat' in 'from'; did you mean 'start'?",
        "18:35 TEA201 unknown node 'colect' in 'parallel'; did you mean 'collect'?",
        "19:80 TEA201 unknown node 'nowhere' in 'targets'; expected 'start', 'finish', 'dp', "
        "'collect' or '__end__'",
    ]


def test_virtual_nodes_only_where_they_belong() -> None:
    text = """\
        name: w
        nodes:
          - name: a
            goto: __start__
          - name: b
        edges:
          - {from: __start__, to: a}
          - {from: b, to: __end__}
          - {from: __end__, to: a}
          - {from: a, to: [b], parallel: true, fan_in: __end__}
        """
    assert [x for x in lines(text) if "TEA201" in x] == [
        "4:11 TEA201 '__start__' is the virtual entry and cannot be used in 'goto'",
        "9:12 TEA201 '__end__' is the virtual exit and cannot be used in 'from'",
        "10:48 TEA201 '__end__' is the virtual exit and cannot be used in 'fan_in'",
    ]


# ---- TEA202 / TEA203
def test_duplicate_points_at_the_first_definition() -> None:
    (d,) = graph_diags("name: w\nnodes:\n  - name: a\n  - name: b\n  - name: a\n")
    assert (d.code, d.span) == ("TEA202", Span(4, 10, 4, 11))
    assert d.related == (Related(Span(2, 10, 2, 11), "'a' first defined here"),)


def test_duplicates_inside_steps_and_reserved_sub_node_names() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - name: a
            steps:
              - name: s
              - name: s
              - name: __end__
        """
    ) == [
        "6:15 TEA202 duplicate node name 's'; node names must be unique",
        "7:15 TEA203 node name '__end__' is reserved for the virtual exit; choose another name",
    ]


# ---- TEA204
def test_unreachable_follows_goto_edges_fan_outs_and_fallbacks() -> None:
    text = """\
        name: w
        nodes:
          - name: a
            fallback: rescue
            goto: b
          - name: dead
          - name: b
          - name: c
          - name: j
            fan_in: true
            goto: __end__
          - name: rescue
            goto: __end__
          - name: after_end
        edges:
          - {from: b, to: [c], type: parallel, fan_in: j}
        """
    assert lines(text) == [
        "6:11 TEA204 node 'dead' is never reached from the entry node 'a'; no 'goto', edge or "
        "list order leads to it",
        "14:11 TEA204 node 'after_end' is never reached from the entry node 'a'; no 'goto', "
        "edge or list order leads to it",
    ]


def test_unreachable_is_quiet_while_a_reference_is_broken() -> None:
    assert codes("name: w\nnodes:\n  - name: a\n    goto: finsh\n  - name: finish\n") == ["TEA201"]


def test_entry_edge_type_sets_the_entry() -> None:
    text = """\
        name: w
        nodes:
          - name: first
            goto: __end__
          - name: real
        edges:
          - {type: entry, to: real}
          - {from: real, type: finish}
        """
    wf = workflow(text)
    assert wf.entry() == "real"
    assert [t.name for t in wf.edges[1].targets] == [END]
    assert wf.edges[0].source is not None and wf.edges[0].source.name == START
    assert lines(text) == [
        "3:11 TEA204 node 'first' is never reached from the entry node 'real'; no 'goto', "
        "edge or list order leads to it"
    ]


# ---- TEA205
def test_single_target_parallel_flag() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
        edges:
          - {from: s, to: [a], parallel: true, fan_in: a}
        """
    assert codes(text) == ["TEA205"]


# ---- TEA206 / TEA207 / TEA213
def test_branch_checked_against_its_own_edge_fan_in() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
            goto: j1
          - name: b
            goto: __end__
          - name: j1
            fan_in: true
            goto: __end__
          - name: j2
            fan_in: true
        edges:
          - {from: s, to: a, type: parallel, fan_in: j1}
          - {from: s, to: b, type: parallel, fan_in: j2}
        """
    wf = workflow(text)
    assert [r.name for r in wf.fan_outs[0].declared_fan_ins()] == ["j1", "j2"]
    assert lines(text) == [
        "15:19 TEA206 branch 'b' of the fan-out from 's' never reaches its fan-in 'j2'; every "
        "branch must route to the fan-in",
        "15:46 TEA207 branches of the fan-out from 's' join at different nodes, 'j1' and 'j2'; "
        "a fan-out has exactly one fan-in",
    ]
    (d207,) = [d for d in graph_diags(text) if d.code == "TEA207"]
    assert d207.related == (Related(Span(13, 45, 13, 47), "fan-in 'j1' here"),)


def test_per_edge_spelling_without_fan_in_on_each_edge() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
          - name: b
        edges:
          - {from: s, to: a, type: parallel}
          - {from: s, to: b, type: parallel}
        """
    assert lines(text) == [
        "7:22 TEA213 parallel edge from 's' to 'a' has no 'fan_in'; name the node where the "
        "branches join",
        "8:22 TEA213 parallel edge from 's' to 'b' has no 'fan_in'; name the node where the "
        "branches join",
    ]


# ---- TEA208 and the common successor
def test_common_successor_survives_a_loop_after_the_join() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
            goto: join
          - name: b
            goto: join
          - name: join
            fan_in: true
          - name: review
            goto:
              - {if: state.again, to: join}
              - to: __end__
        edges:
          - {from: s, parallel: [a, b]}
        """
    wf = workflow(text)
    assert common_successor(wf, ["a", "b"]) == "join"
    fo = wf.fan_outs[0]
    assert fo.fan_in is not None and fo.fan_in.name == "join" and not fo.fan_in_explicit
    assert codes(text) == []


def test_parallel_list_with_an_explicit_fan_in() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
            goto: __end__
          - name: b
            goto: j
          - name: j
            fan_in: true
        edges:
          - {from: s, parallel: [a, b], fan_in: j}
        """
    assert lines(text) == [
        "11:26 TEA206 branch 'a' of the fan-out from 's' never reaches its fan-in 'j'; every "
        "branch must route to the fan-in"
    ]


# ---- TEA209
def test_goto_overrides_edges_points_at_each_edge() -> None:
    text = """\
        name: w
        nodes:
          - name: a
            goto: b
          - name: b
          - name: c
        edges:
          - {from: a, to: c}
          - {from: a, to: [b, c], parallel: true, fan_in: b}
        """
    found = [d for d in graph_diags(text) if d.code == "TEA209"]
    assert [(d.span.start_line, d.span.start_col) for d in found] == [(7, 11), (8, 11)]
    assert found[0].related == (Related(Span(3, 4, 3, 8), "'goto' of 'a' is here"),)


# ---- TEA210
def test_fan_in_joined_by_dynamic_parallel_or_fan_out_is_not_orphan() -> None:
    text = """\
        name: w
        nodes:
          - name: dp
            type: dynamic_parallel
            items: "{{ state.xs }}"
            fan_in: j
            steps:
              - name: one
          - name: j
            fan_in: true
          - name: lonely
            fan_in: true
        """
    assert lines(text) == [
        "12:5 TEA210 node 'lonely' is marked 'fan_in: true' but no parallel fan-out joins at "
        "it; it will run as a plain node without 'parallel_results'"
    ]


# ---- TEA211
def test_while_loop_missing_everything() -> None:
    assert lines("name: w\nnodes:\n  - name: l\n    type: while_loop\n") == [
        "4:11 TEA211 while_loop 'l' is missing 'condition', 'body' and 'max_iterations'; a loop "
        "needs a 'condition', a 'body' and 'max_iterations' from 1 to 1000"
    ]


def test_while_loop_wrong_type_bound_is_only_a_schema_error() -> None:
    text = """\
        name: w
        nodes:
          - name: l
            type: while_loop
            condition: state.go
            max_iterations: many
            body:
              - name: step
        """
    found = analyze(dedent(text), "t.yaml").diagnostics
    assert [d.code for d in found] == ["TEA102"]


# ---- TEA212
def test_interrupt_and_retry_in_branches_and_dynamic_parallel_steps() -> None:
    text = """\
        name: w
        nodes:
          - name: s
          - name: a
            goto: j
          - name: b
            steps:
              - name: inner
                interrupt: after
          - name: j
            fan_in: true
          - name: dp
            type: dynamic_parallel
            items: "{{ state.xs }}"
            fan_in: j2
            steps:
              - name: each
                retry: 2
          - name: j2
            fan_in: true
            retry: 3
        edges:
          - {from: s, to: [a, b], parallel: true, fan_in: j}
        """
    assert lines(text) == [
        "9:9 TEA212 node 'inner' runs inside the parallel branch 'b' of 's', where 'interrupt' "
        "is not supported; branches run in isolated workers that cannot pause or replay a node",
        "18:9 TEA212 node 'each' runs inside the dynamic_parallel node 'dp', where node-level "
        "'retry' is not supported; branches run in isolated workers that cannot pause or "
        "replay a node",
    ]


def test_reachable_includes_conditional_targets() -> None:
    wf = workflow(
        """\
        name: w
        nodes:
          - name: a
          - name: b
            goto: __end__
          - name: c
        edges:
          - {from: a, condition: "{{ state.x }}", targets: [b, c]}
        """
    )
    assert reachable(wf) == ["a", "b", "c"]


def test_no_workflow_no_graph_diagnostics() -> None:
    assert graph_diags("- a\n") == []
    assert graph_diags("name: w\nnodes: 3\n") == []


def test_error_handlers_naming_nodes_count_as_routes() -> None:
    text = """\
        name: w
        nodes:
          - name: a
            fallback: rescue
            goto: b
          - name: b
            on_error: {strategy: goto, node: cleanup}
            goto: __end__
          - name: rescue
            goto: __end__
          - name: cleanup
            goto: __end__
        """
    assert codes(text) == []


def test_unknown_node_carries_a_did_you_mean_fix_keeping_quotes() -> None:
    from tea_lsp.analysis import analyze
    from tea_lsp.diagnostics import Fix, Span, TextEdit

    text = 'name: x\nnodes:\n  - name: start\n    goto: "finsh"\n  - name: finish\n'
    [d] = analyze(text, "t.yaml").diagnostics
    assert d.code == "TEA201"
    assert d.fix == Fix(
        "Replace 'finsh' with 'finish'", (TextEdit(Span(3, 10, 3, 17), '"finish"'),)
    )

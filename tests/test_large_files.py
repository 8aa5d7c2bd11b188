"""Large files stay linear: a long chain of nodes, each adding a state key (the state flow's
per-node key sets once made this quadratic: 30,000 nodes took ~50 s; now a few seconds)."""

from __future__ import annotations

import pytest

from tea_lsp.analysis import analyze

N = 30_000


def _chain() -> str:
    parts = ["name: chain\nnodes:\n"]
    parts.extend(
        f"  - {{name: n{i}, uses: json.parse, with: {{text: '1'}}, output: k{i}}}\n"
        for i in range(N)
    )
    parts.append(
        f"  - {{name: last, language: lua, run: 'return {{x = state.k0 + state.k{N - 1}}}'}}\n"
        "  - {name: show, uses: json.parse, with: {text: '{{ state.k12x }}'}, output: shown}\n"
    )
    return "".join(parts)


@pytest.mark.timeout(25)
def test_a_chain_of_30000_nodes_is_checked_in_linear_time() -> None:
    text = _chain()
    result = analyze(text, "chain.yaml")
    got = [
        (d.code, d.span.start_line + 1, d.span.start_col + 1, d.message) for d in result.diagnostics
    ]
    assert got == [
        (
            "TEA404",
            N + 4,
            59,
            "state key 'k12x' is not declared and no node provides it; did you mean 'k12'?",
        )
    ]

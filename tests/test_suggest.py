"""Did-you-mean: the closest name, and many reports over many candidates in linear time."""

from __future__ import annotations

import difflib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tea_lsp.analysis import analyze
from tea_lsp.util import suggest


def _reference(name: str, candidates: list[str], cutoff: float) -> str | None:
    """The rule, spelled out: a candidate equal but for case (the last one), else difflib's."""
    pool = [c for c in candidates if c != name]
    if not pool:
        return None
    same_case = [c for c in pool if c.lower() == name.lower()]
    if same_case:
        return same_case[-1]
    match = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    return match[0] if match else None


_NAMES = st.text("abAB_1", min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_NAMES, min_size=1, max_size=5),
    st.lists(_NAMES, max_size=200),
    st.sampled_from([0.6, 0.7]),
    st.randoms(use_true_random=False),
)
def test_suggest_follows_the_rule_when_asked_again_and_again(
    names: list[str], candidates: list[str], cutoff: float, rnd: random.Random
) -> None:
    """Asked about the same names over growing, shrinking and reordered lists (kept scores in
    play past 64 candidates): always the rule's answer."""
    for _ in range(4):
        for name in names:
            assert suggest(name, candidates, cutoff) == _reference(name, candidates, cutoff)
            assert suggest(name, tuple(candidates), cutoff) == _reference(name, candidates, cutoff)
            assert suggest(name, iter(candidates), cutoff) == _reference(name, candidates, cutoff)
        rnd.shuffle(candidates)
        candidates = candidates[: rnd.randrange(len(candidates) + 1)] + [
            "".join(rnd.choice("abAB_1") for _ in range(rnd.randrange(1, 6)))
            for _ in range(rnd.randrange(80))
        ]


def test_suggest_among_many_candidates() -> None:
    keys = [f"parsed_{i}" for i in range(500)]
    assert suggest("parsed_12x", keys) == "parsed_12"
    assert suggest("Parsed_7", [*keys, "parsed_7", "PARSED_7"]) == "PARSED_7"
    assert suggest("parsed_7", [*keys, "Parsed_7"]) == "Parsed_7"
    assert suggest("zzzz", keys) is None
    assert suggest("parsed_1", ["parsed_1"] * 100) is None


N = 2_000


@pytest.mark.timeout(15)
def test_many_reports_of_one_missing_key_score_each_key_once() -> None:
    """2,000 templates and 2,000 Lua nodes read a key nothing sets, each seeing more keys than
    the last (one per node before it): every report has its did-you-mean, and each key is
    scored once for the name, not once per report (~4 s; scoring every key again for each
    report took ~17 s)."""
    parts = ["name: many\nstate_schema:\n  missing_key: int\nnodes:\n"]
    for i in range(N):
        parts.append(
            f"  - {{name: t{i}, uses: json.parse, with: {{text: '{{{{ state.missing }}}}'}},"
            f" output: parsed_{i}}}\n"
            f"  - {{name: l{i}, language: lua, run: 'return {{k_{i} = state.missing}}'}}\n"
        )
    result = analyze("".join(parts), "many.yaml")
    got = [(d.code, d.span.start_line + 1, d.message) for d in result.diagnostics]
    assert len(got) == 2 * N
    message = (
        "state key 'missing' is not declared and no node provides it; did you mean 'missing_key'?"
    )
    assert got[:2] == [("TEA404", 5, message), ("TEA305", 6, message)]
    assert got[-2:] == [("TEA404", 2 * N + 3, message), ("TEA305", 2 * N + 4, message)]
    assert {m for _, _, m in got} == {message}

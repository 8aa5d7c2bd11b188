"""Property tests: ``analyze()`` never raises, whatever the input."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tea_lsp.analysis import analyze
from tea_lsp.diagnostics import Diagnostic

_KEYS = st.sampled_from(
    [
        "name",
        "nodes",
        "edges",
        "run",
        "goto",
        "from",
        "to",
        "fan_in",
        "parallel",
        "type",
        "uses",
        "with",
        "settings",
        "state_schema",
        "steps",
        "condition",
        "if",
        "language",
        "x",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "a",
            "b",
            "__end__",
            "__start__",
            "return {}",
            "{{ state.x }}",
            "parallel",
            "lua",
            "while_loop",
        ]
    ),
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def _assert_wellformed(diags: list[Diagnostic]) -> None:
    for d in diags:
        assert d.code.startswith("TEA")
        assert d.code != "TEA900", d.message
        assert d.span.start_line >= 0 and d.span.start_col >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _assert_wellformed(analyze(text, "fuzz.yaml").diagnostics)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _DATA, max_size=6))
def test_arbitrary_yaml_shaped_data(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    _assert_wellformed(analyze(text, "fuzz.yaml").diagnostics)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(_KEYS, _DATA, max_size=6), min_size=1, max_size=5))
def test_arbitrary_nodes(nodes: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump({"name": "f", "nodes": nodes}, allow_unicode=True)
    _assert_wellformed(analyze(text, "fuzz.yaml").diagnostics)

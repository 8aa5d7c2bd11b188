"""``{{ name.key }}`` templates are read without Jinja's parser, with the parser's exact result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tea_lsp.langs.jinja import KeyScope, check_template
from tea_lsp.langs.jinja import check as jinja_check
from tea_lsp.langs.jinja.env import GLOBAL_NAMES, has_markup

KNOWN = frozenset({"state", "variables", "result"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ state.total }}", []),
        ("{{ state.totl }}", [("state_key", 1, 9, 13, "totl")]),
        ("line\n  note: {{state.totl.sub}} end", [("state_key", 2, 16, 20, "totl")]),
        ("{{ variables.lvl }}", [("variable", 1, 13, 16, "lvl")]),
        ("{{ stat.total }}", [("name", 1, 3, 7, "stat")]),
        ("{{ true }}", []),
        ("{{ state }}", []),
    ],
)
def test_simple_template_problems(
    text: str, expected: list[tuple[str, int, int, int, str]]
) -> None:
    keys = KeyScope(frozenset({"total"}), variables=frozenset({"level"}))
    problems = check_template(text, expression=False, known_names=KNOWN, keys=keys)
    assert [(p.kind, p.line, p.col, p.end_col, p.name) for p in problems] == expected


def test_simple_template_messages() -> None:
    keys = KeyScope(frozenset({"total"}), variables=frozenset({"level"}))
    problems = check_template(
        "a {{ state.totl }} b {{ variables.lvl }}", expression=False, known_names=KNOWN, keys=keys
    )  # two tags: Jinja's parser
    problems += check_template("{{ stat.x }}", expression=False, known_names=KNOWN, keys=keys)
    assert [p.message for p in problems] == [
        "state key 'totl' is not declared in state_schema and no node provides it; "
        "did you mean 'total'?",
        "'variables.lvl' is not defined in 'variables'; did you mean 'level'?",
        "undefined name 'stat' in template; did you mean 'state'?",
    ]


_NAMES = st.sampled_from(
    ["state", "variables", "x", "_", "a1", "true", "None", "not", "loop", "items", "if", "é"]
)
_PARTS = st.one_of(
    _NAMES,
    st.sampled_from(["{{", "}}", "{{ ", " }}", "{{-", "-}}", ".", " .", "[", "]", "|", "'k'"]),
    st.sampled_from(["", " ", "\t", "\n", "\r\n", "text ", "{", "}", "#", "%", "{# c #}", "0"]),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_PARTS, max_size=12),
    st.sampled_from(["state", "variables", "x"]),
    st.lists(_NAMES, max_size=10),
)
def test_simple_reading_equals_the_parse(parts: list[str], head: str, keys: list[str]) -> None:
    for text in ("".join(parts), "{{ " + ".".join([head, *keys]) + " }}"):
        source = jinja_check._normalize_source(text)
        simple = jinja_check._simple_analysis(source)
        if simple is not None:
            assert simple == jinja_check._parse_source(source, False), text


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_PARTS, max_size=12),
    st.sampled_from(["state", "variables", "x", "range"]),
    st.lists(_NAMES, max_size=10),
    st.sampled_from([KNOWN, frozenset({"state"}), frozenset({"x", "variables"})]),
    st.booleans(),
)
def test_needed_keys_without_the_parse_equal_those_from_it(
    parts: list[str], head: str, keys: list[str], known: frozenset[str], expression: bool
) -> None:
    for text in ("".join(parts), "{{ " + ".".join([head, *keys]) + " }}"):
        fast = jinja_check._needed_keys(text, expression, known, False)
        as_expression = expression and not has_markup(text)
        result = jinja_check._analyze_text(text, as_expression)
        unknown = [o for o in result.free_names if o.name not in known | GLOBAL_NAMES]
        if result.syntax or result.limit or result.filters or unknown:
            full = None
        else:
            full = jinja_check._unguarded(result.reads), jinja_check._unguarded(result.var_reads)
        assert fast == full, text

"""The sandboxed Jinja module: native rendering, conditions, errors, analysis, concurrency."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tea_lsp.langs.jinja import (
    TemplateError,
    TemplateProblem,
    check_template,
    environment,
    eval_condition,
    eval_expression,
    render_data,
    render_value,
    state_reads,
)

STATE: dict[str, Any] = {
    "n": 5,
    "xs": [1, 2, 3],
    "d": {"a": 1, "b": [True, None]},
    "s": "text",
    "items": "a key named items",
    "flag": "false",
}
CTX: dict[str, Any] = {"state": STATE, "variables": {"sep": "-"}}
KNOWN = frozenset({"state", "variables"})


def err(template: str, context: dict[str, Any] | None = None) -> tuple[str, int | None]:
    with pytest.raises(TemplateError) as info:
        render_value(template, CTX if context is None else context)
    return info.value.message, info.value.line


# ------------------------------------------------------------------ render_value


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ state.xs }}", [1, 2, 3]),
        ("{{ state.n + 1 }}", 6),
        ("{{ state.n / 2 }}", 2.5),
        ("{{ state.d }}", {"a": 1, "b": [True, None]}),
        ("{{ state.n > 3 }}", True),
        ("{{ none }}", None),
        ("  {{ state.s }}\n", "text"),
        ("{{- state.n -}}", 5),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ state.xs | map('string') }}", ["1", "2", "3"]),
        ("{{ state.d.items() | list }}", [["a", 1], ["b", [True, None]]]),
        ("{{ '}}' }}", "}}"),
        ("{{ 'a' ~ '}} {{' }}", "a}} {{"),
        ("{{ state.items }}", "a key named items"),
        ('{{ \'{"k": [1, {"z": null}]}\' | fromjson }}', {"k": [1, {"z": None}]}),
        ("{{ {'b': 1, 'a': 'é'} | tojson }}", '{"b": 1, "a": "é"}'),
        # TEA's own filter names: `json` (compact JSON) and `sha256` (hex digest of the text).
        ("{{ state.xs | json }}", "[1, 2, 3]"),
        (
            "{{ 'abc' | sha256 }}",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ],
)
def test_render_value_native(template: str, expected: Any) -> None:
    value = render_value(template, CTX)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n={{ state.n }}", "n=5"),
        ("{{ state.n }}{{ state.n }}", "55"),
        ("{{ state.n }} and {{ state.s }}", "5 and text"),
        ("line\n{{ state.s }}\n", "line\ntext\n"),  # the trailing newline is kept
        ("{% for x in state.xs %}{{ x }}{{ variables.sep if not loop.last }}{% endfor %}", "1-2-3"),
        (
            "{% set ns = namespace(t=0) %}{% for x in state.xs %}{% set ns.t = ns.t + x %}"
            "{% endfor %}{{ ns.t }}",
            "6",
        ),
        ("{{ state.d | tojson(indent=1) }}", '{\n "a": 1,\n "b": [\n  true,\n  null\n ]\n}'),
        ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
        ("no markup at all", "no markup at all"),
        ("{# only a comment #}", ""),
    ],
)
def test_render_value_text(template: str, expected: str) -> None:
    assert render_value(template, CTX) == expected


def test_render_value_does_not_share_containers_with_the_context() -> None:
    value = render_value("{{ state.d }}", CTX)
    value["b"].append("x")
    assert STATE["d"] == {"a": 1, "b": [True, None]}


def test_render_data_renders_nested_strings() -> None:
    data = {"a": ["{{ state.n }}", {"b": "x{{ state.s }}"}], "c": 3, "d": None}
    assert render_data(data, CTX) == {"a": [5, {"b": "xtext"}], "c": 3, "d": None}


# ------------------------------------------------------------------ errors


def test_missing_keys_read_as_none_like_tea() -> None:
    assert render_value("{{ state.missing }}", CTX) is None
    assert render_value("a {{ state.missing }}", CTX) == "a None"
    assert render_value("{{ state['missing'] }}", CTX) is None
    assert render_value("{{ variables.missing }}", CTX) is None
    assert render_value("{{ state.missing | tojson }}", CTX) == "null"
    assert render_value("{{ [state.missing] }}", CTX) == [None]
    assert render_value("{{ state.missing == none }}", CTX) is True
    assert render_value("{{ state.missing is none }}", CTX) is True
    assert render_value("{{ not state.missing }}", CTX) is True
    assert render_value("{% for x in state.missing %}x{% endfor %}.", CTX) == "."
    assert eval_condition("state.missing", CTX) is False


def test_using_a_missing_key_further_fails_with_its_line() -> None:
    assert err("a\nb {{ state.missing + 1 }}") == ("'dict object' has no attribute 'missing'", 2)
    assert err("\n\n{{\n state.missing.x }}") == ("'dict object' has no attribute 'missing'", 3)
    assert err("{{ nope }}") == ("'nope' is undefined", 1)
    assert err("{{ state.missing['x'] ~ 'a' }}") == ("'dict object' has no attribute 'missing'", 1)


def test_a_missing_key_chained_still_takes_a_default() -> None:
    assert render_value("{{ state.missing.x | default(1) }}", CTX) == 1
    assert render_value("{{ state.missing['x'] is defined }}", CTX) is False


def test_optional_keys_read_safely() -> None:
    assert render_value("{{ state.missing is defined }}", CTX) is False
    assert render_value("{{ state.missing | default(7) }}", CTX) == 7
    assert render_value("{{ state.get('missing', 'x') }}", CTX) == "x"


def test_runtime_errors() -> None:
    assert err("x\n{{ 1 / 0 }}") == ("ZeroDivisionError: division by zero", 2)
    assert err("{{ '[' | fromjson }}")[0].startswith("fromjson: invalid JSON: ")
    assert err("{{ state.n | fromjson }}") == ("fromjson expects a string, got int", 1)
    assert err("{{ x | nofilter }}") == ("unknown filter 'nofilter'", 1)


def test_syntax_errors_at_render_match_the_checker() -> None:
    assert err("a\n{{ state.n ") == (
        "template syntax error: unexpected end of template, expected 'end of print statement'",
        2,
    )
    with pytest.raises(TemplateError) as info:
        eval_condition("state.n >", CTX)
    assert info.value.message == "template syntax error: unexpected end of expression"


def test_sandbox_blocks_mutation_and_huge_values() -> None:
    assert err("{{ state.xs.append(4) }}") == (
        "access to attribute 'append' of 'list' object is unsafe",
        1,
    )
    assert STATE["xs"] == [1, 2, 3]
    assert err("{{ 2 ** 1000000 }}") == ("the result of '**' is too large", 1)
    assert err("{{ 'x' * 10 ** 12 }}") == ("the result of '*' repetition is too large", 1)
    assert err("{{ [1] * 10 ** 9 }}") == ("the result of '*' repetition is too large", 1)
    assert err("{{ range(10 ** 9) | list }}")[0].startswith("OverflowError: Range too big")
    assert render_value("{{ 2 ** 10 }} {{ 'ab' * 2 }}", CTX) == "1024 abab"


def test_template_error_str() -> None:
    assert str(TemplateError("boom", 3)) == "line 3: boom"
    assert str(TemplateError("boom")) == "boom"


# ------------------------------------------------------------------ conditions


@pytest.mark.parametrize(
    "text", ["", "false", "False", "FALSE", "0", "no", "No", "none", "None", " false\n"]
)
def test_falsy_strings(text: str) -> None:
    context = {"state": {"v": text}}
    assert eval_condition("{{ state.v }}", context) is False
    assert eval_condition("state.v", context) is False


@pytest.mark.parametrize("text", ["true", "yes", "1", "off", "nope", " x "])
def test_truthy_strings(text: str) -> None:
    assert eval_condition("state.v", {"state": {"v": text}}) is True


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("state.n > 3", True),
        ("{{ state.n > 3 }}", True),
        ("state.n > 30", False),
        ("{{ state.n > 30 }}", False),
        ("state.xs", True),
        ("[]", False),
        ("{{ [] }}", False),
        ("0", False),
        ("0.0", False),
        ("{}", False),
        ("state.flag", False),  # the string 'false'
        ("state.n == 5 and 'x' in state.s", True),
        ("{% if state.n %}yes{% endif %}", True),
        ("{% if not state.n %}yes{% endif %}", False),
    ],
)
def test_eval_condition(expr: str, expected: bool) -> None:
    assert eval_condition(expr, CTX) is expected


def test_eval_expression_native() -> None:
    assert eval_expression("state.xs | sum", CTX) == 6
    assert eval_expression("state.d.b", CTX) == [True, None]
    assert eval_expression("{{ state.xs | length }}", CTX) == 3
    assert eval_expression("{{ state.n }} items", CTX) == "5 items"


# ------------------------------------------------------------------ concurrency


def _render_many(seed: int) -> list[Any]:
    out: list[Any] = []
    for i in range(200):
        ctx = {"state": {"n": seed * 1000 + i, "xs": list(range(i % 7))}}
        out.append(render_value("{{ state.n }}", ctx))
        out.append(render_value(f"{{{{ state.xs | length + {i % 5} }}}}", ctx))
        out.append(render_value("{% for x in state.xs %}{{ x }}{% endfor %}|{{ state.n }}", ctx))
        out.append(eval_condition("state.n % 2 == 0", ctx))
    return out


def _expected(seed: int) -> list[Any]:
    out: list[Any] = []
    for i in range(200):
        n = seed * 1000 + i
        xs = list(range(i % 7))
        out += [n, len(xs) + i % 5, "".join(map(str, xs)) + f"|{n}", n % 2 == 0]
    return out


def test_render_from_eight_threads() -> None:
    results: dict[int, list[Any]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        try:
            barrier.wait()
            results[seed] = _render_many(seed)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == {s: _expected(s) for s in range(8)}


def test_render_in_worker_processes() -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        got = list(pool.map(_render_many, [1, 2]))
    assert got == [_expected(1), _expected(2)]


def test_environment_is_shared_and_sandboxed() -> None:
    env = environment()
    assert environment() is env
    assert {"tojson", "fromjson", "upper", "map"} <= set(env.filters)
    assert env.is_safe_attribute([], "append", [].append) is False


def test_cache_stays_bounded_and_correct() -> None:
    for i in range(1500):
        assert render_value(f"{{{{ {i} + state.n }}}}", CTX) == i + 5
    assert render_value("{{ 0 + state.n }}", CTX) == 5


# ------------------------------------------------------------------ check_template


def problems(text: str, expression: bool = False, **kw: Any) -> list[tuple[Any, ...]]:
    return [
        (p.kind, p.line, p.col, p.end_col, p.message)
        for p in check_template(text, expression=expression, known_names=KNOWN, **kw)
    ]


def test_check_template_syntax_positions() -> None:
    msg = "template syntax error: "
    assert problems("{{ state.x ") == [
        ("syntax", 1, 0, 2, msg + "unexpected end of template, expected 'end of print statement'")
    ]
    assert problems("a\n  {{ state.x ! 1 }}") == [
        ("syntax", 2, 13, 14, msg + "unexpected char '!'")
    ]
    assert problems("x\n{% for a in state.xs %}\n{{ a }}\n") == [
        (
            "syntax",
            2,
            0,
            2,
            msg + "unexpected end of template; expected 'endfor' or 'else'; "
            "the innermost open block is 'for'",
        )
    ]
    assert problems("{{ 'abc }}") == [("syntax", 1, 3, 4, msg + "unterminated string")]
    assert problems("{{ state.x }\n}") == [("syntax", 1, 11, 12, msg + "unexpected '}'")]
    assert problems("{% endif %}") == [("syntax", 1, 3, 8, msg + "encountered unknown tag 'endif'")]
    assert problems("{# never closed") == [("syntax", 1, 0, 2, msg + "missing end of comment tag")]


def test_check_template_expressions() -> None:
    msg = "template syntax error: "
    assert problems("state.n >", expression=True) == [
        ("syntax", 1, 8, 9, msg + "unexpected end of expression")
    ]
    assert problems("state.n == 1 and", expression=True) == [
        ("syntax", 1, 13, 16, msg + "unexpected end of expression")
    ]
    assert problems("state.n 1", expression=True) == [
        ("syntax", 1, 8, 9, msg + "unexpected 'integer' after the expression")
    ]
    # With braces, a condition is a template whatever `expression` says.
    assert problems("{{ state.n > 1 }}", expression=True) == []
    assert problems("stat.n > 1", expression=True) == [
        ("name", 1, 0, 4, "undefined name 'stat' in template; did you mean 'state'?")
    ]


def test_check_template_names_and_scopes() -> None:
    text = (
        "{% set total = 1 %}{% for k, v in state.d | dictsort %}{{ k }}{{ v }}{{ loop.index }}"
        "{% endfor %}{{ k }}{{ total }}"
        "{% macro m(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{{ c }}{% endmacro %}{{ m(1) }}"
        "{% with w = state.n %}{{ w }}{% endwith %}{{ w }}"
        "{% set ns = namespace(x=0) %}{% set ns.x = 1 %}{% set other.x = 2 %}"
        "{{ range(1) }}{{ dict() }}{{ lipsum() }}{{ cycler() }}{{ joiner() }}"
    )
    got = [(p.kind, p.name) for p in check_template(text, expression=False, known_names=KNOWN)]
    assert got == [("name", "k"), ("name", "c"), ("name", "w"), ("name", "other")]


def test_check_template_filters_and_tests() -> None:
    assert problems("{{ state.s | uper | trim }} {% if state.n is not evn %}{% endif %}") == [
        ("filter", 1, 13, 17, "unknown filter 'uper' in template; did you mean 'upper'?"),
        ("filter", 1, 49, 52, "unknown test 'evn' in template; did you mean 'even'?"),
    ]
    assert problems("{% filter captialize %}x{% endfilter %}") == [
        ("filter", 1, 10, 20, "unknown filter 'captialize' in template; did you mean 'capitalize'?")
    ]
    assert problems("{{ state.s | tojson | fromjson | xyzzy }}")[0][4] == (
        "unknown filter 'xyzzy' in template"
    )


def test_check_template_state_keys() -> None:
    keys = frozenset({"count", "label"})
    text = (
        "{{ state.cuont }}\n  {{ state['labl'] }} {{ state.count }} {{ state.get('zz') }}"
        " {{ state.opt if state.opt is defined }} {{ state.dflt | default(1) }}"
    )
    assert problems(text, state_keys=keys) == [
        (
            "state_key",
            1,
            9,
            14,
            "state key 'cuont' is not declared in state_schema and no node provides it; "
            "did you mean 'count'?",
        ),
        (
            "state_key",
            2,
            11,
            17,
            "state key 'labl' is not declared in state_schema and no node provides it; "
            "did you mean 'label'?",
        ),
    ]
    assert problems("{{ count }}", state_keys=keys) == [
        ("name", 1, 3, 8, "undefined name 'count' in template; did you mean 'state.count'?")
    ]
    assert problems(text) == []  # no state_keys: no key checks


def test_optional_reads_are_guarded_by_default_defined_and_truth_tests() -> None:
    keys = frozenset({"count"})
    guarded = (
        "{{ state.user.name | default('anon') }} {{ state.a.b is defined }}"
        "{% if state.flag %}{{ state.flag }}{% endif %}"
        "{% if not state.off and state.on.x %}{{ state.on.x }}{% endif %}"
        "{{ state.pick if state.pick else 1 }} {{ state.nothing is none }}"
    )
    assert problems(guarded, state_keys=keys) == []
    compared = "{% if state.level > 1 %}x{% endif %}"
    assert [p[4] for p in problems(compared, state_keys=keys)] == [
        "state key 'level' is not declared in state_schema and no node provides it"
    ]


def test_state_reads() -> None:
    text = "{{ state.a }}\n{{ state['b'] ~ state.c.d }} {{ state.get('x') }} {{ other.e }}"
    assert state_reads(text, expression=False) == [("a", 1, 9), ("b", 2, 9), ("c", 2, 22)]
    assert state_reads("state.a or state.b", expression=True) == [("a", 1, 6), ("b", 1, 17)]
    assert state_reads("{{ state.a ", expression=False) == []


@pytest.mark.parametrize(
    "text",
    [
        "\x00{{ \x00 }}",
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{{ " + "[" * 5000 + " }}",
        "{% if a %}" * 3000 + "x" + "{% endif %}" * 3000,
        "{{ a" + ".b" * 20000 + " }}",
        "{{ " + " + ".join(["1"] * 5000) + " }}",
        "{%" * 10000,
        "\ud800{{ x }}",
        "{{ '\\N{nope}' }}",
        "{{ 1__0 }}",
    ],
)
def test_bad_templates_never_crash(text: str) -> None:
    got = check_template(text, expression=False, known_names=KNOWN)
    assert all(isinstance(p, TemplateProblem) for p in got)
    assert check_template(text, expression=True, known_names=KNOWN) is not None
    with contextlib.suppress(TemplateError):
        render_value(text, {"state": {}, "a": {}})


def test_deep_nesting_is_reported() -> None:
    text = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    assert problems(text) == [("syntax", 1, 0, 2, "template is nested too deeply to check")]


_PIECE_TEXT = (
    "{{ }} {% %} {# #} state . x | upper if endif for in endfor ( ) [ ] ' \" 1 + is not set = ~"
    " , - raw endraw loop \x00 é"
)
_PIECES = st.sampled_from([*_PIECE_TEXT.split(" "), " ", "\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=40).map("".join), st.booleans())
def test_fuzz_check_and_render_never_raise_anything_else(text: str, expression: bool) -> None:
    got = check_template(text, expression=expression, known_names=KNOWN)
    for p in got:
        assert p.line >= 1
        assert p.col is None or p.col >= 0
    with contextlib.suppress(TemplateError):
        (eval_condition if expression else render_value)(text, {"state": {"x": 1}})
    # The checker and the runner agree on what parses.
    syntax_ok = not any(p.kind == "syntax" for p in got)
    if syntax_ok:
        try:
            (eval_condition if expression else render_value)(text, {"state": {"x": 1}})
        except TemplateError as exc:
            assert not exc.message.startswith("template syntax error")


def test_native_values_must_be_data() -> None:
    assert err("{{ state.keys }}") == (
        "the template's value is not data: a 'builtin_function_or_method' object",
        1,
    )
    assert err("\n{{ namespace(a=1) }}") == (
        "the template's value is not data: a 'Namespace' object",
        2,
    )
    assert render_value("{{ state.xs | reverse }}", CTX) == [3, 2, 1]
    assert render_value("{{ state.xs | batch(2) }}", CTX) == [[1, 2], [3]]
    assert render_value("{{ state.d.keys() }}", CTX) == ["a", "b"]


def test_token_limit_bounds_checking_time() -> None:
    text = "{{ " + "a." * 30000 + "b }}"
    assert problems(text) == [
        ("limit", 1, 0, 2, "template is too large to check: more than 50000 tokens")
    ]

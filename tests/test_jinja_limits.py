"""Templates are bounded in time and in the size of everything they build (the runner and the
language server share the environment, so these hold in both). Each attack must fail fast with
a clean TemplateError, never allocate gigabytes or run on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tea_lsp.langs.jinja import (
    MAX_OUTPUT,
    TemplateError,
    eval_condition,
    render_value,
    template_deadline,
)

CTX: dict[str, Any] = {"state": {"n": 3}, "variables": {}}
LIMIT = f"characters or items, the limit is {MAX_OUTPUT}"
BIG = "x" * 1_000_000


def fails(template: str, deadline: float | None = None) -> str:
    with pytest.raises(TemplateError) as info:
        render_value(template, CTX, deadline=deadline)
    return str(info.value)


SIZE_ATTACKS = [
    (
        "{{ 'x'|center(3000000000) }}",
        f"line 1: the result of 'center' is too large: 3000000003 {LIMIT}",
    ),
    ("{{ '%03000000000d' % 1 }}", f"line 1: the result of '%' is too large: 1000000000 {LIMIT}"),
    (
        "{{ '%*d' % (3000000000, 1) }}",
        f"line 1: the result of '%' is too large: 3000000051 {LIMIT}",
    ),
    ("{{ '%.3000000000f' % 1.0 }}", f"line 1: the result of '%' is too large: 1000000000 {LIMIT}"),
    (
        "{{ '%03000000000d'|format(1) }}",
        f"line 1: the result of 'format' is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ '{:>3000000000}'.format('x') }}",
        f"line 1: the result of str.format is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ '{x:>3000000000}'.format_map({'x': 1}) }}",
        f"line 1: the result of str.format is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ ('{0}' * 1000).format(big) }}",
        f"line 1: the result of str.format is too large: 10000020 {LIMIT}",
    ),
    (
        "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ d('x', 40) }}",
        f"line 1: the result of '~' is too large: 16777216 {LIMIT}",
    ),
    (
        "{% set ns = namespace(v='x') %}{% for i in range(40) %}{% set ns.v = ns.v ~ ns.v %}"
        "{% endfor %}{{ ns.v }}",
        f"line 1: the result of '~' is too large: 16777216 {LIMIT}",
    ),
    (
        "{% set ns = namespace(v='x') %}{% for i in range(40) %}{% set ns.v = ns.v + ns.v %}"
        "{% endfor %}{{ ns.v }}",
        f"line 1: the result of '+' is too large: 16777216 {LIMIT}",
    ),
    (
        "{% set ns = namespace(v=[1]) %}{% for i in range(40) %}{% set ns.v = ns.v + ns.v %}"
        "{% endfor %}{{ ns.v|length }}",
        f"line 1: the result of '+' is too large: 16777216 {LIMIT}",
    ),
    ("{{ 'x' * 10 ** 12 }}", "line 1: the result of '*' repetition is too large"),
    ("{{ 2 ** 10000000 }}", "line 1: the result of '**' is too large"),
    (
        "{{ 'a\nb'|indent(3000000000) }}",
        f"line 1: the result of 'indent' is too large: 6000000005 {LIMIT}",
    ),
    (
        "{{ ('a\n' * 1000000)|indent('x' * 1000) }}",
        f"line 1: the result of 'indent' is too large: 1002001002 {LIMIT}",
    ),
    ("{{ ([big] * 100)|join }}", f"line 1: the result of 'join' is too large: 10000422 {LIMIT}"),
    (
        "{{ (['x'] * 1000000)|join('y' * 1000) }}",
        f"line 1: the result of 'join' is too large: 1007000002 {LIMIT}",
    ),
    (
        "{{ big|replace('x', 'y' * 1000) }}",
        f"line 1: the result of 'replace' is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ 'abc'|replace('', 'y' * 10000000) }}",
        f"line 1: the result of 'replace' is too large: 40000003 {LIMIT}",
    ),
    (
        "{{ ('x ' * 1000000)|wordwrap(1, wrapstring='y' * 1000) }}",
        f"line 1: the result of 'wordwrap' is too large: 2002001000 {LIMIT}",
    ),
    (
        "{{ 'x'.ljust(3000000000) }}",
        f"line 1: the result of 'ljust' is too large: 3000000000 {LIMIT}",
    ),
    (
        "{{ 'x'.rjust(3000000000) }}",
        f"line 1: the result of 'rjust' is too large: 3000000000 {LIMIT}",
    ),
    (
        "{{ 'x'.center(3000000000) }}",
        f"line 1: the result of 'center' is too large: 3000000000 {LIMIT}",
    ),
    (
        "{{ 'x'.zfill(3000000000) }}",
        f"line 1: the result of 'zfill' is too large: 3000000000 {LIMIT}",
    ),
    (
        "{{ ('\t' * 1000).expandtabs(100000000) }}",
        f"line 1: the result of 'expandtabs' is too large: 100000001000 {LIMIT}",
    ),
    (
        "{{ ('y' * 1000).join(['x'] * 1000000) }}",
        f"line 1: the result of 'join' is too large: 1005000002 {LIMIT}",
    ),
    (
        "{{ big.replace('x', 'y' * 1000) }}",
        f"line 1: the result of 'replace' is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ big.encode().replace('x'.encode(), ('y' * 1000).encode()) }}",
        f"line 1: the result of 'replace' is too large: 1000000000 {LIMIT}",
    ),
    (
        "{{ big.translate({120: 'y' * 1000}) }}",
        f"line 1: the result of 'translate' is too large: 1000000000 {LIMIT}",
    ),
    (
        "{% set a = [big] * 10000000 %}{{ a }}",
        f"line 1: the result of printing a value is too large: 20000002 {LIMIT}",
    ),
    (
        "{% set a = [big] * 10000000 %}{{ a|string }}",
        f"line 1: the result of 'string' is too large: 20000002 {LIMIT}",
    ),
    (
        "{% set a = [big] * 10000000 %}{{ a|tojson }}",
        f"line 1: the result of 'tojson' is too large: 20000002 {LIMIT}",
    ),
    ("{{ [big] * 10000000 ~ '' }}", f"line 1: the result of '~' is too large: 20000002 {LIMIT}"),
    (
        "{{ '%s' % ([big] * 10000000) }}",
        f"line 1: the result of '%' is too large: 20000004 {LIMIT}",
    ),
    (
        "{{ '{0!r}'.format([big] * 10000000) }}",
        f"line 1: the result of str.format is too large: 20000002 {LIMIT}",
    ),
    (
        "{{ '%(a)s' % {'a': [big] * 10000000} }}",
        f"line 1: the result of '%' is too large: 20000011 {LIMIT}",
    ),
    (
        "{{ [[1] * 10000000] * 10000000 }}",
        "line 1: the template's value is too large: more than 10000000 items",
    ),
    ("{{ lipsum(1000000) }}", "line 1: lipsum: 'n', 'min' and 'max' must be integers up to 1000"),
    (
        "{{ [1]|batch(1000000000, 0)|list }}",
        f"line 1: the result of 'batch' is too large: 1000000000 {LIMIT}",
    ),
    ("{{ [1]|slice(1000000000)|list }}", "line 1: slice: at most 100000 slices, got 1000000000"),
    (
        "{{ ([[1] * 10000000] * 100)|sum(start=[]) }}",
        f"line 1: the result of 'sum' is too large: 1000000002 {LIMIT}",
    ),
    (
        "{{ [1]|tojson(indent=1000000000) }}",
        "line 1: tojson: 'indent' must be an integer up to 100",
    ),
    (
        "{% for i in range(100000) %}{{ big }}{% endfor %}",
        f"the result of the template is too large: 11000000 {LIMIT}",
    ),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("template", "message"), SIZE_ATTACKS)
def test_size_attacks_fail_fast(template: str, message: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(TemplateError) as info:
        render_value(template, {**CTX, "big": BIG})
    assert str(info.value) == message
    assert time.monotonic() - t0 < 10


TIME_ATTACKS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ j if j < 0 }}{% endfor %}"
    "{% endfor %}",
    "{{ range(100000)|map('string')|list|length if false else range(100000)|select('odd')|"
    "list|length }}{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
    "{% endfor %}",
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("template", TIME_ATTACKS)
def test_time_attacks_stop_at_the_deadline(template: str) -> None:
    t0 = time.monotonic()
    message = fails(template, deadline=time.monotonic() + 1.0)
    elapsed = time.monotonic() - t0
    assert message == "line 1: the template ran past its deadline"
    assert elapsed < 5


@pytest.mark.timeout(20)
def test_the_enclosing_deadline_applies_to_every_rendering() -> None:
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    t0 = time.monotonic()
    limit = "the node's time limit of 0.5 s"
    with template_deadline(time.monotonic() + 0.5, limit), pytest.raises(TemplateError) as info:
        eval_condition("{{ true }}" + loop, CTX)
    assert str(info.value) == "line 1: the template ran past the node's time limit of 0.5 s"
    assert time.monotonic() - t0 < 5


def test_ordinary_templates_still_work_under_the_limits() -> None:
    ctx = {**CTX, "big": BIG}
    assert render_value("{{ 'x'|center(5) }}", ctx) == "  x  "
    assert render_value("{{ '%05d' % 42 }}", ctx) == "00042"
    assert render_value("{{ '{:>4}'.format('a') }}", ctx) == "   a"
    assert render_value("{{ ['a', 'b']|join(', ') }}", ctx) == "a, b"
    assert render_value("{{ 'a-b'|replace('-', '+') }}", ctx) == "a+b"
    assert render_value("{{ (big ~ '')|length }}", ctx) == 1_000_000
    assert render_value("{{ ([1, 2] + [3])|sum }}", ctx) == 6
    assert render_value("{{ [[1], [2]]|sum(start=[]) }}", ctx) == [1, 2]
    assert render_value("{{ range(3)|batch(2, 0)|list }}", ctx) == [[0, 1], [2, 0]]
    assert render_value("{{ 'a\nb'|indent(2) }}", ctx) == "a\n  b"
    assert render_value("{{ 'x'.zfill(3) }}", ctx) == "00x"
    assert render_value("{% for i in range(3) %}{{ i }}{% endfor %}", ctx) == "012"
    assert render_value("{{ {'a': 1}|tojson(indent=2) }}", ctx) == '{\n  "a": 1\n}'

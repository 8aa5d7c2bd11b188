"""Rendering for the runner: templates, expressions and conditions, compiled once and cached.

Thread-safe and usable in worker processes. Compiled templates are kept in a bounded LRU keyed
by text. Every rendering runs under the limits of :mod:`tea_lsp.langs.jinja.env` (a deadline
and a size cap) and sees the context names TEA's Python engine gives templates: the caller's
``state``, ``variables``, ``result``, ... plus ``secrets``, ``settings``, ``data`` (empty
unless the caller passes them), ``env`` (the process environment) and ``checkpoint``
(``dir``/``last``, empty).

Conditions accept TEA's shorthand: ``flag`` means ``state.flag`` and ``!flag`` means
``not state.flag`` (a missing key is false); ``True``/``False`` are literals.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import GeneratorType, TracebackType
from typing import Any

import jinja2

from tea_lsp.langs.jinja.check import CACHED_TEXT, analyze, condition_shorthand
from tea_lsp.langs.jinja.env import (
    _FILE,
    FALSY_STRINGS,
    MissingKey,
    TeaEnvironment,
    TemplateError,
    environment,
    has_markup,
    normalize_message,
    reset_locks_after_fork,
)
from tea_lsp.langs.jinja.limits import MAX_OUTPUT, rendering_budget, tick

_CACHE_SIZE = 1024

# --------------------------------------------------------------------------- compiled cache


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: jinja2.Template
    native: bool  # the template assigns the native value to `_RESULT`
    line_offset: int = 0  # template line of the wrapped expression, minus one


_RESULT = "tea_result"
_cache: OrderedDict[tuple[str, str], _Compiled] = OrderedDict()
_cache_lock = threading.Lock()


def _reset_after_fork() -> None:  # a lock held by another thread at fork time stays held
    global _cache_lock
    _cache_lock = threading.Lock()
    reset_locks_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

_SINGLE = re.compile(r"\s*\{\{[-+]?(.*?)[-+]?\}\}\s*", re.DOTALL)


def _single_expression(text: str) -> tuple[str, int] | None:
    """The inner source and line offset when ``text`` is exactly one ``{{ expr }}``."""
    m = _SINGLE.fullmatch(text)
    if m is None:
        return None
    inner = m.group(1)
    # '{{ a }} b {{ c }}' is two expressions; '{{ "}}" }}' is one: let the parser decide.
    suspicious = "{{" in inner or "{%" in inner or "{#" in inner or "}}" in inner
    if suspicious and analyze(inner, True).syntax is not None:
        return None
    return inner, text.count("\n", 0, m.start(1))


def _compile(text: str, mode: str) -> _Compiled:
    key = (mode, text)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    compiled = _compile_uncached(text, mode)
    if len(text) > 4 * CACHED_TEXT:
        return compiled
    with _cache_lock:
        _cache[key] = compiled
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _compile_uncached(text: str, mode: str) -> _Compiled:
    env = environment()
    expression = mode == "expression"
    # The checker's parse decides what is valid, so the checker and the runner always agree.
    problem = analyze(text, expression).syntax
    if problem is not None:
        raise TemplateError(problem.message, problem.line)
    single = (text, 0) if expression else _single_expression(text)
    try:
        if single is not None:
            source = "{% set " + _RESULT + " = (" + single[0] + ") %}"
            return _Compiled(env.from_string(source), True, single[1])
        return _Compiled(env.from_string(text), False)
    except RecursionError:
        raise TemplateError("template is nested too deeply to compile", None) from None
    except jinja2.TemplateError as exc:  # e.g. an unknown filter, found at compile time
        return _Compiled(_failing(env, _runtime_error(exc, 0)), False)


def _failing(env: TeaEnvironment, error: TemplateError) -> jinja2.Template:
    """A template that raises ``error`` when rendered (compile errors surface at render)."""

    def fail() -> None:
        raise TemplateError(error.message, error.line)

    return env.from_string("{{ fail() }}", globals={"fail": fail})


# --------------------------------------------------------------------------- rendering


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _runtime_error(exc: BaseException, offset: int) -> TemplateError:
    line = _template_line(exc.__traceback__)
    if line is not None:
        line += offset
    elif isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        line = exc.lineno + offset
    if isinstance(exc, jinja2.TemplateError):
        message = normalize_message(exc.message or type(exc).__name__)
    else:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return TemplateError(message, line)


class _Counter:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = 0


def _count_items(count: _Counter, n: int) -> None:
    before = count.items
    count.items += n
    if count.items > MAX_OUTPUT:
        raise TemplateError(f"the template's value is too large: more than {MAX_OUTPUT} items")
    if before >> 12 != count.items >> 12:
        tick()


def to_data(value: Any, _depth: int = 0, _count: _Counter | None = None) -> Any:
    """A JSON-like copy of a rendered value (tuples, ranges and generators become lists).

    A missing key is ``None``. Anything that is not data (a function, a cycler, a namespace)
    is an error; so is a value of more than :data:`MAX_OUTPUT` items in all.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # drops Markup
    if isinstance(value, MissingKey):
        return None
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if _depth > 200:
        raise TemplateError("the template's value is nested too deeply")
    count = _count if _count is not None else _Counter()
    sized = isinstance(value, dict | list | tuple | range | set | frozenset)
    _count_items(count, 1 + (len(value) if sized else 0))
    if isinstance(value, dict):
        return {k: to_data(v, _depth + 1, count) for k, v in value.items()}
    if sized or _is_sequence_iterator(value):
        out: list[Any] = []
        for item in value:
            if not sized:
                _count_items(count, 1)
            out.append(to_data(item, _depth + 1, count))
        return out
    raise TemplateError(f"the template's value is not data: a '{type(value).__name__}' object")


def _is_sequence_iterator(value: Any) -> bool:
    """Generators from filters, ``map``, dict views, list iterators: finite, made of data."""
    if isinstance(value, GeneratorType | map | filter | zip | enumerate | reversed):
        return True
    name = type(value).__name__
    return name.endswith("iterator") or name in ("dict_keys", "dict_values", "dict_items")


_CHECKPOINT = {"dir": "", "last": ""}


def _full_context(context: Mapping[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "secrets": {},
        "settings": {},
        "data": {},
        "checkpoint": dict(_CHECKPOINT),
    }
    ctx.update(context)
    if "env" not in ctx:
        ctx["env"] = dict(os.environ)
    return ctx


def _render(compiled: _Compiled, context: Mapping[str, Any], deadline: float | None) -> Any:
    template = compiled.template
    try:
        with rendering_budget(deadline):
            if not compiled.native:
                return template.render(_full_context(context))
            ctx = template.new_context(_full_context(context))
            try:
                for _ in template.root_render_func(ctx):
                    pass
            except Exception:
                template.environment.handle_exception()  # maps the traceback to template lines
            value = ctx.vars[_RESULT]
            try:
                return to_data(value)
            except jinja2.UndefinedError as exc:  # the whole value is undefined
                message = normalize_message(exc.message or "")
                raise TemplateError(message, 1 + compiled.line_offset) from None
            except TemplateError as exc:  # not data
                raise TemplateError(exc.message, 1 + compiled.line_offset) from None
    except TemplateError:
        raise
    except MemoryError:
        raise TemplateError("the template ran out of memory", None) from None
    except RecursionError:
        raise TemplateError("the template recursed too deeply", None) from None
    except Exception as exc:
        raise _runtime_error(exc, compiled.line_offset) from None


def render_value(
    template: str, context: Mapping[str, Any], *, deadline: float | None = None
) -> Any:
    """Render ``template`` with ``context`` (``state``, ``variables``, ...).

    A template that is exactly one ``{{ expr }}`` gives the expression's native value; any
    other template gives text; a string without markup is returned unchanged. ``deadline``
    (``time.monotonic()``): when to stop; default: the enclosing
    :func:`~tea_lsp.langs.jinja.env.template_deadline`, else ``DEFAULT_TIMEOUT`` from now.
    Raises :class:`TemplateError` (message and 1-based template line) on any failure.
    """
    if not has_markup(template):
        return template
    return _render(_compile(template, "template"), context, deadline)


def render_data(value: Any, context: Mapping[str, Any], *, deadline: float | None = None) -> Any:
    """Render every string inside ``value`` (nested dicts and lists), like ``with:`` args."""
    if isinstance(value, str):
        return render_value(value, context, deadline=deadline)
    if isinstance(value, dict):
        return {k: render_data(v, context, deadline=deadline) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, context, deadline=deadline) for v in value]
    return value


def eval_expression(expr: str, context: Mapping[str, Any], *, deadline: float | None = None) -> Any:
    """Evaluate a bare Jinja expression (``state.n + 1``) or a template (``{{ ... }}``)."""
    if has_markup(expr):
        return render_value(expr, context, deadline=deadline)
    return _render(_compile(expr, "expression"), context, deadline)


def is_truthy(value: Any) -> bool:
    """Condition truth: falsy strings (:data:`FALSY_STRINGS`), else Python truthiness."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_STRINGS
    return bool(value)


def eval_condition(expr: str, context: Mapping[str, Any], *, deadline: float | None = None) -> bool:
    """Evaluate a condition written with or without ``{{ }}``.

    Rendered strings ``""``, ``false``, ``0``, ``no``, ``none`` (any case, surrounding
    whitespace ignored) are false; native values use Python truthiness. TEA's shorthand:
    ``flag`` is ``state.flag``, ``!flag`` is ``not state.flag`` (Python truthiness, a missing
    key is false), ``True``/``False`` are literals.
    """
    stripped = expr.strip()
    if stripped in ("True", "False"):
        return stripped == "True"
    shorthand = condition_shorthand(expr)
    if shorthand is not None:
        negated, key, _ = shorthand
        state = context.get("state")
        value = state.get(key, False) if isinstance(state, Mapping) else False
        return not value if negated else bool(value)
    return is_truthy(eval_expression(expr, context, deadline=deadline))

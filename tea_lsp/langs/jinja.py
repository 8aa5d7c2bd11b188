"""The one sandboxed Jinja environment, shared by the checker and the runner.

This is the only module that imports ``jinja2``. It gives:

- :func:`environment`: the process-wide sandboxed environment (immutable sandbox, strict
  undefined, built-in filters plus ``tojson``/``fromjson``);
- rendering for the runner: :func:`render_value`, :func:`render_data`,
  :func:`eval_expression`, :func:`eval_condition` (thread-safe, compiled templates cached in a
  bounded LRU keyed by text, usable in worker processes);
- analysis for the checker: :func:`check_template` and :func:`state_reads`, with exact
  positions inside the template (1-based line, 0-based column).

Semantics (the runner and the checker agree on them because both use this module):

- Undefined values are strict: reading a missing key (``state.nope``) and then *using* it —
  printing, comparing, iterating, testing its truth — raises :class:`TemplateError`. Optional
  keys are read with ``state.x is defined``, ``state.x | default(...)`` or ``state.get('x')``.
  A missing key never silently renders as an empty string.
- ``obj.key`` on a dict prefers the *item* over a dict method, so ``state.items``,
  ``state.keys`` or ``state.values`` read the state keys of those names when they exist.
- A template that is exactly one ``{{ expr }}`` (surrounding whitespace ignored) yields the
  expression's native value (list, number, dict, bool, None); any other template renders to
  text. Tuples, ranges and generators become lists; results never share containers with the
  context.
- A trailing newline is kept (a ``|`` block renders with its final newline).
- ``tojson`` is ``json.dumps`` (keys in insertion order, non-ASCII kept, optional ``indent``);
  ``fromjson`` is ``json.loads``.
- Power and repetition operators are bounded (``2 ** 10000000``, ``'x' * 10 ** 12`` fail fast
  instead of exhausting the machine); ``range`` is bounded by the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import GeneratorType, TracebackType
from typing import Any, Literal

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.lexer import Token, TokenStream, describe_token
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tea_lsp.util import did_you_mean, suggest

__all__ = [
    "FALSY_STRINGS",
    "GLOBAL_NAMES",
    "TemplateError",
    "TemplateProblem",
    "check_template",
    "environment",
    "eval_condition",
    "eval_expression",
    "has_markup",
    "is_truthy",
    "known_filters",
    "known_tests",
    "render_data",
    "render_value",
    "state_reads",
]

FALSY_STRINGS = frozenset({"", "false", "0", "no", "none"})
"""Rendered condition texts that count as false (compared stripped and case-insensitively)."""

_MAX_POWER_BITS = 100_000
_MAX_REPEAT_ITEMS = 10_000_000
_CACHE_SIZE = 1024
_MAX_TOKENS = 50_000  # parsing costs ~20 µs a token: checking one template stays under ~1 s
_FILE = "<template>"


# --------------------------------------------------------------------------- errors


class TemplateError(Exception):
    """A template failed to parse or to render. ``line`` is 1-based within the template."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}: {self.message}"


ProblemKind = Literal["syntax", "filter", "name", "state_key", "limit"]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One problem found by :func:`check_template`.

    ``line`` is 1-based within the template; ``col``/``end_col`` are 0-based code-point
    columns on that line (``None`` when only the line is known). ``name`` is the offending
    filter, test, variable or state key. Kind ``limit``: the template is too large to check
    (it may still render).
    """

    kind: ProblemKind
    message: str
    line: int
    col: int | None
    end_col: int | None
    name: str | None = None


# --------------------------------------------------------------------------- environment


def _tojson(value: Any, indent: int | None = None) -> str:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(_native(value), indent=indent, ensure_ascii=False)


def _fromjson(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, str | bytes | bytearray):
        raise jinja2.TemplateRuntimeError(f"fromjson expects a string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise jinja2.TemplateRuntimeError(f"fromjson: invalid JSON: {exc}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TeaEnvironment(ImmutableSandboxedEnvironment):
    """The sandboxed environment used everywhere templates are parsed or rendered."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # JSON-like state: `state.items` is the key "items" when it exists, not dict.items.
        if isinstance(obj, dict) and isinstance(attribute, str) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            if abs(left) > 1 and abs(left).bit_length() * right > _MAX_POWER_BITS:
                raise SecurityError("the result of '**' is too large")
        elif operator == "*":
            seq, times = (left, right) if _is_int(right) else (right, left)
            sized = isinstance(seq, str | list | tuple) and _is_int(times)
            if sized and len(seq) * times > _MAX_REPEAT_ITEMS:
                raise SecurityError("the result of '*' repetition is too large")
        return super().call_binop(context, operator, left, right)


_env_lock = threading.Lock()
_env: TeaEnvironment | None = None


def environment() -> TeaEnvironment:
    """The process-wide sandboxed environment (created on first use, then shared)."""
    global _env
    env = _env
    if env is not None:
        return env
    with _env_lock:
        if _env is None:
            created = TeaEnvironment(
                undefined=jinja2.StrictUndefined,
                autoescape=False,
                keep_trailing_newline=True,
                extensions=["jinja2.ext.loopcontrols"],
                cache_size=0,
            )
            created.filters["tojson"] = _tojson
            created.filters["fromjson"] = _fromjson
            _env = created
        return _env


def known_filters() -> frozenset[str]:
    """Every filter name the environment knows."""
    return frozenset(environment().filters)


def known_tests() -> frozenset[str]:
    """Every test name (``x is <test>``) the environment knows."""
    return frozenset(environment().tests)


GLOBAL_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
"""Names every template may use besides its context (Jinja's globals)."""


def has_markup(text: str) -> bool:
    """Does ``text`` contain Jinja markup (``{{``, ``{%`` or ``{#``)?"""
    return "{{" in text or "{%" in text or "{#" in text


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
    global _cache_lock, _env_lock
    _cache_lock = threading.Lock()
    _env_lock = threading.Lock()


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
    if suspicious and _analyze(inner, True).syntax is not None:
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
    if len(text) > 4 * _CACHED_TEXT:
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
    problem = _analyze(text, expression).syntax
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
        message = _normalize_message(exc.message or type(exc).__name__)
    else:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return TemplateError(message, line)


def _native(value: Any, depth: int = 0) -> Any:
    """A JSON-like copy of a rendered value (tuples, ranges and generators become lists).

    Anything that is not data (a function, a cycler, a namespace) is an error.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # drops Markup
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if depth > 200:
        raise TemplateError("the template's value is nested too deeply")
    if isinstance(value, dict):
        return {k: _native(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset) or _is_sequence_iterator(value):
        out: list[Any] = []
        for item in value:
            if len(out) >= _MAX_REPEAT_ITEMS:
                raise TemplateError("the template's value is too large")
            out.append(_native(item, depth + 1))
        return out
    raise TemplateError(f"the template's value is not data: a '{type(value).__name__}' object")


def _is_sequence_iterator(value: Any) -> bool:
    """Generators from filters, ``map``, dict views, list iterators: finite, made of data."""
    if isinstance(value, GeneratorType | map | filter | zip | enumerate | reversed):
        return True
    name = type(value).__name__
    return name.endswith("iterator") or name in ("dict_keys", "dict_values", "dict_items")


def _render(compiled: _Compiled, context: Mapping[str, Any]) -> Any:
    template = compiled.template
    try:
        if not compiled.native:
            return template.render(dict(context))
        ctx = template.new_context(dict(context))
        try:
            for _ in template.root_render_func(ctx):
                pass
        except Exception:
            template.environment.handle_exception()  # maps the traceback to template lines
        value = ctx.vars[_RESULT]
        try:
            return _native(value)
        except jinja2.UndefinedError as exc:  # the whole value is undefined
            message = _normalize_message(exc.message or "")
            raise TemplateError(message, 1 + compiled.line_offset) from None
        except TemplateError as exc:  # not data
            raise TemplateError(exc.message, 1 + compiled.line_offset) from None
    except TemplateError:
        raise
    except Exception as exc:
        raise _runtime_error(exc, compiled.line_offset) from None


def render_value(template: str, context: Mapping[str, Any]) -> Any:
    """Render ``template`` with ``context`` (``state``, ``variables``, ...).

    A template that is exactly one ``{{ expr }}`` gives the expression's native value; any
    other template gives text; a string without markup is returned unchanged.
    Raises :class:`TemplateError` (message and 1-based template line) on any failure.
    """
    if not has_markup(template):
        return template
    return _render(_compile(template, "template"), context)


def render_data(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (nested dicts and lists), like ``with:`` args."""
    if isinstance(value, str):
        return render_value(value, context)
    if isinstance(value, dict):
        return {k: render_data(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, context) for v in value]
    return value


def eval_expression(expr: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a bare Jinja expression (``state.n + 1``) or a template (``{{ ... }}``)."""
    if has_markup(expr):
        return render_value(expr, context)
    return _render(_compile(expr, "expression"), context)


def is_truthy(value: Any) -> bool:
    """Condition truth: falsy strings (:data:`FALSY_STRINGS`), else Python truthiness."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_STRINGS
    return bool(value)


def eval_condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition written with or without ``{{ }}``.

    Rendered strings ``""``, ``false``, ``0``, ``no``, ``none`` (any case, surrounding
    whitespace ignored) are false; native values use Python truthiness.
    """
    return is_truthy(eval_expression(expr, context))


# --------------------------------------------------------------------------- analysis

_WS = re.compile(r"\s*")
_AT_OFFSET = re.compile(r"\s+at (\d+)$")
_OPENERS = ("variable_begin", "block_begin", "comment_begin", "raw_begin")
_BLOCK_TAGS = frozenset(
    {"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "raw"}
)
_DICT_METHODS = frozenset(dir(dict))


class _TooManyTokens(Exception):
    pass


class _Recorder:
    """Feeds the parser and remembers where every token is in the source."""

    def __init__(self, source: str, max_tokens: int | None = None) -> None:
        self.source = source
        self.max_tokens = max_tokens if max_tokens is not None else _MAX_TOKENS
        self.cursor = 0
        self.last = (0, 0)
        self.last_opener: int | None = None
        self.tokens: list[tuple[Token, int, int]] = []
        self.index: dict[int, int] = {}
        self.lexer_error: int | None = None

    def _raw(self, env: jinja2.Environment, state: str | None) -> Iterator[tuple[int, str, str]]:
        it = env.lexer.tokeniter(self.source, None, None, state)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except jinja2.TemplateSyntaxError as exc:
                self.lexer_error = self._lexer_error_offset(exc)
                raise
            _, ttype, value = item
            if value:
                start = self.source.find(value, self.cursor)
                if start < 0:
                    start = self.cursor
                end = start + len(value)
                self.cursor = end
            else:
                start = end = self.cursor
            self.last = (start, end)
            if ttype in _OPENERS:
                self.last_opener = start
            yield item

    def _lexer_error_offset(self, exc: jinja2.TemplateSyntaxError) -> int:
        message = exc.message or ""
        m = _AT_OFFSET.search(message)
        if m:
            return min(int(m.group(1)), len(self.source))
        if message.startswith("Missing end of") and self.last_opener is not None:
            return self.last_opener
        return _WS.match(self.source, self.cursor).end()  # type: ignore[union-attr]

    def stream(self, env: jinja2.Environment, state: str | None) -> Iterator[Token]:
        wrapped = env.lexer.wrap(self._raw(env, state))
        while True:
            try:
                tok = next(wrapped)
            except StopIteration:
                return
            except jinja2.TemplateSyntaxError:
                if self.lexer_error is None:  # a bad identifier or string escape
                    self.lexer_error = self.last[0]
                raise
            if len(self.tokens) >= self.max_tokens:
                raise _TooManyTokens
            self.index[id(tok)] = len(self.tokens)
            self.tokens.append((tok, *self.last))
            yield tok

    def unclosed_opener(self) -> int | None:
        """Offset of the ``{{``/``{%`` left open at the end of the template, if any."""
        toks = self.tokens
        open_tag: int | None = None
        blocks: list[int] = []
        for i, (tok, start, _) in enumerate(toks):
            if tok.type in ("variable_begin", "block_begin"):
                open_tag = start
            elif tok.type in ("variable_end", "block_end"):
                open_tag = None
            if tok.type != "block_begin" or i + 1 >= len(toks):
                continue
            nxt = toks[i + 1][0]
            if nxt.type != "name":
                continue
            tag = str(nxt.value)
            if tag in _BLOCK_TAGS:
                blocks.append(start)
            elif tag == "set":
                j = i + 2
                while j < len(toks) and toks[j][0].type not in ("block_end", "assign"):
                    j += 1
                if j >= len(toks) or toks[j][0].type != "assign":
                    blocks.append(start)  # {% set x %}...{% endset %}
            elif tag.startswith("end") and blocks:
                blocks.pop()
        if open_tag is not None:
            return open_tag
        return blocks[-1] if blocks else None


class _PosParser(Parser):
    """Jinja's parser, remembering the token of every ``Name`` node."""

    def __init__(self, env: jinja2.Environment, rec: _Recorder, state: str | None) -> None:
        super().__init__(env, "", state=state)
        self.rec = rec
        self.name_tokens: dict[int, int] = {}
        self.stream = TokenStream(rec.stream(env, state), None, None)

    def parse_primary(self, with_namespace: bool = False) -> nodes.Expr:
        tok = self.stream.current
        node = super().parse_primary(with_namespace)
        if isinstance(node, nodes.Name | nodes.NSRef) and tok.type == "name":
            idx = self.rec.index.get(id(tok))
            if idx is not None:
                self.name_tokens[id(node)] = idx
        return node


@dataclass(frozen=True, slots=True)
class _Occurrence:
    name: str
    line: int
    col: int
    end_col: int


@dataclass(frozen=True, slots=True)
class _Analysis:
    syntax: TemplateProblem | None = None
    limit: TemplateProblem | None = None
    filters: tuple[TemplateProblem, ...] = ()
    free_names: tuple[_Occurrence, ...] = ()
    local_names: frozenset[str] = frozenset()
    reads: tuple[tuple[_Occurrence, bool], ...] = ()  # (key occurrence, guarded)


@dataclass(slots=True)
class _Walk:
    parser: _PosParser
    free: list[tuple[str, int]] = field(default_factory=list)  # (name, token index)
    locals_: set[str] = field(default_factory=set)
    reads: list[tuple[str, int, bool]] = field(default_factory=list)  # (key, token idx, guarded)


def _target_names(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    if isinstance(target, nodes.Tuple | nodes.List):
        out: set[str] = set()
        for item in target.items:
            out |= _target_names(item)
        return out
    return set()


def _assigned(body: list[nodes.Node]) -> set[str]:
    """Names assigned in one scope (``set``, ``macro``, imports), ``if`` bodies included."""
    names: set[str] = set()
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, nodes.Assign | nodes.AssignBlock):
            names |= _target_names(n.target)
        elif isinstance(n, nodes.Macro):
            names.add(n.name)
        elif isinstance(n, nodes.Import):
            names.add(n.target)
        elif isinstance(n, nodes.FromImport):
            for item in n.names:
                names.add(item if isinstance(item, str) else item[1])
        elif isinstance(n, nodes.If):
            stack.extend(n.body)
            stack.extend(n.elif_)
            stack.extend(n.else_)
        elif isinstance(n, nodes.FilterBlock):
            stack.extend(n.body)
    return names


def _guarded(node: nodes.Node, parent: nodes.Node | None) -> bool:
    if isinstance(parent, nodes.Test) and parent.node is node:
        return parent.name in ("defined", "undefined")
    if isinstance(parent, nodes.Filter) and parent.node is node:
        return parent.name in ("default", "d")
    return False


def _walk(w: _Walk, node: nodes.Node, bound: frozenset[str], parent: nodes.Node | None) -> None:
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in bound:
            idx = w.parser.name_tokens.get(id(node))
            if idx is not None:
                w.free.append((node.name, idx))
        return
    if isinstance(node, nodes.NSRef):
        if node.name not in bound:
            idx = w.parser.name_tokens.get(id(node))
            if idx is not None:
                w.free.append((node.name, idx))
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        _state_read(w, node, bound, parent)
    if isinstance(node, nodes.For):
        _walk(w, node.iter, bound, node)
        targets = _target_names(node.target)
        w.locals_ |= targets
        inner = bound | targets | {"loop"}
        if node.test is not None:
            _walk(w, node.test, frozenset(inner), node)
        _walk_scope(w, node.body, frozenset(inner))
        _walk_scope(w, node.else_, bound, new_scope=False)
        return
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        if isinstance(node, nodes.CallBlock):
            _walk(w, node.call, bound, node)
        for d in node.defaults:
            _walk(w, d, bound, node)
        args = {a.name for a in node.args} | {"varargs", "kwargs", "caller"}
        w.locals_ |= args
        _walk_scope(w, node.body, bound | args)
        return
    if isinstance(node, nodes.With):
        for v in node.values:
            _walk(w, v, bound, node)
        targets = set().union(*(_target_names(t) for t in node.targets))
        w.locals_ |= targets
        _walk_scope(w, node.body, bound | targets)
        return
    if isinstance(node, nodes.Block | nodes.Scope | nodes.ScopedEvalContextModifier):
        _walk_scope(w, node.body, bound)
        return
    if isinstance(node, nodes.Assign | nodes.AssignBlock):
        if isinstance(node.target, nodes.NSRef):
            _walk(w, node.target, bound, node)
        if isinstance(node, nodes.Assign):
            _walk(w, node.node, bound, node)
        else:
            if node.filter is not None:
                _walk(w, node.filter, bound, node)
            _walk_scope(w, node.body, bound, new_scope=False)
        return
    for child in node.iter_child_nodes():
        _walk(w, child, bound, node)


def _walk_scope(
    w: _Walk, body: list[nodes.Node], bound: frozenset[str], new_scope: bool = True
) -> None:
    if new_scope:
        assigned = _assigned(body)
        w.locals_ |= assigned
        bound = bound | assigned
    for stmt in body:
        _walk(w, stmt, bound, None)


def _state_read(
    w: _Walk, node: nodes.Getattr | nodes.Getitem, bound: frozenset[str], parent: nodes.Node | None
) -> None:
    base = node.node
    if not isinstance(base, nodes.Name) or base.name != "state" or "state" in bound:
        return
    idx = w.parser.name_tokens.get(id(base))
    if idx is None or idx + 2 >= len(w.parser.rec.tokens):
        return
    if isinstance(node, nodes.Getattr):
        key = node.attr
        if isinstance(parent, nodes.Call) and parent.node is node and key in _DICT_METHODS:
            return  # state.get('x'), state.keys(): a method call, not a key read
        sep, expected = "dot", "name"
    else:
        arg = node.arg
        if not isinstance(arg, nodes.Const) or not isinstance(arg.value, str):
            return
        key = arg.value
        sep, expected = "lbracket", "string"
    toks = w.parser.rec.tokens
    if toks[idx + 1][0].type != sep or toks[idx + 2][0].type != expected:
        return
    w.reads.append((key, idx + 2, _guarded(node, parent)))


@lru_cache(maxsize=8)
def _line_starts(source: str) -> list[int]:
    return [0, *(m.end() for m in re.finditer("\n", source))]


def _occurrence(source: str, name: str, start: int, end: int) -> _Occurrence:
    starts = _line_starts(source)
    start = max(0, min(start, len(source)))
    index = bisect_right(starts, start) - 1
    eol = starts[index + 1] - 1 if index + 1 < len(starts) else len(source)
    col = start - starts[index]
    width = max(1, min(end, eol) - start)
    return _Occurrence(name, index + 1, col, col + width)


_MESSAGE_REWRITES = (
    (re.compile(r"^No (filter|test) named "), r"unknown \1 "),
    (re.compile(r"^unexpected char (['\"])[\"']\1"), "unterminated string"),
    (
        re.compile(
            r"You probably made a nesting mistake\. Jinja is expecting this tag, but "
            r"currently looking for "
        ),
        "nesting mistake: expected ",
    ),
    (re.compile(r"Jinja was looking for the following tags: "), "expected "),
    (
        re.compile(r"The innermost block that needs to be closed is "),
        "the innermost open block is ",
    ),
)


def _normalize_message(message: str) -> str:
    """Jinja's message in our style: lowercase start, sentences joined by ';', no offsets."""
    text = message.strip()
    for pattern, repl in _MESSAGE_REWRITES:
        text = pattern.sub(repl, text)
    text = _AT_OFFSET.sub("", text)
    text = re.sub(r"\.\s+(?=\S)", "; ", text)
    text = text.rstrip(".").strip()
    return text[:1].lower() + text[1:]


def _normalize_source(text: str) -> str:
    # What Jinja's lexer scans: every line break becomes "\n".
    return re.sub(r"\r\n|\r", "\n", text)


_CACHED_TEXT = 64 * 1024  # larger texts are analysed (or compiled) again instead of kept


def _analyze(text: str, expression: bool) -> _Analysis:
    if len(text) > _CACHED_TEXT:
        return _analyze_text(text, expression)
    return _analyze_cached(text, expression)


@lru_cache(maxsize=4096)
def _analyze_cached(text: str, expression: bool) -> _Analysis:
    return _analyze_text(text, expression)


def _analyze_text(text: str, expression: bool) -> _Analysis:
    source = _normalize_source(text)
    env = environment()
    rec = _Recorder(source)
    parser: _PosParser | None = None
    try:
        parser = _PosParser(env, rec, "variable" if expression else None)
        body: list[nodes.Node]
        if expression:
            expr = parser.parse_expression()
            if not parser.stream.eos:
                cur = parser.stream.current
                parser.fail(f"unexpected {describe_token(cur)!r} after the expression")
            body = [expr]
        else:
            body = parser.parse().body
    except jinja2.TemplateSyntaxError as exc:
        return _Analysis(syntax=_syntax_error(source, exc, rec, parser, expression))
    except RecursionError:
        return _Analysis(syntax=_deep(source, rec))
    except _TooManyTokens:
        message = f"template is too large to check: more than {rec.max_tokens} tokens"
        return _Analysis(limit=TemplateProblem("limit", message, 1, 0, 2))
    try:
        walk = _Walk(parser)
        _walk_scope(walk, body, frozenset())
    except RecursionError:
        return _Analysis(syntax=_deep(source, rec))
    return _Analysis(
        filters=tuple(_unknown_filters(source, rec, body)),
        free_names=tuple(_occurrence(source, name, *rec.tokens[i][1:]) for name, i in walk.free),
        local_names=frozenset(walk.locals_),
        reads=tuple(
            (_occurrence(source, key, *rec.tokens[i][1:]), guarded)
            for key, i, guarded in walk.reads
        ),
    )


def _deep(source: str, rec: _Recorder) -> TemplateProblem:
    first = rec.tokens[0][1] if rec.tokens else 0
    occ = _occurrence(source, "", first, first + 2)
    return TemplateProblem(
        "syntax", "template is nested too deeply to check", occ.line, occ.col, occ.end_col
    )


def _syntax_error(
    source: str,
    exc: jinja2.TemplateSyntaxError,
    rec: _Recorder,
    parser: _PosParser | None,
    expression: bool,
) -> TemplateProblem:
    detail = _normalize_message(exc.message or str(exc)).replace(
        "'end of template'", "end of template"
    )
    if expression:
        detail = detail.replace("end of template", "end of expression")
    message = "template syntax error: " + detail
    start: int | None = None
    end: int | None = None
    if rec.lexer_error is not None:
        start = rec.lexer_error
        end = start + (2 if source.startswith(("{#", "{%", "{{"), start) else 1)
    elif parser is not None:
        cur = parser.stream.current
        idx = rec.index.get(id(cur))
        if cur.type == "eof":
            start = rec.unclosed_opener()
            if start is not None:
                end = start + 2
            elif rec.tokens:  # the expression stops short: point at its last token
                _, start, end = rec.tokens[-1]
        elif idx is not None and cur.lineno == exc.lineno:
            _, start, end = rec.tokens[idx]
    if start is None:
        # Only the line is known: its first tag opener, else its first non-blank character.
        lines = source.split("\n")
        lineno = min(max(exc.lineno or 1, 1), len(lines))
        text = lines[lineno - 1]
        found = [p for p in (text.find("{{"), text.find("{%")) if p >= 0]
        col = min(found) if found else len(text) - len(text.lstrip())
        width = 2 if found else max(1, len(text.strip()))
        return TemplateProblem("syntax", message, lineno, col, col + width)
    occ = _occurrence(source, "", start, end if end is not None else start + 1)
    return TemplateProblem("syntax", message, occ.line, occ.col, occ.end_col)


def _unknown_filters(
    source: str, rec: _Recorder, body: list[nodes.Node]
) -> Iterator[TemplateProblem]:
    env = environment()
    used_filters: set[str] = set()
    used_tests: set[str] = set()
    for top in body:
        if isinstance(top, nodes.Filter):
            used_filters.add(top.name)
        if isinstance(top, nodes.Test):
            used_tests.add(top.name)
        used_filters.update(f.name for f in top.find_all(nodes.Filter))
        used_tests.update(t.name for t in top.find_all(nodes.Test))
    bad_filters = {f for f in used_filters if f not in env.filters}
    bad_tests = {t for t in used_tests if t not in env.tests}
    if not bad_filters and not bad_tests:
        return
    toks = rec.tokens
    for i, (tok, start, _) in enumerate(toks):
        kind: str | None = None
        if tok.type != "name" or i == 0:
            continue
        prev = toks[i - 1][0]
        if prev.type == "pipe":
            kind = "filter"
        elif prev.type == "name" and prev.value == "filter" and i >= 2:
            kind = "filter" if toks[i - 2][0].type == "block_begin" else None
        elif prev.type == "name" and prev.value == "is":
            kind = "test"
        elif prev.type == "name" and prev.value == "not" and i >= 2:
            before = toks[i - 2][0]
            kind = "test" if before.type == "name" and before.value == "is" else None
        if kind is None:
            continue
        # Dotted names (`a | ns.f`) are one filter name in Jinja.
        name, end, j = str(tok.value), toks[i][2], i + 1
        while j + 1 < len(toks) and toks[j][0].type == "dot" and toks[j + 1][0].type == "name":
            name += "." + str(toks[j + 1][0].value)
            end = toks[j + 1][2]
            j += 2
        bad = bad_filters if kind == "filter" else bad_tests
        if name not in bad:
            continue
        known = env.filters if kind == "filter" else env.tests
        occ = _occurrence(source, name, start, end)
        yield TemplateProblem(
            "filter",
            f"unknown {kind} '{name}' in template{_did_you_mean(name, known)}",
            occ.line,
            occ.col,
            occ.end_col,
            name,
        )


def _did_you_mean(name: str, candidates: Any) -> str:
    return did_you_mean(name, sorted(candidates))


_CONTEXT_HINTS = {
    "result": "'result' is only defined in 'output' and in conditions",
    "parallel_results": "'parallel_results' is only defined in a fan-in node",
}


def check_template(
    text: str,
    *,
    expression: bool,
    known_names: frozenset[str],
    state_keys: frozenset[str] | None = None,
) -> list[TemplateProblem]:
    """Problems of one template: syntax, unknown filters/tests, undefined names.

    ``expression``: the text is a bare expression (a condition) unless it contains ``{{`` or
    ``{%``, in which case it is a template whatever ``expression`` says. ``known_names``: the
    context names (``state``, ``variables``, ...); Jinja's globals are always known.
    ``state_keys``: when given, ``state.<key>`` reads of other keys are ``state_key``
    problems (keys guarded by ``is defined`` or ``| default`` in the template are not).
    Never raises on any input.
    """
    result = _analyze(text, expression and not has_markup(text))
    if result.syntax is not None:
        return [result.syntax]
    if result.limit is not None:
        return [result.limit]
    problems = list(result.filters)
    known = known_names | GLOBAL_NAMES
    seen: set[tuple[str, int, int]] = set()
    for occ in result.free_names:
        if occ.name in known or (occ.name, occ.line, occ.col) in seen:
            continue
        seen.add((occ.name, occ.line, occ.col))
        if occ.name in _CONTEXT_HINTS:
            hint = "; " + _CONTEXT_HINTS[occ.name]
        elif state_keys is not None and occ.name in state_keys and "state" in known_names:
            hint = f"; did you mean 'state.{occ.name}'?"
        else:
            best = suggest(occ.name, sorted(known | result.local_names), cutoff=0.7)
            hint = f"; did you mean '{best}'?" if best else ""
        problems.append(
            TemplateProblem(
                "name",
                f"undefined name '{occ.name}' in template{hint}",
                occ.line,
                occ.col,
                occ.end_col,
                occ.name,
            )
        )
    if state_keys is not None and "state" in known_names:
        # A key guarded once (`is defined`, `| default`) is optional in the whole template.
        optional = {occ.name for occ, guarded in result.reads if guarded}
        for occ, _ in result.reads:
            if occ.name in state_keys or occ.name in optional:
                continue
            if occ.name == "parallel_results":
                message = "state key 'parallel_results' is only set in a fan-in node"
            else:
                message = (
                    f"state key '{occ.name}' is not declared in state_schema and no node "
                    f"provides it{_did_you_mean(occ.name, state_keys)}"
                )
            problems.append(
                TemplateProblem(
                    "state_key",
                    message,
                    occ.line,
                    occ.col,
                    occ.end_col,
                    occ.name,
                )
            )
    problems.sort(key=lambda p: (p.line, p.col or 0, p.kind))
    return problems


def state_reads(text: str, *, expression: bool) -> list[tuple[str, int, int | None]]:
    """``(key, line, col)`` of every ``state.<key>`` / ``state['key']`` read (1-based line).

    Reads inside ``is defined`` tests and ``| default`` filters are included; method calls
    such as ``state.get('x')`` are not. Empty when the template does not parse.
    """
    result = _analyze(text, expression and not has_markup(text))
    return [(occ.name, occ.line, occ.col) for occ, _ in result.reads]

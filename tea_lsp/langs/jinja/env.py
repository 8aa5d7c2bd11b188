"""The one sandboxed Jinja environment, with the limits every template runs under.

Limits (the same in the runner and the language server, both use this environment):

- **Time**: every rendering has a deadline (:func:`template_deadline`, else
  :data:`DEFAULT_TIMEOUT`). Loops, calls, attribute reads, operators and filters check it, so
  nested ``range`` loops, recursive macros or slow filters stop with a clean error.
- **Size**: no string or list a template builds may exceed :data:`MAX_OUTPUT` characters or
  items. Operations that can grow a value far beyond their inputs are checked *before* they
  allocate: ``~`` and ``+`` (doubling), ``*`` and ``**``, ``%`` formatting and ``str.format``
  (widths and precisions), the filters ``center``, ``indent``, ``join``, ``replace``,
  ``format``, ``wordwrap``, ``batch``, ``slice``, ``sum``, ``tojson``, the string methods
  ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``/``join``/``replace``/``translate``,
  ``lipsum``, printing a container and the rendered output itself.

A violation raises :class:`jinja2.exceptions.SecurityError`; the rendering functions turn it
into a :class:`TemplateError` like any other failure.

Missing keys: ``state.nope`` (or ``variables.nope``, ``state['nope']``, any dict) reads as a
:class:`MissingKey` that behaves like ``None`` — it prints ``None``, is false, equals ``None``,
passes ``is none``, iterates as empty — like TEA's Python engine. Unlike TEA it stays
*undefined* for ``is defined`` and ``| default(...)``, so those idioms keep working. Using it
further (``state.nope.x``, ``state.nope + 1``) fails with the key's name.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import BuiltinMethodType, MethodType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum

FALSY_STRINGS = frozenset({"", "false", "0", "no", "none"})
"""Rendered condition texts that count as false (compared stripped and case-insensitively)."""

MAX_OUTPUT = 10_000_000
"""Most characters of one string (or items of one list) a template may build."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a rendering may take when the caller set no deadline (the default Lua timeout)."""

_MAX_POWER_BITS = 100_000
_MAX_REPEAT_ITEMS = MAX_OUTPUT
_MAX_SLICES = 100_000
_MAX_JSON_INDENT = 100
_FILE = "<template>"
_DICT_METHODS = frozenset(dir(dict))


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


# --------------------------------------------------------------------------- the budget


class _Budget(threading.local):
    deadline: float | None = None
    limit: str = "its deadline"  # for the message: "its time limit of 30 s", ...


_budget = _Budget()


def tick() -> None:
    """Raise when the current rendering ran past its deadline."""
    deadline = _budget.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise SecurityError(f"the template ran past {_budget.limit}")


@contextmanager
def template_deadline(deadline: float | None, limit: str = "its deadline") -> Iterator[None]:
    """Renderings in this block (this thread) stop at ``deadline`` (``time.monotonic()``).

    ``limit`` names the limit in the error (``"the node's time limit of 5 s"``). ``None``
    keeps the enclosing deadline (else the default: :data:`DEFAULT_TIMEOUT` per rendering).
    Nested blocks keep the earlier of the two deadlines.
    """
    saved = (_budget.deadline, _budget.limit)
    if deadline is not None and (_budget.deadline is None or deadline < _budget.deadline):
        _budget.deadline = deadline
        _budget.limit = limit
    try:
        yield
    finally:
        _budget.deadline, _budget.limit = saved


@contextmanager
def rendering_budget(deadline: float | None) -> Iterator[None]:
    """The budget of one rendering: ``deadline``, else the enclosing one, else the default."""
    if deadline is None and _budget.deadline is None:
        limit = f"its time limit of {DEFAULT_TIMEOUT:g} s"
        with template_deadline(time.monotonic() + DEFAULT_TIMEOUT, limit):
            yield
        return
    with template_deadline(deadline):
        yield


def _too_large(what: str, size: int) -> SecurityError:
    return SecurityError(
        f"the result of {what} is too large: {size} characters or items, the limit is {MAX_OUTPUT}"
    )


def _check_size(what: str, size: int) -> None:
    if size > MAX_OUTPUT:
        raise _too_large(what, size)


def text_size(value: Any, limit: int = MAX_OUTPUT) -> int:
    """About ``len(str(value))``, counted without building it; stops once past ``limit``."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str | bytes | bytearray):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 24
        if total > limit:
            return total
    return total


def _check_text(what: str, value: Any) -> None:
    if not isinstance(value, str | int | float | bool | type(None)):
        _check_size(what, text_size(value))


def _check_result(what: str, value: Any) -> None:
    if isinstance(value, str | bytes | bytearray | list | tuple):
        _check_size(what, len(value))


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- missing keys


class MissingKey(jinja2.Undefined):
    """A key missing from a dict: reads like ``None`` (see the module docs)."""

    __slots__ = ()

    def __str__(self) -> str:
        return "None"

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, MissingKey)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)


def _is_none(value: Any) -> bool:
    return value is None or isinstance(value, MissingKey)


# --------------------------------------------------------------------------- formatting

_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])?")
_NUMBER = re.compile(r"\d+")


def _check_number_text(what: str, text: str) -> int:
    if len(text) > 9:
        raise _too_large(what, 10 ** min(len(text) - 1, 18))
    n = int(text)
    _check_size(what, n)
    return n


def _check_printf(what: str, fmt: str, args: Any) -> None:
    """``fmt % args`` stays within the size limit (checked before formatting)."""
    values = list(args) if isinstance(args, tuple) else [args]
    stars = [v for v in values if _as_int(v) is not None]
    total = len(fmt)
    for m in _PRINTF.finditer(fmt):
        for group in (m.group(1), m.group(2)):
            if group is None:
                continue
            if group == "*":
                total += max((abs(s) for s in stars), default=0)
            else:
                total += _check_number_text(what, group)
    for v in values:
        total += text_size(v.values() if isinstance(v, dict) else v)
    _check_size(what, total)


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` with widths, precisions and the total output bounded."""

    def __init__(self, env: jinja2.Environment) -> None:
        super().__init__(env)
        self.total = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        tick()
        width = sum(
            _check_number_text("str.format", m.group(0)) for m in _NUMBER.finditer(format_spec)
        )
        self.total += width + text_size(value)
        _check_size("str.format", self.total)
        return super().format_field(value, format_spec)


# --------------------------------------------------------------------------- filters


def _tojson(value: Any, indent: int | None = None) -> str:
    if isinstance(value, MissingKey):
        return "null"
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if indent is not None and (_as_int(indent) is None or indent > _MAX_JSON_INDENT):
        raise SecurityError(f"tojson: 'indent' must be an integer up to {_MAX_JSON_INDENT}")
    from tea_lsp.langs.jinja.render import to_data

    return json.dumps(to_data(value), indent=indent, ensure_ascii=False)


def _fromjson(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, str | bytes | bytearray):
        raise jinja2.TemplateRuntimeError(f"fromjson expects a string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise jinja2.TemplateRuntimeError(f"fromjson: invalid JSON: {exc}") from None


def _materialize(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict | jinja2.Undefined) or not isinstance(
        value, Iterable
    ):
        return value
    out = []
    for item in value:
        tick()
        out.append(item)
        _check_size("an iteration", len(out))
    return out


def _pre_center(args: list[Any], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 80)
    if _as_int(width) is not None:
        _check_size("'center'", width + text_size(args[0]))


def _pre_indent(args: list[Any], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 4)
    s = str(args[0]) if isinstance(args[0], str) else ""
    per_line = len(width) if isinstance(width, str) else (_as_int(width) or 0)
    _check_size("'indent'", text_size(args[0]) + (s.count("\n") + 1) * per_line)


def _pre_join(args: list[Any], kwargs: dict[str, Any]) -> None:
    args[0] = items = _materialize(args[0])
    sep = kwargs.get("d", args[1] if len(args) > 1 else "")
    if isinstance(items, list | tuple):
        _check_size("'join'", text_size(items) + len(items) * text_size(sep))


def _pre_replace(args: list[Any], kwargs: dict[str, Any]) -> None:
    s, old, new = [*args[0:3], None, None, None][:3]
    if not isinstance(s, str) or not isinstance(old, str) or not isinstance(new, str):
        return
    count = kwargs.get("count", args[3] if len(args) > 3 else None)
    _check_size("'replace'", _replace_size(s, old, new, count))


def _replace_size(s: str, old: str, new: str, count: Any) -> int:
    hits = s.count(old) if old else len(s) + 1
    if _as_int(count) is not None and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _pre_format(args: list[Any], kwargs: dict[str, Any]) -> None:
    if isinstance(args[0], str):
        _check_printf("'format'", args[0], kwargs or tuple(args[1:]))


def _pre_wordwrap(args: list[Any], kwargs: dict[str, Any]) -> None:
    s = args[0]
    width = kwargs.get("width", args[1] if len(args) > 1 else 79)
    wrap = kwargs.get("wrapstring", args[3] if len(args) > 3 else None)
    if isinstance(s, str) and isinstance(wrap, str) and _as_int(width) is not None:
        breaks = len(s) // max(1, width) + s.count("\n") + 1
        _check_size("'wordwrap'", len(s) + breaks * len(wrap))


def _pre_batch(args: list[Any], kwargs: dict[str, Any]) -> None:
    count = kwargs.get("linecount", args[1] if len(args) > 1 else 0)
    fill = kwargs.get("fill_with", args[2] if len(args) > 2 else None)
    if fill is not None and _as_int(count) is not None:
        _check_size("'batch'", count)


def _pre_slice(args: list[Any], kwargs: dict[str, Any]) -> None:
    count = kwargs.get("slices", args[1] if len(args) > 1 else 1)
    if _as_int(count) is not None and count > _MAX_SLICES:
        raise SecurityError(f"slice: at most {_MAX_SLICES} slices, got {count}")


def _pre_sum(args: list[Any], kwargs: dict[str, Any]) -> None:
    start = kwargs.get("start", args[2] if len(args) > 2 else 0)
    if isinstance(start, int | float):
        return
    args[0] = items = _materialize(args[0])
    if isinstance(items, list | tuple):
        sized = [len(i) for i in items if isinstance(i, str | list | tuple)]
        _check_size("'sum'", sum(sized) + text_size(start))


# Checks before a filter runs. They see the filter's value at index 0 and its arguments after
# it (without the environment or context some filters take first), and may replace them.
_PRE_CHECKS: dict[str, Callable[[list[Any], dict[str, Any]], None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "format": _pre_format,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "join": _pre_join,
    "replace": _pre_replace,
    "wordwrap": _pre_wordwrap,
    "sum": _pre_sum,
}
# Filters that never turn a whole container into text.
_STRUCTURAL = frozenset(
    {
        "attr", "batch", "count", "d", "default", "dictsort", "first", "groupby", "items",
        "join", "last", "length", "list", "map", "max", "min", "random", "reject",
        "rejectattr", "reverse", "select", "selectattr", "slice", "sort", "sum",
        "unique", "fromjson", "abs", "round", "int", "float", "bool", "xmlattr",
    }
)  # fmt: skip


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    takes_env = hasattr(func, "jinja_pass_arg")
    pre = _PRE_CHECKS.get(name)
    value_at = 1 if takes_env else 0
    what = f"'{name}'"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        vals = list(args[value_at:])
        if name not in _STRUCTURAL and vals:
            _check_text(what, vals[0])
        if pre is not None and vals:
            pre(vals, kwargs)
        result = func(*args[:value_at], *vals, **kwargs)
        _check_result(what, result)
        return result

    return guarded


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if any(_as_int(v) is None or v > 1000 for v in (n, min, max)):
        raise SecurityError("lipsum: 'n', 'min' and 'max' must be integers up to 1000")
    return generate_lorem_ipsum(n, html, min, max)


# --------------------------------------------------------------------------- environment


def _guarded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for n, item in enumerate(iterable, 1):
        if not n & 63:
            tick()
        yield item


class _TeaCodeGenerator(CodeGenerator):
    """``a ~ b`` joins through :meth:`TeaEnvironment.tea_join` (bounded)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.tea_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


_STR_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _check_str_method(
    obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Checks before calling a method of a ``str``/``bytes``; may materialize an argument."""
    s = obj.__self__
    name = obj.__name__
    what = f"'{name}'"
    if name in _STR_WIDTH_METHODS and args and _as_int(args[0]) is not None:
        _check_size(what, max(len(s), args[0]))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if _as_int(size) is not None:
            _check_size(what, len(s) + s.count("\t" if isinstance(s, str) else b"\t") * size)
    elif name == "join" and args:
        items = _materialize(args[0])
        if isinstance(items, list | tuple):
            _check_size(what, text_size(items) + len(items) * len(s))
        args = (items, *args[1:])
    elif name == "replace" and len(args) >= 2 and isinstance(s, str):
        if isinstance(args[0], str) and isinstance(args[1], str):
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            _check_size(what, _replace_size(s, args[0], args[1], count))
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _check_size(what, len(s) * max(1, longest))
    return args


class TeaEnvironment(ImmutableSandboxedEnvironment):
    """The sandboxed environment used everywhere templates are parsed or rendered."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _TeaCodeGenerator

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # every loop checks the deadline as it goes
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("tea_loop"), [loop.iter], [], None, None
            )
        return tree

    def tea_loop(self, iterable: Any) -> Any:
        if isinstance(iterable, jinja2.Undefined):
            return iterable
        return _guarded_iter(iterable)

    def tea_join(self, parts: Sequence[Any]) -> str:
        tick()
        total = 0
        for p in parts:
            total += len(p) if isinstance(p, str) else text_size(p)
            _check_size("'~'", total)
        return "".join([str(p) for p in parts])

    def concat(self, parts: Iterable[str]) -> str:
        """The rendered output (and every block's): bounded as it is produced."""
        out: list[str] = []
        total = 0
        for p in parts:
            total += len(p)
            if total > MAX_OUTPUT:
                raise _too_large("the template", total)
            out.append(p)
        return "".join(out)

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        if isinstance(obj, MissingKey):  # `state.nope.x | default(1)` works, as in TEA
            return self.undefined(hint=obj._undefined_message)
        # JSON-like state: `state.items` is the key "items" when it exists, not dict.items.
        if isinstance(obj, dict) and isinstance(attribute, str):
            if attribute in obj:
                return obj[attribute]
            if attribute not in _DICT_METHODS:
                return MissingKey(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        if isinstance(obj, MissingKey):
            return self.undefined(hint=obj._undefined_message)
        if (
            isinstance(obj, dict)
            and isinstance(argument, str)
            and argument not in obj
            and argument not in _DICT_METHODS
        ):
            return MissingKey(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str(_BoundedFormatter(env).vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if isinstance(__obj, BuiltinMethodType) and isinstance(
            getattr(__obj, "__self__", None), str | bytes
        ):
            args = _check_str_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_result(f"'{getattr(__obj, '__name__', 'call')}'", result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**" and _as_int(left) is not None and _as_int(right) is not None:
            if right > 0 and abs(left) > 1 and abs(left).bit_length() * right > _MAX_POWER_BITS:
                raise SecurityError("the result of '**' is too large")
        elif operator == "*":
            seq, times = (left, right) if _as_int(right) is not None else (right, left)
            sized = isinstance(seq, str | list | tuple) and _as_int(times) is not None
            if sized and len(seq) * times > _MAX_REPEAT_ITEMS:
                raise SecurityError("the result of '*' repetition is too large")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _check_size("'+'", len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _check_printf("'%'", left, right)
        return super().call_binop(context, operator, left, right)


_env_lock = threading.Lock()
_env: TeaEnvironment | None = None


def _finalize(value: Any) -> Any:
    _check_text("printing a value", value)
    return value


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
                finalize=_finalize,
            )
            created.filters["tojson"] = _tojson
            created.filters["fromjson"] = _fromjson
            for name, func in list(created.filters.items()):
                created.filters[name] = _guard_filter(name, func)
            created.tests["none"] = _is_none
            created.globals["lipsum"] = _lipsum
            _env = created
        return _env


def reset_locks_after_fork() -> None:
    """A lock held by another thread at fork time stays held in the child: replace it."""
    global _env_lock
    _env_lock = threading.Lock()


def known_filters() -> frozenset[str]:
    """Every filter name the environment knows."""
    return frozenset(environment().filters)


def known_tests() -> frozenset[str]:
    """Every test name (``x is <test>``) the environment knows."""
    return frozenset(environment().tests)


GLOBAL_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
"""Names every template may use besides its context (Jinja's globals)."""

UPSTREAM_NAMES = frozenset({"secrets", "settings", "data", "env", "checkpoint"})
"""Context names TEA's Python engine gives every template besides ``state``/``variables``."""


def has_markup(text: str) -> bool:
    """Does ``text`` contain Jinja markup (``{{``, ``{%`` or ``{#``)?"""
    return "{{" in text or "{%" in text or "{#" in text


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
AT_OFFSET = re.compile(r"\s+at (\d+)$")


def normalize_message(message: str) -> str:
    """Jinja's message in our style: lowercase start, sentences joined by ';', no offsets."""
    text = message.strip()
    for pattern, repl in _MESSAGE_REWRITES:
        text = pattern.sub(repl, text)
    text = AT_OFFSET.sub("", text)
    text = re.sub(r"\.\s+(?=\S)", "; ", text)
    text = text.rstrip(".").strip()
    return text[:1].lower() + text[1:]

"""The limits every template runs under: a deadline and a cap on what it builds.

- **Time**: every rendering has a deadline (:func:`template_deadline`, else
  :data:`DEFAULT_TIMEOUT`). Loops, calls, attribute reads, operators and filters check it
  (:func:`tick`), so nested ``range`` loops, recursive macros or slow filters stop with a
  clean error.
- **Size**: no string or list a template builds may exceed :data:`MAX_OUTPUT` characters or
  items. Operations that can grow a value far beyond their inputs are checked *before* they
  allocate: ``~`` and ``+`` (doubling), ``*`` and ``**``, ``%`` formatting and ``str.format``
  (widths and precisions), the filters ``center``, ``indent``, ``join``, ``replace``,
  ``format``, ``wordwrap``, ``batch``, ``slice``, ``sum``, ``tojson``, the string methods
  ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``/``join``/``replace``/``translate``,
  ``lipsum``, printing a container and the rendered output itself.

A violation raises :class:`jinja2.exceptions.SecurityError`; the rendering functions turn it
into a ``TemplateError`` like any other failure. The environment (:mod:`.env`) calls these.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum

MAX_OUTPUT = 10_000_000
"""Most characters of one string (or items of one list) a template may build."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a rendering may take when the caller set no deadline (the default Lua timeout)."""

MAX_POWER_BITS = 100_000
MAX_REPEAT_ITEMS = MAX_OUTPUT
_MAX_SLICES = 100_000
MAX_JSON_INDENT = 100


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


def too_large(what: str, size: int) -> SecurityError:
    return SecurityError(
        f"the result of {what} is too large: {size} characters or items, the limit is {MAX_OUTPUT}"
    )


def check_size(what: str, size: int) -> None:
    if size > MAX_OUTPUT:
        raise too_large(what, size)


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


def check_text(what: str, value: Any) -> None:
    if not isinstance(value, str | int | float | bool | type(None)):
        check_size(what, text_size(value))


def check_result(what: str, value: Any) -> None:
    if isinstance(value, str | bytes | bytearray | list | tuple):
        check_size(what, len(value))


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- formatting

_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])?")
_NUMBER = re.compile(r"\d+")


def _check_number_text(what: str, text: str) -> int:
    if len(text) > 9:
        raise too_large(what, 10 ** min(len(text) - 1, 18))
    n = int(text)
    check_size(what, n)
    return n


def check_printf(what: str, fmt: str, args: Any) -> None:
    """``fmt % args`` stays within the size limit (checked before formatting)."""
    values = list(args) if isinstance(args, tuple) else [args]
    stars = [v for v in values if as_int(v) is not None]
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
        total += text_size(list(v.values()) if isinstance(v, dict) else v)
    check_size(what, total)


class BoundedFormatter(SandboxedFormatter):
    """``str.format`` with widths, precisions and the total output bounded."""

    def __init__(self, env: jinja2.Environment) -> None:
        super().__init__(env)
        self.total = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:  # `{0!r}` builds the text before format_field sees it
            check_size("str.format", self.total + text_size(value))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        tick()
        width = sum(
            _check_number_text("str.format", m.group(0)) for m in _NUMBER.finditer(format_spec)
        )
        self.total += width + text_size(value)
        check_size("str.format", self.total)
        return super().format_field(value, format_spec)


# --------------------------------------------------------------------------- filters


def _materialize(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict | jinja2.Undefined) or not isinstance(
        value, Iterable
    ):
        return value
    out = []
    for item in value:
        tick()
        out.append(item)
        check_size("an iteration", len(out))
    return out


def _pre_center(args: list[Any], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 80)
    if as_int(width) is not None:
        check_size("'center'", width + text_size(args[0]))


def _pre_indent(args: list[Any], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 4)
    s = str(args[0]) if isinstance(args[0], str) else ""
    per_line = len(width) if isinstance(width, str) else (as_int(width) or 0)
    check_size("'indent'", text_size(args[0]) + (s.count("\n") + 1) * per_line)


def _pre_join(args: list[Any], kwargs: dict[str, Any]) -> None:
    args[0] = items = _materialize(args[0])
    sep = kwargs.get("d", args[1] if len(args) > 1 else "")
    if isinstance(items, list | tuple):
        check_size("'join'", text_size(items) + len(items) * text_size(sep))


def _pre_replace(args: list[Any], kwargs: dict[str, Any]) -> None:
    s, old, new = [*args[0:3], None, None, None][:3]
    if not isinstance(s, str) or not isinstance(old, str) or not isinstance(new, str):
        return
    count = kwargs.get("count", args[3] if len(args) > 3 else None)
    check_size("'replace'", _replace_size(s, old, new, count))


def _replace_size(s: Any, old: Any, new: Any, count: Any) -> int:
    hits = s.count(old) if old else len(s) + 1
    if as_int(count) is not None and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _pre_format(args: list[Any], kwargs: dict[str, Any]) -> None:
    if isinstance(args[0], str):
        check_printf("'format'", args[0], kwargs or tuple(args[1:]))


def _pre_wordwrap(args: list[Any], kwargs: dict[str, Any]) -> None:
    s = args[0]
    width = kwargs.get("width", args[1] if len(args) > 1 else 79)
    wrap = kwargs.get("wrapstring", args[3] if len(args) > 3 else None)
    if isinstance(s, str) and isinstance(wrap, str) and as_int(width) is not None:
        breaks = len(s) // max(1, width) + s.count("\n") + 1
        check_size("'wordwrap'", len(s) + breaks * len(wrap))


def _pre_batch(args: list[Any], kwargs: dict[str, Any]) -> None:
    count = kwargs.get("linecount", args[1] if len(args) > 1 else 0)
    fill = kwargs.get("fill_with", args[2] if len(args) > 2 else None)
    if fill is not None and as_int(count) is not None:
        check_size("'batch'", count)


def _pre_slice(args: list[Any], kwargs: dict[str, Any]) -> None:
    count = kwargs.get("slices", args[1] if len(args) > 1 else 1)
    if as_int(count) is not None and count > _MAX_SLICES:
        raise SecurityError(f"slice: at most {_MAX_SLICES} slices, got {count}")


def _pre_sum(args: list[Any], kwargs: dict[str, Any]) -> None:
    start = kwargs.get("start", args[2] if len(args) > 2 else 0)
    if isinstance(start, int | float):
        return
    args[0] = items = _materialize(args[0])
    if isinstance(items, list | tuple):
        sized = [len(i) for i in items if isinstance(i, str | list | tuple)]
        check_size("'sum'", sum(sized) + text_size(start))


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


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    takes_env = hasattr(func, "jinja_pass_arg")
    pre = _PRE_CHECKS.get(name)
    value_at = 1 if takes_env else 0
    what = f"'{name}'"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        vals = list(args[value_at:])
        if name not in _STRUCTURAL and vals:
            check_text(what, vals[0])
        if pre is not None and vals:
            pre(vals, kwargs)
        result = func(*args[:value_at], *vals, **kwargs)
        check_result(what, result)
        return result

    return guarded


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if any(as_int(v) is None or v > 1000 for v in (n, min, max)):
        raise SecurityError("lipsum: 'n', 'min' and 'max' must be integers up to 1000")
    return generate_lorem_ipsum(n, html, min, max)


def guarded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for n, item in enumerate(iterable, 1):
        if not n & 63:
            tick()
        yield item


_STR_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def check_str_method(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Checks before calling a method of a ``str``/``bytes``; may materialize an argument."""
    s = obj.__self__
    name = obj.__name__
    what = f"'{name}'"
    if name in _STR_WIDTH_METHODS and args and as_int(args[0]) is not None:
        check_size(what, max(len(s), args[0]))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if as_int(size) is not None:
            check_size(what, len(s) + s.count("\t" if isinstance(s, str) else b"\t") * size)
    elif name == "join" and args:
        items = _materialize(args[0])
        if isinstance(items, list | tuple):
            check_size(what, text_size(items) + len(items) * len(s))
        args = (items, *args[1:])
    elif name == "replace" and len(args) >= 2:
        kind = str if isinstance(s, str) else bytes
        if isinstance(args[0], kind) and isinstance(args[1], kind):
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            check_size(what, _replace_size(s, args[0], args[1], count))
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        check_size(what, len(s) * max(1, longest))
    return args

"""The one sandboxed Jinja environment, shared by the checker and the runner.

Every template runs under the limits of :mod:`.limits` (a deadline, a size cap on everything
it builds), wired into the environment's hooks: attribute and item reads, calls, operators,
``~``, loops, filters, ``str.format`` and the rendered output.

Missing keys: ``state.nope`` (or ``variables.nope``, ``state['nope']``, any dict) reads as a
:class:`MissingKey` that behaves like ``None`` — it prints ``None``, is false, equals ``None``,
passes ``is none``, iterates as empty — like TEA's Python engine. Unlike TEA it stays
*undefined* for ``is defined`` and ``| default(...)``, so those idioms keep working. Using it
further (``state.nope + 1``) fails with the key's name; ``state.nope.x`` is undefined.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from types import BuiltinMethodType, MethodType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tea_lsp.langs.jinja.limits import (
    MAX_JSON_INDENT,
    MAX_OUTPUT,
    MAX_POWER_BITS,
    MAX_REPEAT_ITEMS,
    BoundedFormatter,
    as_int,
    check_printf,
    check_result,
    check_size,
    check_str_method,
    check_text,
    guard_filter,
    guarded_iter,
    lipsum,
    text_size,
    tick,
    too_large,
)

FALSY_STRINGS = frozenset({"", "false", "0", "no", "none"})
"""Rendered condition texts that count as false (compared stripped and case-insensitively)."""

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


def _tojson(value: Any, indent: int | None = None) -> str:
    if isinstance(value, MissingKey):
        return "null"
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if indent is not None and (as_int(indent) is None or indent > MAX_JSON_INDENT):
        raise SecurityError(f"tojson: 'indent' must be an integer up to {MAX_JSON_INDENT}")
    from tea_lsp.langs.jinja.render import to_data

    return json.dumps(to_data(value), indent=indent, ensure_ascii=False)


def _json_filter(value: Any) -> str:
    """TEA's ``json`` filter: compact JSON (``tojson`` without an indent)."""
    return _tojson(value)


def _sha256(value: Any) -> str:
    """TEA's ``sha256`` filter: the hex SHA-256 of the value's text (UTF-8)."""
    if isinstance(value, jinja2.Undefined) and not isinstance(value, MissingKey):
        value._fail_with_undefined_error()
    text = "" if isinstance(value, MissingKey) else str(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _fromjson(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, str | bytes | bytearray):
        raise jinja2.TemplateRuntimeError(f"fromjson expects a string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise jinja2.TemplateRuntimeError(f"fromjson: invalid JSON: {exc}") from None


# --------------------------------------------------------------------------- environment


class _TeaCodeGenerator(CodeGenerator):
    """``a ~ b`` joins through :meth:`TeaEnvironment.tea_join` (bounded)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.tea_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


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
        return guarded_iter(iterable)

    def tea_join(self, parts: Sequence[Any]) -> str:
        tick()
        total = 0
        for p in parts:
            total += len(p) if isinstance(p, str) else text_size(p)
            check_size("'~'", total)
        return "".join([str(p) for p in parts])

    def concat(self, parts: Iterable[str]) -> str:
        """The rendered output (and every block's): bounded as it is produced."""
        out: list[str] = []
        total = 0
        for p in parts:
            total += len(p)
            if total > MAX_OUTPUT:
                raise too_large("the template", total)
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
            return str(BoundedFormatter(env).vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if isinstance(__obj, BuiltinMethodType) and isinstance(
            getattr(__obj, "__self__", None), str | bytes
        ):
            args = check_str_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        check_result(f"'{getattr(__obj, '__name__', 'call')}'", result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**" and as_int(left) is not None and as_int(right) is not None:
            if right > 0 and abs(left) > 1 and abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError("the result of '**' is too large")
        elif operator == "*":
            seq, times = (left, right) if as_int(right) is not None else (right, left)
            sized = isinstance(seq, str | list | tuple) and as_int(times) is not None
            if sized and len(seq) * times > MAX_REPEAT_ITEMS:
                raise SecurityError("the result of '*' repetition is too large")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                check_size("'+'", len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            check_printf("'%'", left, right)
        return super().call_binop(context, operator, left, right)


_env_lock = threading.Lock()
_env: TeaEnvironment | None = None


def _finalize(value: Any) -> Any:
    check_text("printing a value", value)
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
                # Jinja's constant folding writes a folded NaN or infinity into the compiled
                # code as the unknown name 'nan'/'inf'; unfolded, the value reaches our checks.
                optimized=False,
            )
            created.filters["tojson"] = _tojson
            created.filters["fromjson"] = _fromjson
            created.filters["json"] = _json_filter  # TEA's names for the same things
            created.filters["sha256"] = _sha256
            for name, func in list(created.filters.items()):
                created.filters[name] = guard_filter(name, func)
            created.tests["none"] = _is_none
            created.globals["lipsum"] = lipsum
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

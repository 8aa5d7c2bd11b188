"""A fast yes/no validator for the subset of JSON Schema 2020-12 the workflow schema uses.

The schema is compiled once into nested closures. ``compile_schema`` returns ``None`` when the
schema uses anything outside the subset, so callers fall back to the full validator. The
schema check runs this first and only asks ``jsonschema`` for the detailed errors of an
invalid document: most documents are valid, and this is many times faster.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, to_python

Predicate = Callable[[Any], bool]

# Keywords the full validator (``jsonschema``'s Draft 2020-12) enforces; any other keyword
# (editor hints such as ``patternErrorMessage``) has no effect on validity there, so none here
# either. Written out so that a clean document never imports ``jsonschema`` (a test compares
# it with ``Draft202012Validator.VALIDATORS``).
ENFORCED = frozenset(
    {
        "$dynamicRef",
        "$ref",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "contains",
        "dependentRequired",
        "dependentSchemas",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "if",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "prefixItems",
        "properties",
        "propertyNames",
        "required",
        "type",
        "unevaluatedItems",
        "unevaluatedProperties",
        "uniqueItems",
    }
)

# Enforced-looking keywords without effect on validity (annotations), or handled elsewhere.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "markdownDescription",
        "defaultSnippets",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",  # an annotation unless a format checker is configured (it is not)
        "then",  # handled with "if"
        "else",
    }
)


class Unsupported(Exception):
    """The schema uses a keyword or reference this compiler does not handle."""


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_type(x: Any, name: str) -> bool:
    if name == "string":
        return isinstance(x, str)
    if name == "object":
        return isinstance(x, dict)
    if name == "array":
        return isinstance(x, list)
    if name == "boolean":
        return isinstance(x, bool)
    if name == "null":
        return x is None
    if name == "number":
        return _is_number(x)
    if name == "integer":
        if isinstance(x, bool):
            return False
        return isinstance(x, int) or (isinstance(x, float) and x.is_integer())
    raise Unsupported(f"type {name!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a is None and b is None


def _freeze(x: Any) -> Hashable:
    """A hashable key equal for equal JSON values of the same Python types, and only for those.

    Every non-string value is paired with its type, so ``True``, ``1`` and ``1.0`` (equal and
    of equal hash in Python) stay apart; a string is its own key (it equals no other key).
    """
    t = type(x)
    if t is str:
        text: str = x
        return text
    if t is dict:
        return (dict, tuple([(k, _freeze(v)) for k, v in x.items()]))
    if t is list:
        return (list, tuple([_freeze(i) for i in x]))
    return (t, x)


_MEMO_SIZE = 4096


def _memoised(pred: Predicate) -> Predicate:
    """``pred`` with its results kept per value (bounded, least recently used first out).

    Used for array items that are whole definitions (the nodes and edges of a workflow): after
    an edit only the changed item is validated again. ``pred`` is a pure function of the value.
    """
    memo: OrderedDict[Hashable, bool] = OrderedDict()
    lock = threading.Lock()

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return pred(x)
        try:
            key = _freeze(x)
            hash(key)
        except TypeError:  # not plain data: no memo
            return pred(x)
        with lock:
            found = memo.get(key)
            if found is not None:
                memo.move_to_end(key)
                return found
        result = pred(x)
        with lock:
            memo[key] = result
            if len(memo) > _MEMO_SIZE:
                memo.popitem(last=False)
        return result

    return check


# JSON types that are one Python class: ``bool`` is not a string, object, array or null.
_SIMPLE_TYPES: dict[str, type] = {"string": str, "object": dict, "array": list}
# Keywords checked as one when a schema has ``type: string`` and only these.
_STRING_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern", "enum"})
# Keywords about an object's keys, checked in one pass when a schema has the first and last.
_OBJECT_KEYWORDS = frozenset({"properties", "patternProperties", "additionalProperties"})
_STRING = "string"  # _plan: the fused ``type: string`` check
_FUSED = " object"  # _plan: the fused properties/additionalProperties check (not a keyword)


def _plan(schema: Any) -> bool | str | list[str]:
    """How both compilers compile ``schema``: ``True``/``False`` for a constant schema,
    ``_STRING`` for one fused string check, else the keywords to check, in the schema's order,
    with ``_FUSED`` standing for ``properties`` + ``additionalProperties`` checked together."""
    if schema is True or schema is False:
        return bool(schema)
    if not isinstance(schema, Mapping):
        raise Unsupported("schema is not an object")
    enforced = [k for k in schema if k not in _ANNOTATIONS and k in ENFORCED]
    if (
        schema.get("type") == "string"
        and len(enforced) > 1
        and set(enforced) <= _STRING_KEYWORDS
        and all(isinstance(a, str) for a in schema.get("enum", ()))
    ):
        return _STRING
    if "properties" not in schema or "additionalProperties" not in schema:
        return enforced
    return [
        _FUSED if k == "properties" else k
        for k in enforced
        if k not in _OBJECT_KEYWORDS or k == "properties"
    ]


_T = TypeVar("_T")


def _all_of(checks: list[Callable[[_T], bool]]) -> Callable[[_T], bool]:
    """One predicate holding when every one of ``checks`` holds (data or tree predicates)."""

    def check(x: _T) -> bool:
        for c in checks:  # noqa: SIM110 - a loop: no generator per call (hot path)
            if not c(x):
                return False
        return True

    return check


def _any_of(checks: list[Callable[[_T], bool]]) -> Callable[[_T], bool]:
    """One predicate holding when one of ``checks`` holds (data or tree predicates)."""

    def check(x: _T) -> bool:
        for c in checks:  # noqa: SIM110 - a loop: no generator per call (hot path)
            if c(x):
                return True
        return False

    return check


def _object_parts(
    schema: Mapping[str, Any], compile: Callable[[Any], Callable[[_T], bool]]
) -> tuple[
    dict[str, Callable[[_T], bool]],
    list[tuple[re.Pattern[str], Callable[[_T], bool]]],
    Callable[[_T], bool] | None,
]:
    """The compiled ``properties``, ``patternProperties`` and ``additionalProperties`` of one
    schema (``None``: no additional property allowed), for :func:`_keys_hold`."""
    props = {k: compile(v) for k, v in schema["properties"].items()}
    pats = [(re.compile(p), compile(v)) for p, v in schema.get("patternProperties", {}).items()]
    extra_schema = schema["additionalProperties"]
    return props, pats, None if extra_schema is False else compile(extra_schema)


def _keys_hold(
    items: Iterable[tuple[str, _T]],
    props: Mapping[str, Callable[[_T], bool]],
    pats: list[tuple[re.Pattern[str], Callable[[_T], bool]]],
    extra: Callable[[_T], bool] | None,
) -> bool:
    """Whether every ``(key, value)`` of an object holds against its properties."""
    for k, v in items:
        p = props.get(k)
        if p is not None and not p(v):
            return False
        matched = False
        for rx, sub in pats:
            if rx.search(k):
                matched = True
                if not sub(v):
                    return False
        if p is not None or matched:
            continue
        if extra is None or not extra(v):
            return False
    return True


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.defs: dict[str, Predicate] = {}

    def ref(self, target: str) -> Predicate:
        prefix = "#/$defs/"
        if not target.startswith(prefix):
            raise Unsupported(f"$ref {target!r}")
        name = target[len(prefix) :]
        defs = self.root.get("$defs", {})
        if name not in defs or "/" in name or "~" in name:
            raise Unsupported(f"$ref {target!r}")
        if name not in self.defs:
            cell: list[Predicate] = []
            self.defs[name] = lambda x: cell[0](x)  # recursion: resolved after compiling
            compiled = self.compile(defs[name])
            cell.append(compiled)
            self.defs[name] = compiled  # later references call it directly
        return self.defs[name]

    def compile(self, schema: Any) -> Predicate:
        plan = _plan(schema)
        if isinstance(plan, bool):
            return (lambda x: True) if plan else (lambda x: False)
        if plan == _STRING:
            return self.string(schema)
        checks = [
            self.object_keys(schema) if key == _FUSED else self.keyword(key, schema[key], schema)
            for key in plan
        ]
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def keyword(self, key: str, value: Any, schema: Mapping[str, Any]) -> Predicate:
        method = getattr(self, "kw_" + key.replace("$", "_"), None)
        if method is None:
            raise Unsupported(f"keyword {key!r}")
        result: Predicate = method(value, schema)
        return result

    def string(self, schema: Mapping[str, Any]) -> Predicate:
        """``type: string`` with ``minLength``, ``maxLength``, ``pattern`` or string ``enum``
        as one check (the same answer as the separate ones)."""
        low = int(schema.get("minLength", 0))
        high = int(schema["maxLength"]) if "maxLength" in schema else None
        rx = re.compile(str(schema["pattern"])) if "pattern" in schema else None
        allowed = frozenset(schema["enum"]) if "enum" in schema else None

        def check(x: Any) -> bool:
            if not isinstance(x, str) or len(x) < low:
                return False
            if high is not None and len(x) > high:
                return False
            if rx is not None and rx.search(x) is None:
                return False
            return allowed is None or x in allowed

        return check

    def object_keys(self, schema: Mapping[str, Any]) -> Predicate:
        """``properties``, ``patternProperties`` and ``additionalProperties`` of one schema
        as one pass over an object's keys (the same answer as the three checks)."""
        props, pats, extra = _object_parts(schema, self.compile)

        def check(x: Any) -> bool:
            return not isinstance(x, dict) or _keys_hold(x.items(), props, pats, extra)

        return check

    # ---- keywords
    def kw__ref(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return self.ref(str(value))

    def kw_type(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        names = [value] if isinstance(value, str) else list(value)
        for n in names:
            _is_type(None, n)  # raises on unknown names
        if len(names) == 1:
            simple = _SIMPLE_TYPES.get(names[0])
            if simple is not None:  # the common case, without a call per type name
                return lambda x: isinstance(x, simple)
        if all(n in _SIMPLE_TYPES for n in names):  # e.g. ["string", "object"]: one isinstance
            classes = tuple(_SIMPLE_TYPES[n] for n in names)
            return lambda x: isinstance(x, classes)
        return lambda x: any(_is_type(x, n) for n in names)

    def kw_enum(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        allowed = list(value)
        if all(isinstance(a, str) for a in allowed):
            strings = frozenset(allowed)
            return lambda x: isinstance(x, str) and x in strings
        return lambda x: any(_equal(x, a) for a in allowed)

    def kw_const(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda x: _equal(x, value)

    def kw_pattern(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        rx = re.compile(str(value))
        return lambda x: not isinstance(x, str) or rx.search(x) is not None

    def kw_minLength(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        n = int(value)
        return lambda x: not isinstance(x, str) or len(x) >= n

    def kw_maxLength(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        n = int(value)
        return lambda x: not isinstance(x, str) or len(x) <= n

    def kw_minimum(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda x: not _is_number(x) or x >= value

    def kw_maximum(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda x: not _is_number(x) or x <= value

    def kw_exclusiveMinimum(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda x: not _is_number(x) or x > value

    def kw_exclusiveMaximum(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda x: not _is_number(x) or x < value

    def kw_minItems(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        n = int(value)
        return lambda x: not isinstance(x, list) or len(x) >= n

    def kw_maxItems(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        n = int(value)
        return lambda x: not isinstance(x, list) or len(x) <= n

    def kw_items(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        if "prefixItems" in schema:
            raise Unsupported("prefixItems")
        item = self.compile(value)
        if isinstance(value, Mapping) and "$ref" in value:
            memo = _memoised(item)
            plain = item

            def check(x: Any) -> bool:
                if not isinstance(x, list):
                    return True
                # a list longer than the memo would only churn it (each item a miss)
                return all(map(memo if len(x) <= _MEMO_SIZE else plain, x))

            return check
        return lambda x: not isinstance(x, list) or all(map(item, x))

    def kw_required(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        keys = list(value)
        if len(keys) == 1:  # the common case, without a generator per call
            key = keys[0]
            return lambda x: not isinstance(x, dict) or key in x
        return lambda x: not isinstance(x, dict) or all(k in x for k in keys)

    def kw_properties(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        props = {k: self.compile(v) for k, v in value.items()}

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for k, v in x.items():
                p = props.get(k)
                if p is not None and not p(v):
                    return False
            return True

        return check

    def kw_patternProperties(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        pats = [(re.compile(p), self.compile(s)) for p, s in value.items()]

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            return all(sub(v) for k, v in x.items() for rx, sub in pats if rx.search(k))

        return check

    def kw_additionalProperties(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        known = frozenset(schema.get("properties", {}))
        pats = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = self.compile(value)

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for k, v in x.items():
                if k in known or any(rx.search(k) for rx in pats):
                    continue
                if not extra(v):
                    return False
            return True

        return check

    def kw_anyOf(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return _any_of([self.compile(s) for s in value])

    def kw_allOf(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return _all_of([self.compile(s) for s in value])

    def kw_oneOf(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        subs = [self.compile(s) for s in value]
        return lambda x: sum(1 for s in subs if s(x)) == 1

    def kw_not(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        sub = self.compile(value)
        return lambda x: not sub(x)

    def kw_if(self, value: Any, schema: Mapping[str, Any]) -> Predicate:
        cond = self.compile(value)
        then = self.compile(schema.get("then", True))
        other = self.compile(schema.get("else", True))
        required = value.get("required") if isinstance(value, Mapping) else None
        if "else" in schema or not isinstance(required, list) or not required:
            return lambda x: then(x) if cond(x) else other(x)
        keys = list(required)

        def check(x: Any) -> bool:
            # ``if`` requires keys: an object without one of them fails it, and no ``else``
            # holds (the common case, without calling ``cond``)
            if isinstance(x, dict):
                for k in keys:
                    if k not in x:
                        return True
            return then(x) if cond(x) else True

        return check


def compile_schema(schema: Mapping[str, Any]) -> Predicate | None:
    """A predicate equivalent to validating against ``schema``, or ``None`` if unsupported."""
    try:
        return _Compiler(schema).compile(schema)
    except (Unsupported, re.error, TypeError, ValueError):
        return None


# ---- the same validation over the positioned YAML tree

NodePredicate = Callable[[YNode], bool]


def _is_str(n: YNode) -> bool:
    return type(n) is YScalar and isinstance(n.value, str)


_NODE_TYPES: dict[str, Callable[[YNode], bool]] = {
    "string": _is_str,
    "object": lambda n: type(n) is YMap,
    "array": lambda n: type(n) is YSeq,
}


class _NodeCompiler:
    """Predicates over ``YNode`` trees that answer as the data predicates answer for
    ``to_python`` of the tree, without making that data first (for a large file, about as
    long as validating it).

    The keywords the workflow schema uses most are checked on the tree; any other keyword,
    and any mapping whose keys ``to_python`` would not map one to one (a duplicated key, a
    null or non-scalar key), is checked by the data predicate on ``to_python`` of that node.
    """

    def __init__(self, root: Mapping[str, Any], memo_items: int) -> None:
        self.root = root
        self.data = _Compiler(root)
        self.defs: dict[str, NodePredicate] = {}
        self.memo_items = memo_items

    def ref(self, target: str) -> NodePredicate:
        self.data.ref(target)  # raises when unsupported
        name = target[len("#/$defs/") :]
        if name not in self.defs:
            cell: list[NodePredicate] = []
            self.defs[name] = lambda n: cell[0](n)  # recursion: resolved after compiling
            compiled = self.compile(self.root["$defs"][name])
            cell.append(compiled)
            self.defs[name] = compiled
        return self.defs[name]

    def fallback(self, pred: Predicate) -> NodePredicate:
        def check(n: YNode) -> bool:
            return pred(n.value if type(n) is YScalar else to_python(n))

        return check

    def compile(self, schema: Any) -> NodePredicate:
        plan = _plan(schema)
        if isinstance(plan, bool):
            return (lambda n: True) if plan else (lambda n: False)
        if plan == _STRING:
            return self.string(schema)
        checks: list[NodePredicate] = []
        for key in plan:
            if key == _FUSED:
                checks.append(self.object_keys(schema))
                continue
            method = getattr(self, "kw_" + key.replace("$", "_"), None)
            if method is None:
                checks.append(self.fallback(self.data.keyword(key, schema[key], schema)))
            else:
                checks.append(method(schema[key], schema))
        if not checks:
            return lambda n: True
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def string(self, schema: Mapping[str, Any]) -> NodePredicate:
        """``_Compiler.string`` on a scalar's value."""
        data = self.data.string(schema)

        def check(n: YNode) -> bool:
            return type(n) is YScalar and data(n.value)

        return check

    def object_keys(self, schema: Mapping[str, Any]) -> NodePredicate:
        props, pats, extra = _object_parts(schema, self.compile)
        data = self.data.object_keys(schema)

        def check(n: YNode) -> bool:
            if type(n) is not YMap:
                return True
            index = n._index
            if len(index) != len(n.pairs):
                return data(to_python(n))
            return _keys_hold(((k, p.value) for k, p in index.items()), props, pats, extra)

        return check

    # ---- keywords
    def kw__ref(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        return self.ref(str(value))

    def kw_type(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        data = self.data.kw_type(value, schema)  # raises on unknown names
        names = [value] if isinstance(value, str) else list(value)
        if len(names) == 1 and names[0] in _NODE_TYPES:
            return _NODE_TYPES[names[0]]
        if all(n in _NODE_TYPES for n in names):
            string, obj, arr = "string" in names, "object" in names, "array" in names

            def check(n: YNode) -> bool:
                t = type(n)
                if t is YMap:
                    return obj
                if t is YSeq:
                    return arr
                return string and isinstance(n.value, str)  # type: ignore[attr-defined]

            return check
        return self.fallback(data)

    def kw_properties(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        props = {k: self.compile(v) for k, v in value.items()}
        data = self.data.kw_properties(value, schema)

        def check(n: YNode) -> bool:
            if type(n) is not YMap:
                return True
            index = n._index
            if len(index) != len(n.pairs):
                return data(to_python(n))
            for k, pair in index.items():
                p = props.get(k)
                if p is not None and not p(pair.value):
                    return False
            return True

        return check

    def kw_required(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        keys = list(value)
        data = self.data.kw_required(value, schema)

        def check(n: YNode) -> bool:
            if type(n) is not YMap:
                return True
            index = n._index
            if len(index) != len(n.pairs):
                return data(to_python(n))
            for k in keys:  # noqa: SIM110 - a loop: no generator per call (hot path)
                if k not in index:
                    return False
            return True

        return check

    def kw_items(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        data = self.data.kw_items(value, schema)  # raises on prefixItems
        item = self.compile(value)
        # Items that are definitions: the data predicate keeps their results (an edit
        # validates the changed item only), up to a list of ``_MEMO_SIZE`` items.
        memoised = isinstance(value, Mapping) and "$ref" in value
        most = self.memo_items

        def check(n: YNode) -> bool:
            if type(n) is not YSeq:
                return True
            items = n.items
            if memoised and len(items) <= most:
                return data(to_python(n))
            return all(map(item, items))

        return check

    def kw_minItems(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        size = int(value)
        return lambda n: type(n) is not YSeq or len(n.items) >= size

    def kw_minLength(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        size = int(value)

        def check(n: YNode) -> bool:
            if type(n) is not YScalar:
                return True
            x = n.value
            return not isinstance(x, str) or len(x) >= size

        return check

    def kw_pattern(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        rx = re.compile(str(value))

        def check(n: YNode) -> bool:
            if type(n) is not YScalar:
                return True
            x = n.value
            return not isinstance(x, str) or rx.search(x) is not None

        return check

    def kw_enum(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        data = self.data.kw_enum(value, schema)
        if not all(isinstance(a, str) for a in value):
            return self.fallback(data)  # a list or mapping may be allowed too
        return lambda n: type(n) is YScalar and data(n.value)

    def kw_anyOf(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        return _any_of([self.compile(s) for s in value])

    def kw_allOf(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        return _all_of([self.compile(s) for s in value])

    def kw_if(self, value: Any, schema: Mapping[str, Any]) -> NodePredicate:
        cond = self.compile(value)
        then = self.compile(schema.get("then", True))
        other = self.compile(schema.get("else", True))
        required = value.get("required") if isinstance(value, Mapping) else None
        if "else" in schema or not isinstance(required, list) or not required:
            return lambda n: then(n) if cond(n) else other(n)
        keys = list(required)

        def check(n: YNode) -> bool:
            # ``if`` requires keys: a plain mapping without one of them fails it, and no
            # ``else`` holds (the common case, without calling ``cond``)
            if type(n) is YMap and len(n._index) == len(n.pairs):
                index = n._index
                for k in keys:
                    if k not in index:
                        return True
            return then(n) if cond(n) else True

        return check


def compile_node_schema(
    schema: Mapping[str, Any], memo_items: int = _MEMO_SIZE
) -> NodePredicate | None:
    """A predicate over a ``YNode`` tree equivalent to validating ``to_python`` of it against
    ``schema``, or ``None`` if unsupported. Lists of definitions of up to ``memo_items``
    items are validated as data, whose predicate keeps each item's result."""
    try:
        return _NodeCompiler(schema, memo_items).compile(schema)
    except (Unsupported, re.error, TypeError, ValueError):
        return None

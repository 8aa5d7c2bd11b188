"""TEA101–TEA106: validate each document against the workflow JSON schema.

Every schema error lands on the exact YAML node: unknown keys on the key, wrong types and
values on the value, missing keys on the parent key. ``anyOf``/``oneOf`` errors report the
best-matching branch's own error instead of every alternative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.schema_fast import (
    NodePredicate,
    Predicate,
    compile_node_schema,
    compile_schema,
)
from tea_lsp.checks.spans import first_line_span, head_span, value_span
from tea_lsp.diagnostics import Fix, Span, TextEdit
from tea_lsp.schema_file import load_schema
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, node_at_path, to_python
from tea_lsp.util import quote_list, show_value, suggest

if TYPE_CHECKING:  # imported when a document fails the fast check (start-up time)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

Path = list[str | int]

# Words used in messages for JSON types.
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}

_BLANK_PATTERN = r"\S"

# Lists whose items are workflow nodes, edges or goto rules (for "in node" etc.).
_ITEM_WORDS = {
    "nodes": "node",
    "steps": "node",
    "body": "node",
    "edges": "edge",
    "goto": "goto rule",
    "imports": "import",
}

# Keys of a ``while_loop`` node whose absence or range the graph check TEA211 reports.
_LOOP_KEYS = frozenset({"condition", "body", "max_iterations"})
_RANGE = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})

# Priority of value errors on one node: only the most telling one is reported.
_VALUE_PRIORITY = {
    "type": 0,
    "union-type": 0,
    "enum": 1,
    "const": 1,
    "pattern": 2,
    "minimum": 2,
    "maximum": 2,
    "exclusiveMinimum": 2,
    "exclusiveMaximum": 2,
    "minItems": 2,
    "minLength": 3,
    "blank": 4,
}


# Keys people write for another key, by the kind of mapping they sit in: edit distance cannot
# find these ('params' is closer to 'streams' than to 'with'). ``None``: any node.
_SYNONYMS: dict[str, dict[str, str]] = {
    "node": {
        "params": "with",
        "parameters": "with",
        "args": "with",
        "arguments": "with",
        "inputs": "with",
        "next": "goto",
        "then": "goto",
        "paths": "goto",
        "edges": "goto",
        "routes": "goto",
        "outputs": "output",
        "config": "with",
        "interrupt_before": "interrupt",
        "interrupt_after": "interrupt",
        "code": "run",
        "lang": "language",
        "use": "uses",
        "call": "uses",
    },
    "edge": {
        "source": "from",
        "target": "to",
        "targets_list": "to",
        "next": "to",
        "if": "when",
    },
    "workflow": {
        "interrupt_before": "config.interrupt_before",
        "interrupt_after": "config.interrupt_after",
        "checkpoint_dir": "config.checkpoint_dir",
        "raise_exceptions": "config.raise_exceptions",
        "vars": "variables",
        "state": "initial_state",
        "schema": "state_schema",
        "steps": "nodes",
    },
}
# Keys written for ``with`` (the action then receives none of these arguments).
WITH_SYNONYMS = frozenset(k for k, v in _SYNONYMS["node"].items() if v == "with")
# Keys that mean ``with`` only on a node that runs an action.
_ACTION_ONLY = frozenset({"inputs", "config"})


def _close_enough(key: str, candidate: str) -> bool:
    """A did-you-mean is shown only for a small edit: a suggestion farther away than a couple
    of typos misleads more than it helps ('checkpoint' is not 'endpoint')."""
    limit = 1 if len(key) <= 4 else 2
    return _distance(key.lower(), candidate.lower()) <= limit


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def suggest_key(word: str, key: str, candidates: list[str], instance: Any) -> str | None:
    """The key the user most likely meant: a known synonym, else a close spelling."""
    table = _SYNONYMS.get(word, {})
    meant = table.get(key) or table.get(key.lower())
    if meant is not None:
        is_action = isinstance(instance, dict) and ("uses" in instance or "action" in instance)
        if key not in _ACTION_ONLY or is_action:
            return meant
    best = suggest(key, candidates)
    if best is not None and _close_enough(key, best):
        return best
    return None


@cache
def validator() -> Draft202012Validator:
    """The workflow schema validator, built once per process."""
    from jsonschema import Draft202012Validator

    schema = load_schema()
    return Draft202012Validator(schema)


@cache
def fast_validator() -> Predicate | None:
    """A compiled yes/no validator of the same schema (``None``: use ``validator()``)."""
    return compile_schema(load_schema())


@cache
def fast_tree_validator() -> NodePredicate | None:
    """``fast_validator`` over the YAML tree itself (no plain data made first)."""
    return compile_node_schema(load_schema())


def _path(err: ValidationError) -> Path:
    return list(err.absolute_path)


def _schema(err: ValidationError) -> Mapping[str, Any]:
    """The (sub)schema an error comes from; empty for boolean schemas."""
    return err.schema if isinstance(err.schema, Mapping) else {}


def _expected(err: ValidationError) -> Any:
    """The keyword's value in the schema (``validator_value``), untyped."""
    value: Any = err.validator_value
    return value


def _got(value: Any) -> str:
    """How to name the value a user wrote, for "got ..."."""
    return "a string" if isinstance(value, str) else show_value(value)


def _or_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _and_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _type_words(types: Iterable[str]) -> str:
    return _or_list([_TYPE_WORDS.get(t, t) for t in dict.fromkeys(types)])


def subject(path: Path) -> str:
    """The thing a value error is about: ``'nodes'``, ``each item of 'goto'``."""
    if not path:
        return "the workflow"
    last = path[-1]
    if isinstance(last, str):
        return f"'{last}'"
    parent = path[-2] if len(path) >= 2 else None
    return f"each item of '{parent}'" if isinstance(parent, str) else "each item"


def _for(path: Path) -> str:
    """`` for 'type'`` / `` in 'interrupt_before'`` after ``invalid value X``."""
    if not path:
        return ""
    last = path[-1]
    if isinstance(last, str):
        return f" for '{last}'"
    parent = path[-2] if len(path) >= 2 else None
    return f" in '{parent}'" if isinstance(parent, str) else ""


def context_word(path: Path) -> str:
    """What kind of mapping sits at ``path``: ``workflow``, ``node``, ``'settings.lua'``..."""
    if not path:
        return "workflow"
    last = path[-1]
    if isinstance(last, int):
        parent = path[-2] if len(path) >= 2 else None
        if isinstance(parent, str) and parent in _ITEM_WORDS:
            return _ITEM_WORDS[parent]
        return f"item of '{parent}'" if isinstance(parent, str) else "list item"
    tail: list[str] = []
    for step in reversed(path):
        if not isinstance(step, str):
            break
        tail.append(step)
    return "'" + ".".join(reversed(tail)) + "'"


def _number_noun(schema: Mapping[str, Any]) -> str:
    t = schema.get("type")
    return "an integer" if t == "integer" or t == ["integer"] else "a number"


def _range_text(schema: Mapping[str, Any]) -> str:
    noun = _number_noun(schema)
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if lo is not None and hi is not None:
        return f"{noun} from {lo} to {hi}"
    parts: list[str] = []
    if lo is not None:
        parts.append(f"of at least {lo}")
    if xlo is not None:
        parts.append(f"greater than {xlo}")
    if hi is not None:
        parts.append(f"of at most {hi}")
    if xhi is not None:
        parts.append(f"less than {xhi}")
    return f"{noun} " + " and ".join(parts)


def _pattern_text(pattern: str, schema: Mapping[str, Any]) -> str:
    """What a pattern expects: the schema's ``patternErrorMessage`` (an editor hint that
    reads "expected ..."), else the pattern itself."""
    hint = schema.get("patternErrorMessage")
    if isinstance(hint, str) and hint.startswith("expected "):
        return hint[len("expected ") :]
    return f"a value matching '{pattern}'"


def _is_loop_node(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "while_loop"


@dataclass(slots=True)
class _Emitter:
    """Turns schema errors into diagnostics, keeping one per node and reason."""

    ctx: CheckContext
    root: YMap
    instance: Any
    # node id -> (priority, code, span, message, fix)
    values: dict[int, tuple[int, str, Span, str]] = field(default_factory=dict)
    # mapping id -> (span, word, missing keys)
    required: dict[int, tuple[Span, str, list[str], YNode | None]] = field(default_factory=dict)
    # mapping id -> keys suggested by unknown keys of that mapping
    suggested: dict[int, set[str]] = field(default_factory=dict)
    unknown: dict[int, None] = field(default_factory=dict)
    other: dict[tuple[Span, str], None] = field(default_factory=dict)

    # ---- dispatch
    def handle(self, err: ValidationError) -> None:
        kind = err.validator
        if kind in ("anyOf", "oneOf"):
            self._union(err)
        elif kind == "additionalProperties" and _schema(err).get("additionalProperties") is False:
            self._unknown_keys(err)
        elif kind == "required":
            self._required(err)
        elif kind == "type":
            types = _expected(err)
            names = [types] if isinstance(types, str) else list(types)
            self._type(_path(err), names, err.instance)
        elif kind in ("enum", "const"):
            self._enum(err)
        elif kind == "pattern":
            self._pattern(err)
        elif kind in _RANGE:
            self._range(err)
        elif kind == "minItems":
            self._min_items(err)
        elif kind == "minLength":
            self._min_length(err)
        else:
            self._other(err)

    # ---- helpers
    def _value(self, path: Path) -> tuple[YNode | None, Span | None]:
        value, key = node_at_path(self.root, path)
        return value, value_span(value, key, self.ctx.lines)

    def _put_value(self, path: Path, priority: int, code: str, message: str) -> None:
        value, span = self._value(path)
        if span is None:
            return
        ident = id(value) if value is not None else hash(tuple(path))
        current = self.values.get(ident)
        if current is None or priority < current[0]:
            self.values[ident] = (priority, code, span, message)

    def _parent_instance(self, path: Path) -> Any:
        cur: Any = self.instance
        for step in path[:-1]:
            try:
                cur = cur[step]
            except (KeyError, IndexError, TypeError):
                return None
        return cur

    # ---- error kinds
    def _union(self, err: ValidationError) -> None:
        path = _path(err)
        if not err.context:
            self._other(err, f"{subject(path)} matches more than one allowed form")
            return
        groups: dict[Any, list[ValidationError]] = {}
        for c in err.context:
            groups.setdefault(c.relative_schema_path[0], []).append(c)

        def root_type(c: ValidationError) -> bool:
            return c.validator == "type" and not c.relative_path

        fitting = [g for g in groups.values() if not any(root_type(c) for c in g)]
        if not fitting:
            types: list[str] = []
            for g in groups.values():
                for c in g:
                    if root_type(c):
                        v = _expected(c)
                        types.extend([v] if isinstance(v, str) else v)
            self._type(path, types, err.instance)
            return

        def score(g: list[ValidationError]) -> tuple[int, int, int]:
            mismatched = sum(
                1 for c in g if c.validator in ("const", "enum") and len(c.relative_path) == 1
            )
            depth = max(len(c.relative_path) for c in g)
            return (mismatched, len(g), -depth)

        for c in min(fitting, key=score):
            self.handle(c)

    def _unknown_keys(self, err: ValidationError) -> None:
        path = _path(err)
        instance = err.instance
        if not isinstance(instance, dict):
            return
        props = _schema(err).get("properties", {})
        patterns = list(_schema(err).get("patternProperties", {}))
        extras = [
            k
            for k in instance
            if k not in props and not any(re.search(p, str(k)) for p in patterns)
        ]
        mapping, _ = node_at_path(self.root, path)
        if not isinstance(mapping, YMap):
            return
        candidates = [p for p in props if p not in instance]
        word = context_word(path)
        for key in extras:
            pair = mapping.pair(str(key))
            if pair is None or id(pair.key) in self.unknown:
                continue
            self.unknown[id(pair.key)] = None
            best = suggest_key(word, str(key), candidates, instance)
            if best is not None and best in instance:
                best = None  # the key it stands for is there already: a second value
            written = pair.key.value if isinstance(pair.key, YScalar) else key
            shown = show_value(written) if isinstance(written, bool) else f"'{key}'"
            message = f"unknown key {shown} in {word}"
            fix: Fix | None = None
            if best is not None:
                message += f"; did you mean '{best}'?"
                self.suggested.setdefault(id(mapping), set()).add(best)
                new = best
                if isinstance(pair.key, YScalar) and pair.key.style in ("'", '"'):
                    new = f"{pair.key.style}{best}{pair.key.style}"
                if "." not in best:  # 'config.interrupt_before' is a move, not a rename
                    fix = Fix(f"Replace '{key}' with '{best}'", (TextEdit(pair.key.span, new),))
            elif 0 < len(props) <= 8:
                message += f"; expected one of {quote_list(props)}"
            span = first_line_span(pair.key.span, self.ctx.lines)
            self.ctx.report("TEA101", span, message, fix=fix)

    def _required(self, err: ValidationError) -> None:
        path = _path(err)
        instance = err.instance
        if not isinstance(instance, dict):
            return
        missing = [k for k in _expected(err) if k not in instance]
        if "then" in err.relative_schema_path and _is_loop_node(instance):
            missing = [k for k in missing if k not in _LOOP_KEYS]  # reported by TEA211
        if not missing:
            return
        mapping, key = node_at_path(self.root, path)
        if mapping is None:
            return
        if not path or isinstance(path[-1], int) or key is None:
            span = head_span(mapping, self.ctx.lines)
        else:
            span = first_line_span(key.span, self.ctx.lines)
        entry = self.required.get(id(mapping))
        if entry is None:
            self.required[id(mapping)] = (span, context_word(path), missing, mapping)
        else:
            entry[2].extend(k for k in missing if k not in entry[2])

    def _type(self, path: Path, types: list[str], instance: Any) -> None:
        if not path:
            return  # the root is not a mapping: TEA004 already says so
        message = f"{subject(path)} must be {_type_words(types)}, got {_got(instance)}"
        self._put_value(path, _VALUE_PRIORITY["type"], "TEA102", message)

    def _enum(self, err: ValidationError) -> None:
        path = _path(err)
        expected_value = _expected(err)
        allowed = [expected_value] if err.validator == "const" else list(expected_value)
        expected = (
            f"expected {show_value(allowed[0])}"
            if len(allowed) == 1
            else f"expected one of {', '.join(show_value(a) for a in allowed)}"
        )
        message = f"invalid value {show_value(err.instance)}{_for(path)}; {expected}"
        if isinstance(err.instance, str):
            best = suggest(err.instance, [a for a in allowed if isinstance(a, str)])
            if best is not None:
                message += f"; did you mean '{best}'?"
        self._put_value(path, _VALUE_PRIORITY["enum"], "TEA103", message)

    def _pattern(self, err: ValidationError) -> None:
        path = _path(err)
        pattern = str(_expected(err))
        if pattern == _BLANK_PATTERN:
            message = f"{subject(path)} must not be blank"
            self._put_value(path, _VALUE_PRIORITY["blank"], "TEA105", message)
            return
        message = (
            f"invalid value {show_value(err.instance)}{_for(path)}; "
            f"expected {_pattern_text(pattern, _schema(err))}"
        )
        self._put_value(path, _VALUE_PRIORITY["pattern"], "TEA103", message)

    def _range(self, err: ValidationError) -> None:
        path = _path(err)
        if path and path[-1] == "max_iterations" and _is_loop_node(self._parent_instance(path)):
            return  # TEA211 reports the loop bound
        expected = _range_text(_schema(err))
        message = f"invalid value {show_value(err.instance)}{_for(path)}; expected {expected}"
        self._put_value(path, _VALUE_PRIORITY["minimum"], "TEA103", message)

    def _min_items(self, err: ValidationError) -> None:
        path = _path(err)
        n = int(_expected(err))
        count = len(err.instance) if isinstance(err.instance, list) else 0
        items = "item" if n == 1 else "items"
        if count == 0:
            message = f"{subject(path)} must not be empty; expected at least {n} {items}"
        else:
            message = f"{subject(path)} must have at least {n} {items}, got {count}"
        self._put_value(path, _VALUE_PRIORITY["minItems"], "TEA103", message)

    def _min_length(self, err: ValidationError) -> None:
        path = _path(err)
        n = int(_expected(err))
        if n == 1:
            message = f"{subject(path)} must not be empty"
        else:
            message = f"{subject(path)} must be at least {n} characters long"
        self._put_value(path, _VALUE_PRIORITY["minLength"], "TEA105", message)

    def _other(self, err: ValidationError, message: str | None = None) -> None:
        path = _path(err)
        if message is None:
            text = err.message
            message = f"{subject(path)} is invalid: {text[:1].lower()}{text[1:]}"
        _, span = self._value(path)
        if span is None:
            span = head_span(self.root, self.ctx.lines)
        self.other[(span, message)] = None

    # ---- output
    def flush(self) -> None:
        for _, code, span, message in self.values.values():
            self.ctx.report(code, span, message)
        for ident, (span, word, missing, _) in self.required.items():
            missing = [k for k in missing if k not in self.suggested.get(ident, set())]
            if not missing:
                continue
            keys = _and_list([f"'{k}'" for k in missing])
            plural = "s" if len(missing) > 1 else ""
            self.ctx.report("TEA104", span, f"missing required key{plural} {keys} in {word}")
        for span, message in self.other:
            self.ctx.report("TEA105", span, message)


def check(ctx: CheckContext) -> None:
    root = ctx.doc.root
    if not isinstance(root, YMap):
        return
    fast_tree = fast_tree_validator()
    suggested: set[str] = set()
    if fast_tree is None or not fast_tree(root):
        instance = to_python(root)
        emitter = _Emitter(ctx, root, instance)
        fast = fast_validator()
        if fast is None or not fast(instance):  # detailed errors only for invalid documents
            for err in validator().iter_errors(instance):
                emitter.handle(err)
            emitter.flush()
        suggested = emitter.suggested.get(id(root), suggested)
    if "name" not in root and "name" not in suggested:
        ctx.report(
            "TEA106",
            head_span(root, ctx.lines),
            "the workflow has no 'name'; add one, the Rust runtime requires it",
        )

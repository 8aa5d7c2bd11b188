"""TEA501–TEA504: ``uses:`` names and ``with:`` arguments checked against the action registry.

TEA501 unknown action (did-you-mean; a warning for names of upstream actions tea-lsp does not
provide, which the runner refuses), TEA502 unknown argument (on the key), TEA503 missing
required argument (on the ``uses`` value), TEA504 wrong literal type (on the value; values
containing a template are not type-checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span, value_span
from tea_lsp.diagnostics import Severity
from tea_lsp.engine.actions.registry import ActionSpec, default_registry
from tea_lsp.model.workflow import Node
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, to_python
from tea_lsp.util import did_you_mean, quote_list, show_value, suggest

# Namespaces of upstream actions that tea-lsp does not provide: valid files, not runnable here.
UPSTREAM_NAMESPACES = frozenset(
    {
        "a2a",
        "actions",
        "agent",
        "auth",
        "cache",
        "checkpoint",
        "code",
        "data",
        "embedding",
        "graph",
        "llm",
        "ltm",
        "mcp",
        "memory",
        "notify",
        "planning",
        "rag",
        "reasoning",
        "secrets",
        "session",
        "storage",
        "text",
        "tools",
        "trace",
        "vector",
        "web",
    }
)

_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _has_template(node: YNode) -> bool:
    if isinstance(node, YScalar):
        return isinstance(node.value, str) and ("{{" in node.value or "{%" in node.value)
    if isinstance(node, YSeq):
        return any(_has_template(i) for i in node.items)
    if isinstance(node, YMap):
        return any(_has_template(p.value) for p in node.pairs)
    return False


def _expected(schema: Mapping[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, str):
        return _TYPE_NAMES.get(t, t)
    if isinstance(t, list) and t:
        return " or ".join(_TYPE_NAMES.get(str(x), str(x)) for x in t)
    return None


def _check_with(ctx: CheckContext, node: Node, spec: ActionSpec) -> None:
    props = spec.properties
    given: set[str] = set()
    if node.with_args is not None:
        for pair in node.with_args.pairs:
            key = pair.key_text
            if key is None:
                continue
            given.add(key)
            if key not in props:
                if spec.open_arguments:
                    continue
                hint = did_you_mean(key, props)
                if not hint:
                    hint = f"; expected one of {quote_list(props)}" if props else ""
                ctx.report(
                    "TEA502",
                    first_line_span(pair.key.span, ctx.lines),
                    f"unknown argument '{key}' for action '{spec.name}'{hint}",
                )
                continue
            if _has_template(pair.value):
                continue
            _check_type(ctx, spec, key, pair.key, pair.value, props[key])
    missing = [r for r in spec.required if r not in given]
    if missing and node.uses_span is not None:
        names = quote_list(missing)
        noun = "argument" if len(missing) == 1 else "arguments"
        ctx.report(
            "TEA503",
            node.uses_span,
            f"action '{spec.name}' needs the {noun} {names} under 'with'",
        )


def _check_type(
    ctx: CheckContext, spec: ActionSpec, key: str, key_node: YNode, value: YNode, schema: Any
) -> None:
    if not isinstance(schema, Mapping):
        return
    data = to_python(value)
    validator = jsonschema.Draft202012Validator(dict(schema))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    target = value
    for part in error.path:  # point at the nested value that is wrong
        if isinstance(target, YMap) and isinstance(part, str) and target.get(part) is not None:
            target = target.get(part)  # type: ignore[assignment]
        elif isinstance(target, YSeq) and isinstance(part, int) and part < len(target.items):
            target = target.items[part]
        else:
            break
    span = value_span(target, key_node, ctx.lines) or first_line_span(target.span, ctx.lines)
    expected = _expected(schema)
    if error.validator == "type" and expected is not None and not error.path:
        message = (
            f"argument '{key}' of action '{spec.name}' expects {expected}, got {show_value(data)}"
        )
    else:
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
        message = f"argument '{key}{where}' of action '{spec.name}': {error.message}"
    ctx.report("TEA504", span, message)


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    registry = default_registry()
    names = registry.names()
    for node in wf.all_nodes():
        if node.uses is None or node.uses_span is None:
            continue
        spec = registry.get(node.uses)
        if spec is None:
            namespace = node.uses.split(".", 1)[0]
            close = suggest(node.uses, names)
            if close is None and namespace in UPSTREAM_NAMESPACES:
                ctx.report(
                    "TEA501",
                    node.uses_span,
                    f"action '{node.uses}' is an upstream action that tea-lsp does not provide; "
                    "the tea-lsp runner cannot run this workflow",
                    severity=Severity.WARNING,
                )
            else:
                ctx.report(
                    "TEA501",
                    node.uses_span,
                    f"unknown action '{node.uses}'{did_you_mean(node.uses, names)}",
                )
            continue
        _check_with(ctx, node, spec)

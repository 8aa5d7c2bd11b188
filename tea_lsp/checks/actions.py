"""TEA501–TEA505: ``uses:`` names and ``with:`` arguments checked against the action catalogue.

TEA501 unknown action: no engine (tea-lsp, TEA's Python or Rust engine) and no installed plugin
provides it (did-you-mean); TEA505 (info) the action is TEA's and the tea-lsp runner does not
provide it; TEA502 unknown argument (on the key), TEA503 missing required argument (on the
``uses`` value), TEA504 wrong literal type (on the value; values containing a template are not
type-checked) — where the catalogue or the plugin gives a schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tea_lsp.catalog import (
    ArgumentSchema,
    Catalog,
    catalog,
    plugin_actions,
    test_actions_enabled,
)
from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.schema import WITH_SYNONYMS
from tea_lsp.checks.schema_fast import Predicate, compile_schema
from tea_lsp.checks.spans import first_line_span, value_span
from tea_lsp.diagnostics import Fix, Span, TextEdit
from tea_lsp.model.workflow import Node
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, to_python
from tea_lsp.util import did_you_mean, quote_list, show_value, suggest

_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _rename(span: Span, old: str, candidates: Iterable[str], lines: LineIndex) -> Fix | None:
    """Replace ``old`` at ``span`` by its did-you-mean, when the span holds exactly ``old``."""
    best = suggest(old, candidates)
    if best is None or span.start_line != span.end_line:
        return None
    src = lines.line(span.start_line)[span.start_col : span.end_col]
    quote = src[0] if len(src) >= 2 and src[0] == src[-1] and src[0] in "'\"" else ""
    if src != f"{quote}{old}{quote}":
        return None
    return Fix(f"Replace '{old}' with '{best}'", (TextEdit(span, f"{quote}{best}{quote}"),))


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


class _Spec:
    """An argument schema read once: its properties, required names and openness."""

    __slots__ = ("open", "props", "required", "schema", "spec")

    def __init__(self, spec: ArgumentSchema) -> None:
        self.spec = spec
        self.schema = spec.schema
        self.props = spec.properties
        self.required = tuple(spec.required)
        self.open = spec.open_arguments


_SPECS: dict[tuple[str, int], _Spec] = {}


def _spec(name: str, schema: Mapping[str, Any]) -> _Spec:
    """The prepared schema of action ``name`` (kept per name and schema object)."""
    found = _SPECS.get((name, id(schema)))
    if found is not None and found.schema is schema:
        return found
    if len(_SPECS) > 4096:
        _SPECS.clear()
    found = _SPECS[(name, id(schema))] = _Spec(ArgumentSchema(name, schema))
    return found


def _check_with(ctx: CheckContext, node: Node, prepared: _Spec) -> None:
    spec = prepared.spec
    props = prepared.props
    required = prepared.required
    given: set[str] | None = set() if required else None
    if node.with_args is not None:
        for pair in node.with_args.pairs:
            k = pair.key
            if not isinstance(k, YScalar) or k.value is None:
                continue
            key = str(k.value)
            if given is not None:
                given.add(key)
            if key not in props:
                if prepared.open:
                    continue
                hint = did_you_mean(key, props)
                if not hint:
                    hint = f"; expected one of {quote_list(props)}" if props else ""
                ctx.report(
                    "TEA502",
                    first_line_span(pair.key.span, ctx.lines),
                    f"unknown argument '{key}' for action '{spec.name}'{hint}",
                    fix=_rename(pair.key.span, key, props, ctx.lines),
                )
                continue
            if _has_template(pair.value):
                continue
            _check_type(ctx, spec, key, pair.key, pair.value, props[key])
    if given is None:
        return
    missing = [r for r in required if r not in given]
    if node.with_args is None and any(k in node.ymap for k in WITH_SYNONYMS):
        missing = []  # 'params:' and the like: TEA101 already points at 'with'
    if missing and node.uses_span is not None:
        names = quote_list(missing)
        noun = "argument" if len(missing) == 1 else "arguments"
        ctx.report(
            "TEA503",
            node.uses_span,
            f"action '{spec.name}' needs the {noun} {names} under 'with'",
        )


_FAST: dict[int, tuple[Mapping[str, Any], Predicate | None]] = {}


def _fast_validator(schema: Mapping[str, Any]) -> Predicate | None:
    """A compiled yes/no validator of an argument schema, kept per schema object."""
    found = _FAST.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    fast = compile_schema(dict(schema))
    if len(_FAST) > 4096:
        _FAST.clear()
    _FAST[id(schema)] = (schema, fast)
    return fast


def _check_type(
    ctx: CheckContext, spec: ArgumentSchema, key: str, key_node: YNode, value: YNode, schema: Any
) -> None:
    if not isinstance(schema, Mapping):
        return
    data = to_python(value)
    fast = _fast_validator(schema)
    if fast is not None and fast(data):
        return  # valid: ``jsonschema`` (slow to import) only explains failures
    import jsonschema

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


def _check_action_arguments(
    ctx: CheckContext, node: Node, args: tuple[str, ...], cat: Catalog
) -> None:
    """Arguments that name another action (``retry.loop``'s ``validate``)."""
    assert node.with_args is not None and node.uses is not None
    for arg in args:
        value = node.with_args.get(arg)
        if not isinstance(value, YScalar) or not isinstance(value.value, str):
            continue
        name = value.value
        if _has_template(value) or name in cat or name in plugin_actions().schemas:
            continue
        known = known_names(cat)
        hint = did_you_mean(name, known) or "; no engine or installed plugin has it"
        ctx.report(
            "TEA501",
            first_line_span(value.span, ctx.lines),
            f"unknown action '{name}' in '{arg}' of '{node.uses}'{hint}",
            fix=_rename(value.span, name, known, ctx.lines),
        )


def known_names(cat: Catalog | None = None) -> list[str]:
    """Every action name some engine or installed plugin provides."""
    cat = cat or catalog()
    names = set(cat.names(test_actions_enabled()))
    names.update(plugin_actions().schemas)
    return sorted(names)


def _imported(ctx: CheckContext) -> tuple[bool, set[str]]:
    """What the file's ``imports:`` may register: (any name at all, namespaces)."""
    imports = ctx.workflow.root.get("imports") if ctx.workflow is not None else None
    if not isinstance(imports, YSeq):
        return False, set()
    anything = False
    namespaces: set[str] = set()
    for item in imports.items:
        ns = item.get("namespace") if isinstance(item, YMap) else None
        if isinstance(ns, YScalar) and isinstance(ns.value, str) and ns.value.strip():
            namespaces.add(ns.value.strip())
        else:
            anything = True  # an import without a namespace registers names we cannot know
    return anything, namespaces


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    import_any, namespaces = _imported(ctx)
    cat = catalog()
    plugins = plugin_actions().schemas
    test_actions = test_actions_enabled()
    names: list[str] | None = None
    for node in wf.all_nodes():
        if node.uses is None or node.uses_span is None:
            continue
        name = node.uses
        if name in plugins:
            schema = plugins[name]
            if schema is not None:
                _check_with(ctx, node, _spec(name, schema))
            continue
        entry = cat.get(name)
        if entry is None or (entry.test_only and not test_actions):
            if import_any or name.split(".", 1)[0] in namespaces:
                continue  # registered by the file's own 'imports:', which we do not load
            if names is None:
                names = known_names(cat)
            hint = did_you_mean(name, names) or "; no engine or installed plugin provides it"
            fix = _rename(node.uses_span, name, names, ctx.lines)
            ctx.report("TEA501", node.uses_span, f"unknown action '{name}'{hint}", fix=fix)
            continue
        if not entry.runnable:
            ctx.report(
                "TEA505",
                node.uses_span,
                f"action '{name}' is not available in the tea-lsp runner "
                f"({entry.providers_text()})",
            )
        if entry.schema is not None:
            _check_with(ctx, node, _spec(name, entry.schema))
        if entry.action_arguments and node.with_args is not None:
            _check_action_arguments(ctx, node, entry.action_arguments, cat)

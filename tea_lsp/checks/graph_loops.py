"""TEA211: ``while_loop`` nodes without ``condition``/``body``/``max_iterations``, or with a
``max_iterations`` outside 1..1000.

The schema check leaves exactly these problems to this check, so each is reported once.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span, key_span

MIN_ITERATIONS = 1
MAX_ITERATIONS = 1000
_REQUIRED = ("condition", "body", "max_iterations")


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    for node in wf.all_nodes():
        if node.type != "while_loop":
            continue
        label = f"while_loop '{node.name}'" if node.name else "this while_loop"
        missing = [k for k in _REQUIRED if k not in node.ymap]
        if missing:
            keys = [f"'{k}'" for k in missing]
            listed = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
            type_value = node.ymap.get("type")
            span = (
                first_line_span(type_value.span, ctx.lines)
                if type_value is not None
                else key_span(node.ymap, "type", ctx.lines)
            )
            ctx.report(
                "TEA211",
                span,
                f"{label} is missing {listed}; a loop needs a 'condition', a 'body' and "
                f"'max_iterations' from {MIN_ITERATIONS} to {MAX_ITERATIONS}",
            )
        mi = node.max_iterations
        if mi is not None and not MIN_ITERATIONS <= mi <= MAX_ITERATIONS:
            value = node.ymap.get("max_iterations")
            assert value is not None
            ctx.report(
                "TEA211",
                first_line_span(value.span, ctx.lines),
                f"'max_iterations' of {label} is {mi}; expected an integer from "
                f"{MIN_ITERATIONS} to {MAX_ITERATIONS}",
            )

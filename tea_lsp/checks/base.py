"""What every check receives: the document, the model, the config, and a way to report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tea_lsp import codes
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic, Fix, Related, Severity, Span
from tea_lsp.model.workflow import Snippet, Workflow
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YamlDocument


@dataclass(slots=True)
class CheckContext:
    text: str
    path: str
    lines: LineIndex
    doc: YamlDocument
    workflow: Workflow | None
    config: Config
    diagnostics: list[Diagnostic] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    def report(
        self,
        code: str,
        span: Span,
        message: str,
        related: tuple[Related, ...] = (),
        fix: Fix | None = None,
        severity: Severity | None = None,
    ) -> None:
        if not self.config.enabled(code):
            return
        sev = severity if severity is not None else codes.REGISTRY[code].severity
        self.diagnostics.append(Diagnostic(code, sev, message, span, related, fix))


Check = Callable[[CheckContext], None]


def report_too_big(ctx: CheckContext, snippet: Snippet, language: str) -> None:
    """TEA308 on the first line of a ``language`` snippet over the checking limit."""
    size = len(snippet.text.encode("utf-8", "replace"))
    span = snippet.scalar.span
    first = Span(
        span.start_line, span.start_col, span.start_line, ctx.lines.line_length(span.start_line)
    )
    if first.end_col <= first.start_col:
        first = Span(first.start_line, first.start_col, first.start_line, first.start_col + 1)
    ctx.report(
        "TEA308",
        first,
        f"{language} snippet is {size} bytes, over the checking limit of "
        f"{ctx.config.max_snippet_bytes} bytes; it was not checked",
    )

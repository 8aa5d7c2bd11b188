"""Code actions: the checker's fixes (did-you-mean, ``language: python``, ...) and ignore
comments for a line or the whole file."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from tea_lsp.analysis import Analysis
from tea_lsp.diagnostics import Diagnostic, Span, TextEdit
from tea_lsp.langs.detect import resolve_language
from tea_lsp.lsp import convert
from tea_lsp.syntax.yaml_tree import YScalar, walk

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

_LINE_IGNORE = re.compile(r"(?:#|--)\s*tea-lsp:\s*ignore\[([^\]]*)\]")
_FILE_IGNORE = re.compile(r"#\s*tea-lsp:\s*ignore-file\[([^\]]*)\]")


def _overlaps(a: Span, b: Span) -> bool:
    return (a.start_line, a.start_col) <= (b.end_line, b.end_col) and (
        b.start_line,
        b.start_col,
    ) <= (a.end_line, a.end_col)


def _scalar_across(analysis: Analysis, line: int) -> YScalar | None:
    """The scalar whose text continues past the end of ``line``, if any."""
    for doc in analysis.parsed.documents:
        root = doc.root
        if root is None or not (root.span.start_line <= line <= root.span.end_line):
            continue
        for node in walk(root):
            if not isinstance(node, YScalar):
                continue
            s = node.span
            if node.style in ("|", ">"):
                if node.header_line < line <= s.end_line:
                    return node  # every content line of a block, the last one too
            elif s.start_line <= line < s.end_line:
                return node
    return None


def _extend(m: re.Match[str], code: str, line: int) -> TextEdit:
    codes_ = [c.strip() for c in m.group(1).split(",") if c.strip()]
    new = ",".join([*codes_, code])
    return TextEdit(Span(line, m.start(1), line, m.end(1)), new)


def _language_at(analysis: Analysis, scalar: YScalar, default_language: str) -> str | None:
    """``lua``, ``python`` or ``jinja`` for a snippet's scalar (``None``: not a snippet)."""
    for wf in analysis.workflows:
        if wf is None:
            continue
        for s in wf.snippets():
            if s.scalar is not scalar:
                continue
            if s.kind == "jinja":
                return "jinja"
            if s.node is not None and s.node.code is s:
                return resolve_language(s.node, default_language)
            return s.kind
    return None


def comment_for(language: str, code: str) -> str | None:
    """The suppression comment for one language (``None``: it has no comments)."""
    body = f"tea-lsp: ignore[{code}]"
    return {
        "yaml": f"# {body}",
        "python": f"# {body}",
        "lua": f"-- {body}",
        "jinja": f"{{# {body} #}}",
    }.get(language)


def ignore_line_edit(
    analysis: Analysis, d: Diagnostic, default_language: str = "auto"
) -> TextEdit | None:
    """An edit adding a suppression comment to the diagnostic's line, in the language there:
    ``# ...`` in YAML and Python, ``-- ...`` in Lua, ``{# ... #}`` in Jinja."""
    line = d.span.start_line
    text = analysis.lines.line(line)
    m = _LINE_IGNORE.search(text)
    if m is not None:
        return _extend(m, d.code, line)
    comment = comment_for("yaml", d.code)
    scalar = _scalar_across(analysis, line)
    if scalar is not None:
        language = _language_at(analysis, scalar, default_language)
        if scalar.style != "|" or language is None:
            return None  # inside folded or quoted text: a comment would change the value
        comment = comment_for(language, d.code)
    if comment is None:
        return None
    end = len(text.rstrip())
    pad = "  " if end else ""
    return TextEdit(Span(line, end, line, len(text)), f"{pad}{comment}")


def ignore_file_edit(analysis: Analysis, code: str) -> TextEdit:
    lines = analysis.lines
    for n in range(min(lines.line_count, 20)):
        m = _FILE_IGNORE.search(lines.line(n))
        if m is not None:
            return _extend(m, code, n)
    return TextEdit(Span(0, 0, 0, 0), f"# tea-lsp: ignore-file[{code}]\n")


def actions_for(
    analysis: Analysis, span: Span, default_language: str = "auto"
) -> list[tuple[str, Diagnostic, tuple[TextEdit, ...], bool]]:
    """``(title, diagnostic, edits, preferred)`` for the diagnostics touching ``span``."""
    out: list[tuple[str, Diagnostic, tuple[TextEdit, ...], bool]] = []
    seen_file: set[str] = set()
    touching = [d for d in analysis.diagnostics if _overlaps(d.span, span)]
    for d in touching:
        if d.fix is not None:
            out.append((d.fix.title, d, d.fix.edits, True))
    for d in touching:
        if d.code == "TEA900":
            continue
        edit = ignore_line_edit(analysis, d, default_language)
        if edit is not None:
            out.append((f"Ignore {d.code} on this line", d, (edit,), False))
    for d in touching:
        if d.code == "TEA900" or d.code in seen_file:
            continue
        seen_file.add(d.code)
        out.append(
            (f"Ignore {d.code} in this file", d, (ignore_file_edit(analysis, d.code),), False)
        )
    return out


def register(server: TeaLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        only = params.context.only
        if only and not any(
            types.CodeActionKind.QuickFix.value.startswith(
                str(k.value if hasattr(k, "value") else k)
            )
            for k in only
        ):
            return None
        uri = params.text_document.uri
        got = await server.analysis(uri)
        if got is None:
            return None
        snap, analysis = got
        lines = analysis.lines
        enc = server.encoding
        span = convert.from_range(lines, params.range, enc)
        out: list[types.CodeAction] = []
        default_language = server.config_for(analysis.path).default_language
        for title, d, edits, preferred in actions_for(analysis, span, default_language):
            text_edits = [convert.to_text_edit(lines, e, enc) for e in edits]
            out.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[convert.to_diagnostic(lines, d, uri, enc)],
                    edit=server.workspace_edit(uri, snap.version, text_edits),
                    is_preferred=preferred or None,
                )
            )
        return out

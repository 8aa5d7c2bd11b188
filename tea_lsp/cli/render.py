"""Reporters for ``tea-lsp check``: text, concise, json, sarif, github."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from tea_lsp import __version__, codes
from tea_lsp.diagnostics import Diagnostic, Severity
from tea_lsp.safeio import terminal_safe
from tea_lsp.syntax.text import LineIndex


@dataclass(slots=True)
class FileResult:
    path: str
    diagnostics: list[Diagnostic]
    lines: LineIndex | None  # None when the file could not be read

    @property
    def fixable(self) -> int:
        """How many diagnostics ``--fix`` can repair (none in a file with YAML errors)."""
        if any(d.code == "TEA001" for d in self.diagnostics):
            return 0
        return sum(1 for d in self.diagnostics if is_safe_fix(d))


def is_safe_fix(d: Diagnostic) -> bool:
    """A fix ``--fix`` applies: replacements inside one line that add no line (did-you-mean
    names, keys, globals), or removing one line (an unused suppression comment). Fixes that
    add lines (such as ``language: python``) stay editor quick fixes, chosen by the user."""
    if d.fix is None or not d.fix.edits:
        return False
    return all(
        "\n" not in e.new_text
        and (
            e.span.start_line == e.span.end_line
            or (e.new_text == "" and e.span.end_line == e.span.start_line + 1)
        )
        for e in d.fix.edits
    )


def header(path: str, d: Diagnostic) -> str:
    line, col = d.span.start_line + 1, d.span.start_col + 1
    return terminal_safe(f"{path}:{line}:{col}: {d.severity.label}[{d.code}] {d.message}")


_COLOURS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.INFO: "\x1b[1;34m",
    Severity.HINT: "\x1b[1;36m",
}
_RESET, _BOLD, _DIM = "\x1b[0m", "\x1b[1m", "\x1b[2m"


def underline(lines: LineIndex, d: Diagnostic) -> tuple[str, str] | None:
    line = d.span.start_line
    if line >= lines.line_count:
        return None
    src = terminal_safe(lines.line(line).expandtabs(1), same_width=True)  # one column per char
    start = min(d.span.start_col, len(src))
    if d.span.end_line == line:
        end = max(start + 1, min(d.span.end_col, max(len(src), start + 1)))
    else:
        end = max(start + 1, len(src))
    return src, " " * start + "^" + "~" * (end - start - 1)


def _summary(results: Sequence[FileResult], fixed: int | None = None) -> str:
    counts = {s: 0 for s in Severity}
    for r in results:
        for d in r.diagnostics:
            counts[d.severity] += 1
    n = len(results)
    files = f"{n} file" + ("" if n == 1 else "s")
    done = ""
    if fixed is not None:
        done = f"Fixed {fixed} problem" + ("" if fixed == 1 else "s") + ".\n"
    if not n:
        return done + "No workflow files checked."
    if not any(counts.values()):
        return done + f"All checks passed ({files} checked)."
    parts = []
    for sev in Severity:
        c = counts[sev]
        if c:
            parts.append(f"{c} {sev.label}" + ("" if c == 1 else "s"))
    text = f"Found {', '.join(parts)} in {files}."
    fixable = sum(r.fixable for r in results)
    if fixable and fixed is None:
        text += f"\n{fixable} fixable with --fix (preview: --diff)."
    return done + text


def render_text(
    results: Sequence[FileResult], out: TextIO, colour: bool, fixed: int | None = None
) -> None:
    for r in results:
        for d in r.diagnostics:
            head = header(r.path, d)
            if colour:
                loc, rest = head.split(f" {d.severity.label}[", 1)
                sev = f"{_COLOURS[d.severity]}{d.severity.label}{_RESET}"
                head = f"{_BOLD}{loc}{_RESET} {sev}[{rest}"
            out.write(head + "\n")
            under = underline(r.lines, d) if r.lines is not None else None
            if under is not None:
                src, marks = under
                if colour:
                    marks = f"{_COLOURS[d.severity]}{marks}{_RESET}"
                out.write(f"    {src}\n    {marks}\n")
            for rel in d.related:
                out.write(f"  note: {r.path}:{rel.span.start_line + 1}:{rel.span.start_col + 1}: ")
                out.write(terminal_safe(rel.message) + "\n")
    summary = _summary(results, fixed)
    out.write((f"{_DIM}{summary}{_RESET}" if colour else summary) + "\n")


def render_concise(results: Sequence[FileResult], out: TextIO, colour: bool) -> None:
    for r in results:
        for d in r.diagnostics:
            out.write(header(r.path, d) + "\n")


def json_items(results: Sequence[FileResult]) -> list[dict[str, Any]]:
    return [
        {
            "path": r.path,
            "line": d.span.start_line + 1,
            "column": d.span.start_col + 1,
            "end_line": d.span.end_line + 1,
            "end_column": d.span.end_col + 1,
            "severity": d.severity.label,
            "code": d.code,
            "message": d.message,
        }
        for r in results
        for d in r.diagnostics
    ]


def render_json(results: Sequence[FileResult], out: TextIO, colour: bool) -> None:
    json.dump(json_items(results), out, indent=2, ensure_ascii=False)
    out.write("\n")


_SARIF_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.HINT: "note",
}


def sarif_log(results: Sequence[FileResult]) -> dict[str, Any]:
    used = sorted({d.code for r in results for d in r.diagnostics})
    rules = []
    for code in used:
        c = codes.REGISTRY[code]
        rules.append(
            {
                "id": c.code,
                "name": c.slug,
                "shortDescription": {"text": c.summary},
                "fullDescription": {"text": c.what},
                "help": {"text": c.why, "markdown": c.explain()},
                "helpUri": c.url,
                "defaultConfiguration": {"level": _SARIF_LEVEL[c.severity]},
            }
        )
    index = {code: i for i, code in enumerate(used)}
    sarif_results = []
    for r in results:
        for d in r.diagnostics:
            sarif_results.append(
                {
                    "ruleId": d.code,
                    "ruleIndex": index[d.code],
                    "level": _SARIF_LEVEL[d.severity],
                    "message": {"text": d.message},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": r.path.replace("\\", "/")},
                                "region": {
                                    "startLine": d.span.start_line + 1,
                                    "startColumn": d.span.start_col + 1,
                                    "endLine": d.span.end_line + 1,
                                    "endColumn": max(d.span.end_col, d.span.start_col) + 1,
                                },
                            }
                        }
                    ],
                }
            )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tea-lsp",
                        "version": __version__,
                        "informationUri": codes.REPOSITORY_URL,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": sarif_results,
            }
        ],
    }


def render_sarif(results: Sequence[FileResult], out: TextIO, colour: bool) -> None:
    json.dump(sarif_log(results), out, indent=2, ensure_ascii=False)
    out.write("\n")


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


_GH_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
    Severity.HINT: "notice",
}


def render_github(results: Sequence[FileResult], out: TextIO, colour: bool) -> None:
    for r in results:
        for d in r.diagnostics:
            props = ",".join(
                [
                    f"file={_gh_escape(r.path, True)}",
                    f"line={d.span.start_line + 1}",
                    f"col={d.span.start_col + 1}",
                    f"endLine={d.span.end_line + 1}",
                    f"endColumn={d.span.end_col + 1}",
                    f"title={_gh_escape(d.code + ' ' + codes.REGISTRY[d.code].slug, True)}",
                ]
            )
            out.write(f"::{_GH_LEVEL[d.severity]} {props}::{_gh_escape(d.message)}\n")


Reporter = Callable[[Sequence[FileResult], TextIO, bool], None]

REPORTERS: dict[str, Reporter] = {
    "text": render_text,
    "concise": render_concise,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}

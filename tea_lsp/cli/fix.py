"""``tea-lsp check --fix`` / ``--diff``: apply the safe fixes the diagnostics carry.

A round applies every non-overlapping safe fix (see ``render.is_safe_fix``), then the text is
checked again; rounds repeat until nothing is left to fix (at most ``MAX_ROUNDS``). A file with
YAML syntax errors is never changed, and a round whose result no longer parses is dropped.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tea_lsp.analysis import analyze
from tea_lsp.cli.render import FileResult, is_safe_fix
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic, TextEdit
from tea_lsp.syntax.text import LineIndex

MAX_ROUNDS = 10


@dataclass(slots=True)
class FixOutcome:
    results: list[FileResult] = field(default_factory=list)
    fixed: int = 0  # problems repaired
    files: int = 0  # files changed
    diff: str = ""


def _syntax_broken(diags: Sequence[Diagnostic]) -> bool:
    return any(d.code == "TEA001" for d in diags)


def _apply(text: str, edits: list[TextEdit]) -> str:
    lines = LineIndex(text)
    out = text
    for e in sorted(edits, key=lambda e: (e.span.start_line, e.span.start_col), reverse=True):
        start = lines.offset(e.span.start_line, e.span.start_col)
        end = lines.offset(e.span.end_line, e.span.end_col)
        out = out[:start] + e.new_text + out[end:]
    return out


def _one_round(text: str, diags: Sequence[Diagnostic]) -> tuple[str, int]:
    taken: list[TextEdit] = []
    count = 0
    for d in diags:
        if not is_safe_fix(d) or d.fix is None:
            continue
        edits = list(d.fix.edits)
        if any(_overlap(e, t) for e in edits for t in taken):
            continue  # the next round gets it
        taken.extend(edits)
        count += 1
    return (_apply(text, taken), count) if count else (text, 0)


def _overlap(a: TextEdit, b: TextEdit) -> bool:
    a0, a1 = (a.span.start_line, a.span.start_col), (a.span.end_line, a.span.end_col)
    b0, b1 = (b.span.start_line, b.span.start_col), (b.span.end_line, b.span.end_col)
    return a0 <= b1 and b0 <= a1


def fix_text(text: str, path: str, config: Config) -> tuple[str, int, list[Diagnostic]]:
    """The fixed text, how many problems were fixed, and the diagnostics left."""
    bom = text.startswith("\ufeff")
    current = text[1:] if bom else text
    diags = analyze(current, path, config).diagnostics
    fixed = 0
    for _ in range(MAX_ROUNDS):
        if _syntax_broken(diags):
            break
        new, count = _one_round(current, diags)
        if not count:
            break
        new_diags = analyze(new, path, config).diagnostics
        if _syntax_broken(new_diags):
            break  # never trade a problem for a broken file
        current, diags, fixed = new, new_diags, fixed + count
    return ("\ufeff" if bom else "") + current, fixed, list(diags)


def fix_results(
    results: list[FileResult],
    configs: dict[str, Config],
    write: bool,
    stdin_text: str | None = None,
) -> FixOutcome:
    outcome = FixOutcome()
    diff_parts: list[str] = []
    for r in results:
        if r.lines is None or not r.fixable:
            outcome.results.append(r)
            continue
        is_file = Path(r.path).is_file()
        if is_file:
            original = Path(r.path).read_bytes().decode("utf-8")
        elif stdin_text is not None:
            original = stdin_text
        else:  # pragma: no cover - a result always comes from a file or stdin
            outcome.results.append(r)
            continue
        new, count, diags = fix_text(original, r.path, configs.get(r.path, Config()))
        if not count or new == original:
            outcome.results.append(r)
            continue
        outcome.fixed += count
        outcome.files += 1
        diff_parts.extend(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{r.path}",
                tofile=f"b/{r.path}",
            )
        )
        if write and is_file:
            with open(r.path, "w", encoding="utf-8", newline="") as fh:
                fh.write(new)
        outcome.results.append(FileResult(r.path, diags, LineIndex(new.lstrip("\ufeff"))))
    outcome.diff = "".join(
        p if p.endswith("\n") else p + "\n\\ No newline at end of file\n" for p in diff_parts
    )
    return outcome

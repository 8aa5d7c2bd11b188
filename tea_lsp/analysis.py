"""``analyze()``: the one checking entry point shared by the CLI and the language server."""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tea_lsp import codes
from tea_lsp.checks import ALL_CHECKS
from tea_lsp.checks.base import CheckContext
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic, Fix, Severity, Span, TextEdit
from tea_lsp.model.build import build_workflow
from tea_lsp.model.workflow import Workflow
from tea_lsp.syntax.text import LineIndex, normalize
from tea_lsp.syntax.yaml_tree import ParsedYaml, YMap, parse_yaml
from tea_lsp.util import suggest

_IGNORE = re.compile(r"(?:#|--)\s*tea-lsp:\s*ignore(-file)?(?:\[([^\]]*)\])?")


@dataclass(slots=True)
class Analysis:
    path: str
    text: str
    parsed: ParsedYaml
    workflows: list[Workflow | None] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def lines(self) -> LineIndex:
        return self.parsed.lines

    @property
    def workflow(self) -> Workflow | None:
        """The first workflow document (most files have exactly one)."""
        for wf in self.workflows:
            if wf is not None:
                return wf
        return None

    def has_errors(self) -> bool:
        return any(d.severity == Severity.ERROR for d in self.diagnostics)


def is_workflow_text(text: str) -> bool:
    """Cheap test used to pick files from directories: a top-level ``nodes:`` key."""
    return re.search(r"(?m)^nodes\s*:", normalize(text)) is not None


@dataclass(slots=True)
class Suppression:
    """One ``tea-lsp: ignore[...]`` comment."""

    line: int  # where the comment is
    target: int | None  # the line it covers; None: the whole file (``ignore-file``)
    codes: dict[str, Span] | None  # code -> where it is written; None: every code
    span: Span  # the comment itself
    used: set[str] = field(default_factory=set)
    unknown: list[tuple[str, Span]] = field(default_factory=list)
    # not reported as unused: written with '#' inside Lua (a Lua syntax error, reported as
    # such), or on a line that was not fully checked (YAML or Lua syntax error)
    broken: bool = False

    def covers(self, d: Diagnostic) -> bool:
        if self.target is not None and self.target != d.span.start_line:
            return False
        return self.codes is None or d.code in self.codes


def find_suppressions(lines: LineIndex) -> list[Suppression]:
    """Every suppression comment: ``# ...`` (YAML, Python), ``-- ...`` (Lua), ``{# ... #}``
    (Jinja). At the end of a line it covers that line; alone on a line, the next one."""
    out: list[Suppression] = []
    if "tea-lsp:" not in lines.text:
        return out
    for n in range(lines.line_count):
        text = lines.line(n)
        if "tea-lsp:" not in text:
            continue
        for m in _IGNORE.finditer(text):
            whole_file = m.group(1) is not None
            listed: dict[str, Span] | None = None
            unknown: list[tuple[str, Span]] = []
            if m.group(2) is not None:
                listed = {}
                pos = m.start(2)
                for part in m.group(2).split(","):
                    name = part.strip()
                    col = pos + (len(part) - len(part.lstrip()))
                    pos += len(part) + 1
                    if not name:
                        continue
                    span = Span(n, col, n, col + len(name))
                    found = codes.lookup(name)
                    if found is None:
                        unknown.append((name, span))
                    else:
                        listed[found.code] = span
            if whole_file:
                target = None
            else:
                alone = text[: m.start()].strip() in ("", "{", "--")
                target = n + 1 if alone else n
            span = Span(n, m.start(), n, m.end())
            out.append(Suppression(n, target, listed, span, unknown=unknown))
    return out


def _hash_comments_in_lua(diags: list[Diagnostic], sups: list[Suppression]) -> list[Diagnostic]:
    """``# tea-lsp: ...`` inside Lua is a syntax error (``#`` is Lua's length operator): say
    so, offer ``--`` instead (a fix ``--fix`` applies), and don't call the comment unused."""
    at = {(s.line, s.span.start_col): s for s in sups}
    out: list[Diagnostic] = []
    for d in diags:
        s = at.get((d.span.start_line, d.span.start_col)) if d.code == "TEA301" else None
        if s is None:
            out.append(d)
            continue
        s.broken = True
        hint = "; in Lua a suppression comment starts with '--': '-- tea-lsp: ignore[...]'"
        edit = TextEdit(Span(s.line, s.span.start_col, s.line, s.span.start_col + 1), "--")
        out.append(
            Diagnostic(
                d.code,
                d.severity,
                d.message + hint,
                d.span,
                d.related,
                Fix("Write the suppression as a Lua comment ('--')", (edit,)),
                d.source,
            )
        )
    return out


def _mark_unchecked(
    sups: list[Suppression], diags: list[Diagnostic], workflows: list[Workflow | None]
) -> None:
    """Suppressions whose line was not fully checked cannot be called unused: the whole file
    after a YAML syntax error, a Lua snippet that does not compile (its names are not
    checked)."""
    if any(d.code == "TEA001" for d in diags):
        for s in sups:
            s.broken = True
        return
    errors = [d.span.start_line for d in diags if d.code == "TEA301"]
    if not errors:
        return
    ranges = [
        (sn.scalar.span.start_line, sn.scalar.span.end_line)
        for wf in workflows
        if wf is not None
        for sn in wf.snippets()
        if any(sn.scalar.span.start_line <= e <= sn.scalar.span.end_line for e in errors)
    ]
    for s in sups:
        line = s.line if s.target is None else s.target
        if any(a <= line <= b or a <= s.line <= b for a, b in ranges):
            s.broken = True


def _suppressed(d: Diagnostic, sups: list[Suppression]) -> bool:
    if d.code == "TEA900":
        return False
    hit = False
    for s in sups:
        if s.covers(d):
            s.used.add(d.code)
            hit = True
    return hit


def _suppression_diagnostics(
    sups: list[Suppression], cfg: Config, lines: LineIndex
) -> list[Diagnostic]:
    """TEA010 for suppressions that hide nothing, TEA011 for unknown codes in them."""
    out: list[Diagnostic] = []
    for s in sups:
        if cfg.enabled("TEA011"):
            for name, span in s.unknown:
                best = suggest(name.upper(), codes.REGISTRY) or suggest(name, codes.BY_SLUG)
                hint = f"; did you mean '{best}'?" if best else ""
                fix = Fix(f"Replace '{name}' with '{best}'", (TextEdit(span, best or name),))
                out.append(
                    Diagnostic(
                        "TEA011",
                        Severity.WARNING,
                        f"unknown code '{name}' in a tea-lsp suppression{hint}",
                        span,
                        fix=fix if best else None,
                    )
                )
        if s.broken or not cfg.enabled("TEA010") or (s.codes is not None and "TEA010" in s.codes):
            continue  # ``ignore[CODE, TEA010]``: kept on purpose, never reported as unused
        where = "in this file" if s.target is None else f"on line {s.target + 1}"
        if s.codes is None:
            if not s.used:
                out.append(
                    Diagnostic(
                        "TEA010",
                        Severity.WARNING,
                        f"unused suppression: no problem {where}",
                        s.span,
                        fix=Fix("Remove the unused suppression", (_remove_comment(s, lines),)),
                    )
                )
            continue
        unused = [c for c in s.codes if c not in s.used and cfg.enabled(c)]
        for code in unused:
            rest = [c for c in s.codes if c != code]
            if rest:
                name_span = s.codes[code]
                text = lines.line(s.line)
                start, end = name_span.start_col, name_span.end_col
                # take the comma (and blanks) on one side with the code
                after = text[end:]
                stripped = after.lstrip(" ")
                if stripped.startswith(","):
                    end += len(after) - len(stripped) + 1
                    end += len(text[end:]) - len(text[end:].lstrip(" "))
                else:
                    before = text[:start].rstrip(" ")
                    start = len(before) - 1 if before.endswith(",") else start
                edit = TextEdit(Span(s.line, start, s.line, end), "")
                title = f"Remove '{code}' from the suppression"
            else:
                edit = _remove_comment(s, lines)
                title = "Remove the unused suppression"
            out.append(
                Diagnostic(
                    "TEA010",
                    Severity.WARNING,
                    f"unused suppression: no '{code}' problem {where}",
                    s.codes[code],
                    fix=Fix(title, (edit,)),
                )
            )
    return out


def _remove_comment(s: Suppression, lines: LineIndex) -> TextEdit:
    """Remove a whole suppression comment (with its Jinja ``#}``); a comment alone on its
    line leaves an empty line, so the edit never adds or removes a line."""
    text = lines.line(s.line)
    start, end = s.span.start_col, s.span.end_col
    if text[start - 1 : start] == "{":
        start -= 1
        close = text.find("#}", end)
        end = close + 2 if close >= 0 else end
    # a comment after code: drop the blanks before it too
    while start > 0 and text[start - 1] == " ":
        start -= 1
    if not text[:start].strip() and not text[end:].strip():
        jinja = text[s.span.start_col - 1 : s.span.start_col] == "{"
        if not jinja and s.line + 1 < lines.line_count:
            return TextEdit(Span(s.line, 0, s.line + 1, 0), "")  # the whole line goes
        start, end = 0, len(text)  # a Jinja comment's line is output: keep it, empty
    return TextEdit(Span(s.line, start, s.line, end), "")


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False
# Objects of finished analyses moved to the oldest generation without a collection, since the
# last full collection; past the limit, the next pause ends with a full collection instead.
_PROMOTE_MIN = 10_000
_PROMOTE_LIMIT = 2_000_000
_promoted = 0


def _full_collection_done(phase: str, info: dict[str, int]) -> None:
    global _promoted
    if phase == "stop" and info.get("generation") == 2:
        _promoted = 0


gc.callbacks.append(_full_collection_done)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while an analysis builds its (mostly acyclic) trees.

    A 300-node workflow allocates ~100k objects; the collections they trigger made edit-time
    latency jump from ~40 ms to 60-110 ms. Reference counting still frees everything; cycles
    are collected once the collector is back on. Nested or concurrent analyses share one pause.

    When the pause ends, every object the analysis allocated is still in the youngest
    generation: turning the collector back on would traverse them all at the next allocation
    and again when they move on to the middle generation (for a 5 MB file, ~1M objects and
    ~0.7 s). They are moved to the oldest generation at once instead (``gc.freeze()`` then
    ``gc.unfreeze()``: no traversal), where only a full collection looks at them. So that the
    cycles among them (a node and its snippets) are still freed, a full collection runs
    once ``_PROMOTE_LIMIT`` objects were moved this way since the last one.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                _resume_gc()


def _resume_gc() -> None:
    """Turn the collector back on after a pause (see ``_gc_paused``)."""
    global _promoted
    young = gc.get_count()[0]
    # (not when something else froze objects: ``unfreeze`` would let go of them too)
    if young >= _PROMOTE_MIN and gc.get_freeze_count() == 0:
        _promoted += young
        if _promoted > _PROMOTE_LIMIT:
            gc.enable()
            gc.collect()  # resets ``_promoted`` (the callback above)
            return
        gc.freeze()
        gc.unfreeze()
    gc.enable()


def analyze(text: str, path: str = "<stdin>", config: Config | None = None) -> Analysis:
    """Check one workflow file's text. Never raises on user input."""
    with _gc_paused():
        return _analyze(text, path, config)


def _analyze(text: str, path: str, config: Config | None) -> Analysis:
    cfg = config or Config()
    text = normalize(text)
    parsed = parse_yaml(text)
    result = Analysis(path=path, text=text, parsed=parsed)
    diags: list[Diagnostic] = [d for d in parsed.diagnostics if cfg.enabled(d.code)]
    for doc in parsed.documents:
        wf: Workflow | None = None
        if doc.root is not None and not isinstance(doc.root, YMap):
            diags.append(
                Diagnostic(
                    "TEA004",
                    Severity.ERROR,
                    "the document is not a mapping; a workflow is a mapping with a 'nodes' list",
                    _first_line(doc.root.span, parsed.lines),
                )
            )
        else:
            try:
                wf = build_workflow(doc.root)
            except Exception as exc:  # a model bug must not hide the other diagnostics
                diags.append(_internal("model", exc))
        result.workflows.append(wf)
        if doc.root is None:
            continue
        ctx = CheckContext(text, path, parsed.lines, doc, wf, cfg)
        for name, check in ALL_CHECKS:
            try:
                check(ctx)
            except Exception as exc:  # one broken check never takes down the others
                ctx.diagnostics.append(_internal(name, exc))
        diags.extend(ctx.diagnostics)
    sups = find_suppressions(parsed.lines)
    if sups:
        diags = _hash_comments_in_lua(diags, sups)
    unique = dict.fromkeys(d for d in diags if not _suppressed(d, sups))
    if sups:
        _mark_unchecked(sups, diags, result.workflows)
        unique.update(dict.fromkeys(_suppression_diagnostics(sups, cfg, parsed.lines)))
    result.diagnostics = sorted(unique, key=Diagnostic.sort_key)
    return result


def _first_line(span: Span, lines: LineIndex) -> Span:
    if span.end_line == span.start_line:
        return span
    return Span(
        span.start_line, span.start_col, span.start_line, lines.line_length(span.start_line)
    )


def _internal(where: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(
        "TEA900",
        Severity.ERROR,
        f"internal error in '{where}': {type(exc).__name__}: {exc}",
        Span(0, 0, 0, 0),
    )

"""The run report: one self-contained HTML page (no script, no network, everything inlined).

Sections: the graph coloured by outcome (Graphviz's SVG when ``dot`` is installed, else the
Mermaid text and a coloured list of nodes), a timeline drawn as inline SVG (the main flow, one
row per branch with its nodes, one row per worker), each node's duration, the errors with
their YAML positions, and the final state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from tea_lsp.graph import Graph, Status, to_dot, to_mermaid
from tea_lsp.graph.layout import GraphvizFailed, GraphvizMissing, layout
from tea_lsp.graph.render import FILL
from tea_lsp.report.record import MAIN, BranchRun, NodeRun, RunRecord

OUTCOME_TEXT = {"ok": "ok", "failed": "failed", "timeout": "timed out", "not_run": "not run"}
BAR = {"ok": "#43a047", "failed": "#e53935", "timeout": "#fb8c00", "not_run": "#9e9e9e"}


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning of the run, with its place in the YAML file (1-based)."""

    severity: str
    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None
    code: str | None = None

    @property
    def where(self) -> str:
        if self.path is None or self.line is None:
            return self.path or ""
        return f"{self.path}:{self.line}:{self.col or 1}"


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms"


def _node_outcome(runs: list[NodeRun], rec: RunRecord) -> str:
    """``failed`` wins, then ``timeout`` (a node stopped by its branch's deadline), then ``ok``."""
    if not runs:
        return "not_run"
    outcome = "ok"
    for r in runs:
        if r.ok is not False and r.ok is not None:
            continue
        br = rec.branch(r.branch) if r.branch else None
        if br is not None and br.timeout:
            outcome = "timeout"
        else:
            return "failed"
    return outcome


def statuses(rec: RunRecord, graph: Graph | None) -> dict[str, Status]:
    """Each drawn node's outcome, with its total time (and run count when above one)."""
    names = (
        [n.name for n in graph.nodes if n.kind not in ("start", "end", "missing")]
        if graph is not None
        else list(dict.fromkeys(r.node for r in rec.nodes))
    )
    kinds = {n.name: n.kind for n in graph.nodes} if graph is not None else {}
    out: dict[str, Status] = {}
    for name in names:
        runs = [r for r in rec.nodes if r.node == name]
        outcome = _node_outcome(runs, rec)
        total = sum(r.timing_ms or 0.0 for r in runs)
        note = _fmt_ms(total) if runs else ""
        if len(runs) > 1:
            note += f" ×{len(runs)}"
        if kinds.get(name) == "dynamic":
            items = [b for b in rec.branches if b.source == name]
            if items:
                good = sum(1 for b in items if b.outcome == "ok")
                note = f"{note}, {good}/{len(items)} items ok".lstrip(", ")
                if any(b.outcome == "timeout" for b in items):
                    outcome = "timeout"
                elif good < len(items):
                    outcome = "failed"
        if not runs:  # a branch that timed out or failed before its first node ran
            for b in rec.branches:
                if b.branch == name and b.outcome in ("failed", "timeout"):
                    outcome = b.outcome
        out[name] = Status(outcome, note)
    return out


# ---- the timeline


@dataclass(slots=True)
class _Row:
    label: str
    kind: str  # "main" | "branch" | "worker"
    bars: list[tuple[float, float, str, str, str]]  # start, end, outcome, text, title
    span: tuple[float, float, str] | None = None  # the branch's own bar, behind its nodes


def _rows(rec: RunRecord) -> list[_Row]:
    end = rec.end_ms
    rows: list[_Row] = []
    main = _Row(MAIN, "main", [])
    for r in rec.nodes:
        if r.branch is None:
            main.bars.append(_node_bar(r, rec, end))
    rows.append(main)
    for b in rec.branches:
        worker = f" (worker {b.worker})" if b.worker is not None else ""
        row = _Row(f"{b.branch}{worker}", "branch", [])
        row.span = (b.start_ms, b.end_ms if b.end_ms is not None else end, b.outcome)
        for r in rec.nodes:
            if r.branch == b.branch:
                row.bars.append(_node_bar(r, rec, b.end_ms or end))
        rows.append(row)
    for pid, branches in sorted(rec.workers().items()):
        row = _Row(f"worker {pid}", "worker", [])
        for b in branches:
            title = f"branch {b.branch}: {OUTCOME_TEXT[b.outcome]}, {_fmt_ms(b.timing_ms)}"
            if b.error:
                title += f"\n{b.error_type or 'error'}: {b.error}"
            row.bars.append(
                (b.start_ms, b.end_ms if b.end_ms is not None else end, b.outcome, b.branch, title)
            )
        rows.append(row)
    return rows


def _node_bar(r: NodeRun, rec: RunRecord, end: float) -> tuple[float, float, str, str, str]:
    outcome = _node_outcome([r], rec)
    stop = r.end_ms if r.end_ms is not None else end
    took = r.timing_ms if r.ok is not None else stop - r.start_ms
    title = f"{r.node}: {OUTCOME_TEXT[outcome]}, {_fmt_ms(took)}"
    if r.error:
        title += f"\n{r.error}"
    return (r.start_ms, stop, outcome, r.node, title)


def _mark(outcome: str, cx: float, cy: float) -> str:
    """A cross (failed) or a clock (timed out) drawn with shapes (no font needed)."""
    color = BAR[outcome]
    if outcome == "failed":
        a, b, c, e = cx - 4, cx + 4, cy - 4, cy + 4
        d = f"M{a:.1f},{c:.1f}L{b:.1f},{e:.1f}M{b:.1f},{c:.1f}L{a:.1f},{e:.1f}"
        return f'<path class="mark failed" d="{d}" stroke="{color}" stroke-width="2.2"/>'
    return (
        f'<g class="mark timeout" stroke="{color}" stroke-width="1.6" fill="none">'
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5"/>'
        f'<path d="M{cx:.1f},{cy - 3:.1f}L{cx:.1f},{cy:.1f}L{cx + 2.5:.1f},{cy + 1.5:.1f}"/></g>'
    )


def timeline_svg(rec: RunRecord, width: int = 960) -> str:
    rows = _rows(rec)
    label_w, row_h, top = 200, 26, 24
    plot_w = width - label_w - 40
    total = max(rec.end_ms, 1.0)
    height = top + row_h * len(rows) + 8

    def x(t: float) -> float:
        return label_w + plot_w * max(0.0, min(t, total)) / total

    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="timeline of the run">'
    ]
    for k in range(6):  # axis ticks
        t = total * k / 5
        parts.append(
            f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{height - 6}" '
            'class="tick"/>'
            f'<text x="{x(t):.1f}" y="{top - 10}" class="axis">{escape(_fmt_ms(t))}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<g class="row {row.kind}" data-row="{escape(row.label)}">'
            f'<text x="4" y="{y + 17}" class="label">{escape(row.label)}</text>'
        )
        if row.span is not None:
            s, e, outcome = row.span
            parts.append(
                f'<rect class="span {outcome}" x="{x(s):.1f}" y="{y + 3}" '
                f'width="{max(x(e) - x(s), 2):.1f}" height="{row_h - 6}" rx="3" '
                f'fill="{FILL[outcome]}" stroke="{BAR[outcome]}"/>'
            )
        for s, e, outcome, text, title in row.bars:
            w = max(x(e) - x(s), 2.0)
            inner = 7 if row.kind == "branch" else 5
            parts.append(
                f'<g class="bar {outcome}" data-name="{escape(text)}">'
                f"<title>{escape(title)}</title>"
                f'<rect x="{x(s):.1f}" y="{y + inner}" width="{w:.1f}" '
                f'height="{row_h - 2 * inner}" rx="2" fill="{BAR[outcome]}"/>'
            )
            if outcome in ("failed", "timeout"):
                parts.append(_mark(outcome, x(e) + 8, y + row_h / 2))
            elif w > 7 * len(text):
                parts.append(
                    f'<text x="{x(s) + 3:.1f}" y="{y + 17}" class="in">{escape(text)}</text>'
                )
            parts.append("</g>")
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# ---- the page

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;
color:#212121;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.status{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
.status.ok{background:#c8e6c9}.status.failed,.status.unfinished,.status.cancelled,.status.invalid,.status.refused{background:#ffcdd2}
.meta{color:#616161}
.graph svg{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;border:1px solid #999;margin-right:4px;
vertical-align:-1px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.o-ok{color:#2e7d32}.o-failed{color:#c62828;font-weight:600}.o-timeout{color:#ef6c00;font-weight:600}
.o-not_run{color:#757575}
pre{background:#f5f5f5;padding:10px;overflow:auto;max-height:480px}
.problem{margin:6px 0}.where{font-family:ui-monospace,monospace;color:#37474f}
svg.timeline text{font-size:11px;fill:#212121}svg.timeline .axis{fill:#757575;text-anchor:middle}
svg.timeline .tick{stroke:#eeeeee}svg.timeline .in{fill:#fff}
ul.nodes li{list-style:none;margin:2px 0}ul.nodes b{display:inline-block;padding:1px 8px;
border-radius:4px;font-weight:500}
"""


def _graph_section(graph: Graph | None, st: dict[str, Status], use_graphviz: bool) -> str:
    if graph is None:
        return "<p class='meta'>the workflow file was not available: no graph.</p>"
    legend = "".join(
        f'<span><i style="background:{FILL[o]}"></i>{OUTCOME_TEXT[o]}</span>' for o in FILL
    )
    head = f'<div class="legend">{legend}</div>'
    if use_graphviz:
        try:
            svg = layout(to_dot(graph, st), "svg").decode("utf-8")
            return head + '<div class="graph">' + svg[svg.index("<svg") :] + "</div>"
        except (GraphvizMissing, GraphvizFailed) as exc:
            reason = f"<p class='meta'>{escape(str(exc))}</p>"
    else:
        reason = ""
    items = []
    for n in graph.nodes:
        if n.kind in ("start", "end"):
            continue
        s = st.get(n.name)
        outcome = s.outcome if s is not None else "not_run"
        note = f" {escape(s.note)}" if s is not None and s.note else ""
        items.append(
            f'<li class="node {outcome}" data-name="{escape(n.name)}"><b style="background:'
            f'{FILL[outcome]}">{escape(n.name)}</b> {OUTCOME_TEXT[outcome]}{note}</li>'
        )
    return (
        head
        + reason
        + f'<ul class="nodes">{"".join(items)}</ul>'
        + "<p class='meta'>Mermaid text of the graph (paste into any Mermaid viewer):</p>"
        + f'<pre class="mermaid-text">{escape(to_mermaid(graph, st))}</pre>'
    )


def _durations(rec: RunRecord, st: dict[str, Status]) -> str:
    rows = []
    seen: dict[tuple[str, str], list[NodeRun]] = {}
    for r in rec.nodes:
        seen.setdefault((r.node, r.branch or MAIN), []).append(r)
    for (node, branch), runs in seen.items():
        outcome = _node_outcome(runs, rec)
        total = sum(r.timing_ms or 0.0 for r in runs)
        rows.append(
            f"<tr class='{outcome}'><td>{escape(node)}</td><td>{escape(branch)}</td>"
            f"<td class='o-{outcome}'>{OUTCOME_TEXT[outcome]}</td><td class='num'>{len(runs)}</td>"
            f"<td class='num'>{_fmt_ms(total)}</td></tr>"
        )
    not_run = [n for n, s in st.items() if s.outcome == "not_run"]
    for n in not_run:
        rows.append(
            f"<tr class='not_run'><td>{escape(n)}</td><td></td>"
            "<td class='o-not_run'>not run</td><td class='num'>0</td><td class='num'>–</td></tr>"
        )
    return (
        "<table class='durations'><tr><th>node</th><th>flow</th><th>outcome</th>"
        f"<th>runs</th><th>time</th></tr>{''.join(rows)}</table>"
    )


def _problems(rec: RunRecord, problems: Sequence[Problem]) -> str:
    if problems:
        items = [
            f"<div class='problem {escape(p.severity)}'>"
            f"<span class='where'>{escape(p.where)}</span>"
            f" {escape(p.severity)}{f'[{escape(p.code)}]' if p.code else ''}: "
            f"{escape(p.message)}</div>"
            for p in problems
        ]
        return "".join(items)
    return "<p class='meta'>no errors.</p>"


def render_report(
    rec: RunRecord,
    graph: Graph | None,
    *,
    problems: Sequence[Problem] = (),
    state: Any = None,
    state_known: bool = False,
    state_note: str = "the final state is not part of the events file.",
    status: str | None = None,
    use_graphviz: bool = True,
    title: str | None = None,
) -> str:
    st = statuses(rec, graph)
    name = title or rec.workflow or (graph.name if graph else None) or "workflow"
    status = rec.status if rec.finished is not None or status is None else status
    fin = rec.finished or {}
    summary = (
        f"<span class='status {escape(status)}'>{escape(status)}</span> "
        f"<span class='meta'>{escape(rec.path or '')} · {int(_num(fin.get('steps')))} steps · "
        f"{_fmt_ms(_num(fin.get('timing_ms'), rec.end_ms))} · strategy "
        f"{escape(rec.strategy or '?')} · {len(rec.branches)} branches</span>"
    )
    if state_known:
        dumped = json.dumps(state, indent=2, ensure_ascii=False, default=str)
        state_html = f"<pre class='state'>{escape(dumped, quote=False)}</pre>"
    else:
        state_html = f"<p class='meta'>{escape(state_note)}</p>"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>run report: {escape(name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>run report: {escape(name)}</h1><p>{summary}</p>"
        f"<h2>Graph</h2>{_graph_section(graph, st, use_graphviz)}"
        f"<h2>Timeline</h2>{timeline_svg(rec)}"
        f"<h2>Errors</h2>{_problems(rec, problems)}"
        f"<h2>Node durations</h2>{_durations(rec, st)}"
        f"<h2>Final state</h2>{state_html}"
        "</body></html>\n"
    )


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def branch_problems(rec: RunRecord) -> list[BranchRun]:
    return [b for b in rec.branches if b.outcome in ("failed", "timeout")]

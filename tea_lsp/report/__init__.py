"""Run reports: a self-contained HTML page built from a run's event records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tea_lsp.analysis import analyze
from tea_lsp.diagnostics import Diagnostic
from tea_lsp.graph import Graph, build_graph
from tea_lsp.report.html import Problem, render_report
from tea_lsp.report.record import EventsError, RunRecord, parse_ndjson, read_events

__all__ = [
    "EventsError",
    "Problem",
    "RunRecord",
    "build_report",
    "parse_ndjson",
    "read_events",
    "render_report",
]


def _problem(path: str, d: Diagnostic) -> Problem:
    return Problem(
        d.severity.label, d.message, path, d.span.start_line + 1, d.span.start_col + 1, d.code
    )


def build_report(
    events: Sequence[dict[str, Any]],
    *,
    workflow_text: str | None,
    path: str | None = None,
    diagnostics: Sequence[Diagnostic] | None = None,
    state: Any = None,
    state_known: bool = False,
    state_note: str | None = None,
    status: str | None = None,
    use_graphviz: bool = True,
) -> str:
    """The HTML report of a run.

    ``diagnostics``: the run's own (its error and failed branches, with the YAML line of the
    failing code), when the run happened in this process; without them (a saved events file)
    each failure is placed at its node's name in ``workflow_text``. ``status``: the run's
    status when the events do not say it (a run that never started: ``invalid``, ``refused``).
    """
    rec = read_events(events)
    where = path or rec.path or "<workflow>"
    graph: Graph | None = None
    positions: dict[str, tuple[int, int]] = {}
    if workflow_text is not None:
        analysis = analyze(workflow_text, where)
        wf = analysis.workflow
        if wf is not None and wf.nodes:
            graph = build_graph(wf, analysis.diagnostics)
            for n in wf.all_nodes():
                positions.setdefault(n.name, (n.name_span.start_line, n.name_span.start_col))
    problems: list[Problem] = []
    if diagnostics is not None:
        problems = [_problem(where, d) for d in diagnostics]
    else:
        for run in rec.nodes:
            if run.ok is False and run.error:
                line, col = positions.get(run.node, (-1, -1))
                problems.append(
                    Problem(
                        "error",
                        run.error + (f" (in branch '{run.branch}')" if run.branch else ""),
                        where,
                        line + 1 if line >= 0 else None,
                        col + 1 if col >= 0 else None,
                    )
                )
        for b in rec.branches:
            if b.outcome == "timeout" or (b.outcome == "failed" and b.error_type != "LuaError"):
                name = b.branch.split("[", 1)[0]
                line, col = positions.get(name, (-1, -1))
                problems.append(
                    Problem(
                        "error",
                        f"branch '{b.branch}' {'timed out' if b.timeout else 'failed'}: "
                        f"{b.error_type or 'error'}: {b.error or ''}".rstrip(": "),
                        where,
                        line + 1 if line >= 0 else None,
                        col + 1 if col >= 0 else None,
                    )
                )
        fin = rec.finished or {}
        err = fin.get("error")
        if isinstance(err, str) and not any(err in p.message for p in problems):
            problems.append(Problem("error", err, where))
    return render_report(
        rec,
        graph,
        problems=problems,
        state=state,
        state_known=state_known,
        state_note=state_note or "the final state is not part of the events file.",
        status=status,
        use_graphviz=use_graphviz,
    )

"""``tea-lsp report EVENTS.ndjson -o run.html``, and ``tea-lsp run FILE --report run.html``.

Both write the same self-contained HTML page (see :mod:`tea_lsp.report`). From a saved events
file the workflow is read from the path its ``run_started`` event names (or ``--workflow``);
the final state is not in the events, so the page says so.
Exit codes of ``report``: 0 written; 2 usage error (missing or unreadable file, not NDJSON
events, cannot write the output).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE = 0, 2


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report of a run from its --events file",
        description="Write a self-contained HTML run report (graph coloured by outcome, "
        "branch timeline, node durations, errors) from the NDJSON events of 'tea-lsp run "
        "--events'.",
    )
    p.add_argument("events", help="the events file written by 'tea-lsp run --events'")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the HTML file to write")
    p.add_argument(
        "--workflow",
        metavar="FILE",
        help="the workflow file (default: the path recorded in the events)",
    )
    p.set_defaults(func=report_command)


def _read(path: str, what: str) -> str:
    from tea_lsp.report import EventsError

    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EventsError(f"{what}: {path}: no such file") from None
    except IsADirectoryError:
        raise EventsError(f"{what}: {path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EventsError(f"{what}: {path}: cannot read: {exc}") from None


def write_html(out: str, html: str) -> str | None:
    """Write ``html`` to ``out``; the reason when it cannot be written."""
    try:
        Path(out).write_text(html, encoding="utf-8")
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


def report_command(args: argparse.Namespace) -> int:
    from tea_lsp.report import EventsError, build_report, parse_ndjson, read_events

    try:
        events = parse_ndjson(_read(args.events, "events"), args.events)
        rec = read_events(events)
        wf_path = args.workflow or rec.path
        text = None
        if args.workflow:
            text = _read(args.workflow, "--workflow")
        elif wf_path and Path(wf_path).is_file():
            text = _read(wf_path, "workflow")
    except EventsError as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if text is None:
        print(
            f"tea-lsp: warning: workflow file '{wf_path}' not found; the report has no graph "
            "(give it with --workflow)",
            file=sys.stderr,
        )
    html = build_report(events, workflow_text=text, path=wf_path)
    reason = write_html(args.output, html)
    if reason is not None:
        print(f"tea-lsp: error: -o: {args.output}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def report_after_run(out: str, text: str, events: list[dict[str, Any]], result: Any) -> None:
    from tea_lsp.report import build_report

    """``tea-lsp run --report OUT``: the page of the run that just ended (``result``: RunResult)."""
    diags = []
    if result.error_diagnostic is not None:
        diags.append(result.error_diagnostic)
    diags.extend(result.branch_diagnostics)
    if result.status in ("invalid", "refused"):
        diags = list(result.diagnostics)
    html = build_report(
        events,
        workflow_text=text,
        path=result.path,
        diagnostics=diags,
        state=result.state,
        state_known=result.status == "ok",
        state_note=f"no final state: the run ended with status '{result.status}'.",
        status=result.status,
    )
    reason = write_html(out, html)
    if reason is not None:
        print(f"tea-lsp: error: --report: {out}: {reason}", file=sys.stderr)

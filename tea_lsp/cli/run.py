"""``tea-lsp run FILE``: check, then run a workflow; the final state goes to stdout as JSON.

Exit codes: 0 the run succeeded; 1 the run failed (the error is printed like a diagnostic,
``path:line:col: error[TEA6xx] node 'x': ...``); 2 usage error (missing file, bad ``--input``);
3 the workflow has errors (printed as by ``check``; warnings do not block) or uses a feature
the runner refuses (TEA607); 130 interrupted (Ctrl-C), 143 / 129 stopped by SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tea_lsp.cli.common import UsageError, read_workflow
from tea_lsp.cli.render import header, underline
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.safeio import MAX_JSON_DEPTH, json_depth, non_finite
from tea_lsp.syntax.text import LineIndex

if TYPE_CHECKING:  # the engine is imported when a run starts, not to build the parser
    from tea_lsp.engine.events import Event
    from tea_lsp.engine.runner import RunResult

DEFAULT_MAX_STEPS = 1000  # tea_lsp.engine.plan.DEFAULT_MAX_STEPS, kept light for the parser

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a workflow",
        description="Check and run a TEA workflow; print the final state as JSON.",
    )
    p.add_argument("file", help="the workflow file ('-' for stdin)")
    p.add_argument(
        "--input",
        metavar="JSON",
        help="initial state: a JSON object, or @file.json (merged over initial_state)",
    )
    p.add_argument(
        "--events",
        metavar="FILE",
        help="write the event stream as NDJSON to FILE ('-': stdout, ending with the result)",
    )
    p.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help="json: stdout is always one JSON object {ok, state} or {ok, error, state}",
    )
    p.add_argument("--report", metavar="FILE", help="write a self-contained HTML run report")
    p.add_argument(
        "--default-language",
        choices=["auto", "python", "lua"],
        default=None,
        help="how code without 'language:' is read (default: the configuration's, else auto)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        metavar="N",
        help=f"stop a run after N node executions (default {DEFAULT_MAX_STEPS})",
    )
    p.add_argument(
        "--strategy",
        choices=["process", "thread", "dask"],
        default=None,
        help="how parallel branches run (default: settings.parallel.strategy, else process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="the Dask scheduler for --strategy dask (implies it; default: "
        "settings.parallel.dask.address, else DASK_SCHEDULER_ADDRESS, else a local cluster)",
    )
    p.set_defaults(func=run_command)


def _read_input(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    where = "--input"
    text = raw
    if raw.startswith("@"):
        where = raw[1:]
        try:
            text = Path(raw[1:]).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError(f"--input: {raw[1:]}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--input: {raw[1:]}: cannot read: {exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg.lower()}"
        ) from None
    except RecursionError:
        raise UsageError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise UsageError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(value).__name__}")
    if (bad := non_finite(value)) is not None:
        raise UsageError(f"{where}: '{bad[0]}' is {bad[1]}; JSON numbers cannot be NaN or infinite")
    return value


def _print_diagnostics(path: str, diags: list[Diagnostic], out: IO[str]) -> None:
    for d in diags:
        out.write(header(path, d) + "\n")


class _Stats:
    """Counts for the summary line, from the run's events."""

    def __init__(self) -> None:
        self.nodes = 0
        self.branches = 0
        self.failed = 0

    def __call__(self, event: Event) -> None:
        from tea_lsp.engine.events import BranchFinished, NodeFinished

        if isinstance(event, NodeFinished):
            self.nodes += 1
            self.failed += 0 if event.ok else 1
        elif isinstance(event, BranchFinished):
            self.branches += 1
            if not event.success and event.error_type in ("TimeoutError", "WorkerCrash"):
                self.failed += 1  # no node event tells of it

    def line(self, result: RunResult) -> str:
        word = {"ok": "ok", "failed": "failed", "cancelled": "cancelled"}.get(result.status)
        nodes = f"{self.nodes} node" + ("" if self.nodes == 1 else "s")
        branches = f"{self.branches} branch" + ("" if self.branches == 1 else "es")
        return (
            f"{word} in {result.timing_ms / 1000:.2f} s: {nodes}, {branches}, {self.failed} failed"
        )


class _Progress:
    """Progress of every node and branch on a terminal (stderr), with rich."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        from tea_lsp.engine.events import (
            BranchFinished,
            BranchStarted,
            FanOutFinished,
            FanOutStarted,
            NodeFinished,
        )

        c = self.console
        if isinstance(event, NodeFinished):
            indent = "    " if event.branch is not None else ""
            took = f"[dim]{event.timing_ms:.0f} ms[/]"
            if event.ok:
                c.print(f"{indent}[green]✔[/] {escape(event.node)} {took}")
            else:
                c.print(f"{indent}[red]✘[/] {escape(event.node)} {took}")
        elif isinstance(event, FanOutStarted):
            names = escape(", ".join(event.branches))
            c.print(f"[bold]fan-out[/] {escape(event.source)} → {names} → {escape(event.fan_in)}")
        elif isinstance(event, BranchStarted):
            c.print(f"  [cyan]▶[/] {escape(event.branch)}")
        elif isinstance(event, BranchFinished):
            took = f"[dim]{event.timing_ms:.0f} ms[/]"
            if event.success:
                c.print(f"  [green]✔[/] branch {escape(event.branch)} {took}")
            else:
                what = escape(f"{event.error_type}: {event.error}")
                c.print(f"  [red]✘[/] branch {escape(event.branch)} {took} {what}")
        elif isinstance(event, FanOutFinished):
            c.print(
                f"[bold]fan-in[/] {escape(event.fan_in)}: {event.succeeded} ok, "
                f"{event.failed} failed [dim]{event.timing_ms:.0f} ms[/]"
            )


def _failing_node(message: str) -> str | None:
    found = re.findall(r"node '([^']+)'", message)
    return found[-1] if found else None


def _error_json(path: str, d: Diagnostic | None, message: str | None) -> dict[str, Any]:
    if d is None:
        return {"path": path, "message": message or "the run failed"}
    return {
        "path": path,
        "line": d.span.start_line + 1,
        "column": d.span.start_col + 1,
        "end_line": d.span.end_line + 1,
        "end_column": d.span.end_col + 1,
        "code": d.code,
        "message": d.message,
        "node": _failing_node(d.message),
    }


def _report(
    result: RunResult, text: str, out: IO[str], err: IO[str], output: str, events_to_stdout: bool
) -> int:
    path = result.path
    as_json = output == "json"
    if result.status in ("invalid", "refused"):
        _print_diagnostics(path, result.diagnostics, err)
        if as_json:
            errors = [d for d in result.diagnostics if d.severity == Severity.ERROR]
            first = errors[0] if errors else None
            _dump(
                {"ok": False, "error": _error_json(path, first, result.error), "state": None}, out
            )
        return EXIT_INVALID
    warnings = [d for d in result.diagnostics if d.severity != Severity.ERROR]
    _print_diagnostics(path, warnings, err)
    failure = result.error_diagnostic
    # with fail_fast the failing branch is the run's error: say it once
    branch_warnings = [
        d for d in result.branch_diagnostics if failure is None or d.span != failure.span
    ]
    _print_diagnostics(path, branch_warnings, err)
    if result.status == "ok":
        if events_to_stdout:
            _dump(_result_record(result), out, indent=None)
        elif as_json:
            _dump({"ok": True, "state": result.state}, out)
        else:
            _dump(result.state, out)
        return EXIT_OK
    before = result.state_before_failure
    if failure is not None:
        err.write(header(path, failure) + "\n")
        shown = underline(LineIndex(text), failure) if failure.span != Span(0, 0, 0, 0) else None
        if shown is not None:
            src, marks = shown
            err.write(f"    {src}\n    {marks}\n")
    else:
        err.write(f"{path}: error: {result.error}\n")
    if before is not None and not as_json and not events_to_stdout:
        node = _failing_node(failure.message) if failure is not None else None
        where = f"node '{node}'" if node else "the failure"
        state_text = json.dumps(before, indent=2, ensure_ascii=False, default=str)
        err.write(f"  state before {where}:\n")
        err.write("".join(f"    {line}\n" for line in state_text.splitlines()))
    body = {"ok": False, "error": _error_json(path, failure, result.error), "state": before}
    if events_to_stdout:
        _dump(_result_record(result), out, indent=None)
    elif as_json:
        _dump(body, out)
    if failure is not None and failure.code == "TEA900":
        return EXIT_INVALID
    return EXIT_FAILED


def _result_record(result: RunResult) -> dict[str, Any]:
    """The last NDJSON record of an event stream: the outcome, and on failure the error and
    the state the failing node received."""
    if result.status == "ok":
        return {"event": "result", "ok": True, "state": result.state}
    error = _error_json(result.path, result.error_diagnostic, result.error)
    return {"event": "result", "ok": False, "error": error, "state": result.state_before_failure}


def _dump(value: Any, out: IO[str], indent: int | None = 2) -> None:
    json.dump(value, out, indent=indent, ensure_ascii=False, default=str)
    out.write("\n")


def _configured_language(path: str) -> str | None:
    """``default-language`` of the configuration file that governs ``path`` (if any)."""
    from tea_lsp.config import ConfigError, ConfigFinder

    if path in ("-", "<stdin>"):
        return None
    try:
        file = Path(path).resolve()
        return ConfigFinder().for_dir(file.parent).config_for(file).default_language
    except (ConfigError, OSError):
        return None  # `tea-lsp check` reports a broken configuration


def run_command(args: argparse.Namespace) -> int:
    try:
        text, path = read_workflow(args.file)
        data = _read_input(args.input)
        if args.max_steps < 1:
            raise UsageError("--max-steps must be at least 1")
    except UsageError as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from tea_lsp.engine.events import NdjsonWriter
    from tea_lsp.engine.executors import shutdown_default_pool
    from tea_lsp.engine.plan import RunOptions
    from tea_lsp.engine.runner import CancelToken, run_workflow
    from tea_lsp.engine.signals import exit_code, stop_signals

    stats = _Stats()
    callbacks: list[Callable[[Event], None]] = [stats]
    events_to_stdout = args.events == "-"
    events_file: IO[str] | None = None
    tty = sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        if events_to_stdout:
            callbacks.append(NdjsonWriter(sys.stdout))
        elif args.events:
            try:
                fh = stack.enter_context(open(args.events, "w", encoding="utf-8"))
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                print(f"tea-lsp: error: --events: {args.events}: {reason}", file=sys.stderr)
                return EXIT_USAGE
            callbacks.append(NdjsonWriter(fh))
            events_file = fh
        if tty:
            callbacks.append(_Progress())
        report_events: list[dict[str, Any]] = []
        if args.report:
            callbacks.append(lambda event: report_events.append(event.to_json()))

        def on_event(event: Event) -> None:
            for cb in callbacks:
                cb(event)

        strategy: Any = args.strategy or ("dask" if args.scheduler else None)
        options = RunOptions(
            strategy=strategy,
            max_steps=args.max_steps,
            dask_address=args.scheduler,
            default_language=args.default_language or _configured_language(path),
        )
        token = CancelToken()
        box: dict[str, Any] = {}
        finished = threading.Event()  # not Thread.join: an interrupted join breaks is_alive()

        def work() -> None:
            try:
                box["result"] = run_workflow(
                    text,
                    path=path,
                    input=data,
                    options=options,
                    events=on_event,
                    cancel=token,
                )
            except BaseException as exc:  # re-raised in the main thread
                box["error"] = exc
            finally:
                finished.set()

        # The run goes in a thread so that Ctrl-C is handled at once by the main thread,
        # even while a long Lua call of the main flow holds the run's thread.
        worker = threading.Thread(target=work, name="tea-lsp-run", daemon=True)
        try:
            with stop_signals():  # SIGTERM / SIGHUP stop the run like Ctrl-C
                worker.start()
                while not finished.wait(0.1):
                    pass
        except KeyboardInterrupt as exc:
            token.cancel()
            finished.wait(5.0)  # the run stops its workers and writes run_finished (cancelled)
            shutdown_default_pool()
            print("tea-lsp: interrupted", file=sys.stderr)
            return exit_code(exc)
        finally:
            if finished.is_set():
                shutdown_default_pool()
        if "error" in box:
            raise box["error"]
        result: RunResult = box["result"]
        if args.report:
            from tea_lsp.cli.report import report_after_run

            report_after_run(args.report, text, report_events, result)
        code = _report(result, text, sys.stdout, sys.stderr, args.output, events_to_stdout)
        if events_file is not None and result.status in ("ok", "failed"):
            _dump(_result_record(result), events_file, indent=None)
        if tty and result.status in ("ok", "failed", "cancelled"):
            print(stats.line(result), file=sys.stderr)
        return code

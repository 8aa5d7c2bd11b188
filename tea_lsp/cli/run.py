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
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tea_lsp.cli.render import header
from tea_lsp.diagnostics import Diagnostic, Severity
from tea_lsp.engine.events import (
    BranchFinished,
    BranchStarted,
    Event,
    FanOutFinished,
    FanOutStarted,
    NdjsonWriter,
)
from tea_lsp.engine.executors import shutdown_default_pool
from tea_lsp.engine.plan import DEFAULT_MAX_STEPS, RunOptions
from tea_lsp.engine.runner import CancelToken, RunResult, run_workflow
from tea_lsp.engine.signals import exit_code, stop_signals

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    pass


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
    p.add_argument("--events", metavar="FILE", help="write the event stream as NDJSON to FILE")
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


def _read_workflow(raw: str) -> tuple[str, str]:
    if raw == "-":
        return sys.stdin.read(), "<stdin>"
    path = Path(raw)
    if not path.exists():
        raise UsageError(f"{raw}: no such file")
    if path.is_dir():
        raise UsageError(f"{raw}: is a directory")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{raw}: cannot read: {(exc.strerror or str(exc)).lower()}") from None
    try:
        return data.decode("utf-8-sig"), raw
    except UnicodeDecodeError as exc:
        raise UsageError(f"{raw}: not UTF-8 text (byte offset {exc.start})") from None


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
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _print_diagnostics(path: str, diags: list[Diagnostic], out: IO[str]) -> None:
    for d in diags:
        out.write(header(path, d) + "\n")


class _Progress:
    """Per-branch progress on a terminal (stderr), with rich."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        c = self.console
        if isinstance(event, FanOutStarted):
            names = escape(", ".join(event.branches))
            c.print(f"[bold]fan-out[/] {escape(event.source)} → {names} → {escape(event.fan_in)}")
        elif isinstance(event, BranchStarted):
            c.print(f"  [cyan]▶[/] {escape(event.branch)}")
        elif isinstance(event, BranchFinished):
            took = f"[dim]{event.timing_ms:.0f} ms[/]"
            if event.success:
                c.print(f"  [green]✔[/] {escape(event.branch)} {took}")
            else:
                what = escape(f"{event.error_type}: {event.error}")
                c.print(f"  [red]✘[/] {escape(event.branch)} {took} {what}")
        elif isinstance(event, FanOutFinished):
            c.print(
                f"[bold]fan-in[/] {escape(event.fan_in)}: {event.succeeded} ok, "
                f"{event.failed} failed [dim]{event.timing_ms:.0f} ms[/]"
            )


def _report(result: RunResult, out: IO[str], err: IO[str]) -> int:
    path = result.path
    if result.status in ("invalid", "refused"):
        _print_diagnostics(path, result.diagnostics, err)
        return EXIT_INVALID
    warnings = [d for d in result.diagnostics if d.severity != Severity.ERROR]
    _print_diagnostics(path, warnings, err)
    _print_diagnostics(path, result.branch_diagnostics, err)
    if result.status == "ok":
        json.dump(result.state, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    if result.error_diagnostic is not None:
        _print_diagnostics(path, [result.error_diagnostic], err)
        if result.error_diagnostic.code == "TEA900":
            return EXIT_INVALID
    else:
        err.write(f"{path}: error: {result.error}\n")
    return EXIT_FAILED


def run_command(args: argparse.Namespace) -> int:
    try:
        text, path = _read_workflow(args.file)
        data = _read_input(args.input)
        if args.max_steps < 1:
            raise UsageError("--max-steps must be at least 1")
    except UsageError as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    callbacks: list[Callable[[Event], None]] = []
    with contextlib.ExitStack() as stack:
        if args.events:
            try:
                fh = stack.enter_context(open(args.events, "w", encoding="utf-8"))
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                print(f"tea-lsp: error: --events: {args.events}: {reason}", file=sys.stderr)
                return EXIT_USAGE
            callbacks.append(NdjsonWriter(fh))
        if sys.stderr.isatty():
            callbacks.append(_Progress())

        def on_event(event: Event) -> None:
            for cb in callbacks:
                cb(event)

        strategy: Any = args.strategy or ("dask" if args.scheduler else None)
        options = RunOptions(
            strategy=strategy, max_steps=args.max_steps, dask_address=args.scheduler
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
                    events=on_event if callbacks else None,
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
        return _report(box["result"], sys.stdout, sys.stderr)

"""``tea.runWorkflow`` and ``tea.cancelRun``: run the buffer's text on the engine.

A run happens in a thread (the event loop keeps answering), its parallel branches in a warm
process pool kept by the server for its whole life. Branch starts and finishes are reported as
work-done progress; cancelling the request (``$/cancelRequest``), the progress, or calling
``tea.cancelRun`` stops the run and kills its branches. Runtime errors are published as
diagnostics with source ``tea-run`` until the next edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tea_lsp.analysis import Analysis
from tea_lsp.diagnostics import Diagnostic
from tea_lsp.engine.events import (
    BranchFinished,
    BranchStarted,
    Event,
    FanOutStarted,
    NodeStarted,
    RunFinished,
)
from tea_lsp.lsp.selection import uri_to_path
from tea_lsp.lsp.server import current_command

if TYPE_CHECKING:
    from tea_lsp.engine import ProcessPool, RunOptions, RunResult
    from tea_lsp.lsp.server import TeaLanguageServer

log = logging.getLogger("tea_lsp.lsp.run")

RUN_COMMAND = "tea.runWorkflow"
CANCEL_COMMAND = "tea.cancelRun"
RUN_SOURCE = "tea-run"
# How long a cancelled run may take to stop its branches before the answer goes out anyway.
_STOP_WAIT_S = 10.0


@dataclass(slots=True)
class ActiveRun:
    id: int
    uri: str
    cancel: Any  # CancelToken
    progress: types.ProgressToken | None = None
    branches_total: int = 0
    branches_done: int = 0
    running: list[str] = field(default_factory=list)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


class RunManager:
    """The server's runs, their cancel tokens, and the warm process pool."""

    def __init__(self, server: TeaLanguageServer) -> None:
        self.server = server
        self.active: dict[int, ActiveRun] = {}
        self._ids = itertools.count(1)
        self._pool: ProcessPool | None = None
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tea-run")
        self._warming = False
        server.on_shutdown.append(self.shutdown)

    # ---- the pool

    def pool(self) -> ProcessPool:
        from tea_lsp.engine import ProcessPool

        if self._pool is None or self._pool.closed:
            self._pool = ProcessPool()
        return self._pool

    def warm(self) -> None:
        """Start a couple of workers in the background, once, so the first run is fast."""
        if self._warming or self.server.settings.strategy != "process":
            return
        self._warming = True

        def work() -> None:
            try:
                self.pool().warm(min(2, os.cpu_count() or 1))
            except Exception as exc:  # shut down meanwhile, or cannot start: a run will say
                log.info("process pool not warmed: %s", exc)

        self._threads.submit(work)

    def shutdown(self) -> None:
        for run in list(self.active.values()):
            run.cancel.cancel()
        if self._pool is not None:
            self._pool.shutdown()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # ---- options

    def options(self, analysis: Analysis | None) -> RunOptions:
        """Editor settings, where the workflow's own ``settings`` do not decide."""
        from tea_lsp.engine import RunOptions

        s = self.server.settings
        wf = analysis.workflow if analysis is not None else None
        ws: Mapping[str, Any] = wf.settings if wf is not None else {}
        lua = ws.get("lua") if isinstance(ws.get("lua"), Mapping) else {}
        par = ws.get("parallel") if isinstance(ws.get("parallel"), Mapping) else {}
        assert isinstance(lua, Mapping) and isinstance(par, Mapping)
        return RunOptions(
            strategy=None if "strategy" in par else s.strategy,  # type: ignore[arg-type]
            max_parallel_branches=(
                None
                if "max_parallel_branches" in par or "max_workers" in par
                else s.max_parallel_branches
            ),
            lua_timeout=None if "timeout" in lua else s.lua_timeout,
            lua_max_memory=None if "max_memory" in lua else s.lua_max_memory,
            default_language=(
                self.server.config_for(analysis.path).default_language
                if analysis is not None
                else None
            ),
        )

    # ---- progress

    def _report(self, run: ActiveRun, message: str) -> None:
        if run.progress is None:
            return
        pct = None
        if run.branches_total:
            pct = min(100, int(100 * run.branches_done / run.branches_total))
        self.server.work_done_progress.report(
            run.progress,
            types.WorkDoneProgressReport(message=message, percentage=pct, cancellable=True),
        )

    def on_event(self, run: ActiveRun, ev: Event) -> None:
        """Runs on the event loop (events arrive from the run's thread)."""
        if isinstance(ev, FanOutStarted):
            run.branches_total += len(ev.branches)
            self._report(run, f"fan-out from '{ev.source}': {len(ev.branches)} branches")
        elif isinstance(ev, BranchStarted):
            run.running.append(ev.branch)
            where = f" (worker {ev.worker})" if ev.worker is not None else ""
            self._report(run, f"branch '{ev.branch}' started{where}")
        elif isinstance(ev, BranchFinished):
            run.branches_done += 1
            if ev.branch in run.running:
                run.running.remove(ev.branch)
            how = "finished" if ev.success else f"failed: {ev.error or ev.error_type}"
            self._report(run, f"branch '{ev.branch}' {how}")
        elif isinstance(ev, NodeStarted) and ev.branch is None:
            self._report(run, f"node '{ev.node}'")
        elif isinstance(ev, RunFinished):
            pass

    async def _begin(self, run: ActiveRun, title: str) -> None:
        if not self.server.supports_work_done_progress():
            return
        params = current_command.get()
        token: types.ProgressToken | None = params.work_done_token if params else None
        progress = self.server.work_done_progress
        if token is None:
            token = f"tea-run-{run.id}"
            try:
                await progress.create_async(token)
            except Exception as exc:  # the client refused: run without progress
                log.info("work done progress refused: %s", exc)
                return
        run.progress = token
        progress.begin(
            token, types.WorkDoneProgressBegin(title=title, cancellable=True, message="starting")
        )
        fut = progress.tokens.get(token)
        if fut is not None:  # window/workDoneProgress/cancel from the client

            def cancelled(f: Any) -> None:
                if f.cancelled():
                    run.cancel.cancel()

            fut.add_done_callback(cancelled)

    def _end(self, run: ActiveRun, message: str) -> None:
        if run.progress is None:
            return
        self.server.work_done_progress.end(run.progress, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(run.progress, None)

    # ---- running

    async def run(self, uri: str, run_input: Mapping[str, Any] | None) -> dict[str, Any]:
        from tea_lsp.engine import CancelToken, run_workflow

        server = self.server
        source: str | Analysis
        version: int | None = None
        path = uri_to_path(uri)
        analysis: Analysis | None = None
        if uri in server.docs:
            snap = await server.snapshot(uri)
            if snap is None:
                raise JsonRpcInvalidParams(f"'{uri}' was closed")
            version = snap.version
            if snap.analysis is not None:
                analysis = snap.analysis
                source = analysis
            else:
                source = server.docs[uri].read()[1]
        else:
            try:
                source = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise JsonRpcInvalidParams(f"cannot read '{uri}': {exc}") from exc
        options = self.options(analysis)
        run = ActiveRun(next(self._ids), uri, CancelToken())
        self.active[run.id] = run
        wf = analysis.workflow if analysis is not None else None
        name = wf.name if wf is not None and wf.name else Path(path).name
        try:
            await self._begin(run, f"Run workflow {name}")
            pool = self.pool() if options.strategy in (None, "process") else None

            recorded: list[dict[str, Any]] = []

            def events(ev: Event) -> None:
                recorded.append(ev.to_json())
                server.call_soon(self.on_event, run, ev)

            call = functools.partial(
                run_workflow,
                source,
                path=path,
                input=run_input,
                options=options,
                events=events,
                cancel=run.cancel,
                pool=pool,
            )
            future = asyncio.get_running_loop().run_in_executor(self._threads, call)
            try:
                result: RunResult = await asyncio.shield(future)
            except asyncio.CancelledError:
                run.cancel.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(future), _STOP_WAIT_S)
                self._end(run, "cancelled")
                raise
        except asyncio.CancelledError:
            raise
        except Exception:
            self._end(run, "failed")
            raise
        finally:
            self.active.pop(run.id, None)
        self._end(run, _summary(result))
        if version is not None:
            server.set_run_diagnostics(uri, version, runtime_diagnostics(result))
        return {
            "ok": result.ok,
            "status": result.status,
            "state": _json_safe(result.state),
            "error": result.error,
            "branches": _json_safe(result.branches),
            "timing_ms": round(result.timing_ms, 3),
            "nodes": node_outcomes(recorded),
        }

    def cancel(self, uri: str | None) -> int:
        n = 0
        for run in list(self.active.values()):
            if uri is None or run.uri == uri:
                run.cancel.cancel()
                n += 1
        return n


def _summary(result: RunResult) -> str:
    if result.ok:
        return f"ok in {result.timing_ms:.0f} ms"
    if result.status == "cancelled":
        return "cancelled"
    return f"{result.status}: {result.error}"


def node_outcomes(events: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """How each node that ran ended (``ok`` | ``failed`` | ``timeout``) and its time, from the
    run's events, by node name (a node absent from the map did not run)."""
    from tea_lsp.report import read_events
    from tea_lsp.report.html import statuses

    st = statuses(read_events(events), None)
    return {name: {"outcome": s.outcome, "time": s.note} for name, s in st.items()}


def runtime_diagnostics(result: RunResult) -> list[Diagnostic]:
    """What the run found beyond the checker: the failure, failed branches, refusals."""
    out: list[Diagnostic] = []
    if result.error_diagnostic is not None:
        out.append(result.error_diagnostic)
    out.extend(result.branch_diagnostics)
    if result.status == "refused":
        out.extend(d for d in result.diagnostics if d.code == "TEA607")
    return out


def _uri_arg(args: tuple[Any, ...], command: str) -> str:
    if not args or not isinstance(args[0], str) or not args[0]:
        raise JsonRpcInvalidParams(f"{command} expects [uri] or [uri, input]")
    return args[0]


def register(server: TeaLanguageServer) -> None:
    runs = RunManager(server)
    server.runs = runs

    @server.command(RUN_COMMAND)
    async def run_workflow_command(*args: Any) -> dict[str, Any]:
        uri = _uri_arg(args, RUN_COMMAND)
        if len(args) > 2:
            raise JsonRpcInvalidParams(f"{RUN_COMMAND} expects [uri] or [uri, input]")
        run_input = args[1] if len(args) == 2 else None
        if run_input is not None and not isinstance(run_input, Mapping):
            raise JsonRpcInvalidParams(f"{RUN_COMMAND}: the input must be an object")
        return await runs.run(uri, run_input)

    @server.command(CANCEL_COMMAND)
    def cancel_run_command(*args: Any) -> dict[str, int]:
        uri = args[0] if args and isinstance(args[0], str) else None
        return {"cancelled": runs.cancel(uri)}

"""``run_workflow``: check, plan, then run a workflow's main flow and its fan-outs.

Static fan-outs (parallel edges) and ``dynamic_parallel`` nodes (one branch per item) run on
the same executor and join the same way: the fan-in receives ``state.parallel_results``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tea_lsp.analysis import Analysis, analyze
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.engine.actions.registry import ActionRegistry, default_registry, test_actions_enabled
from tea_lsp.engine.branch import BranchOutcome, BranchTask
from tea_lsp.engine.events import (
    BranchFinished,
    BranchStarted,
    Event,
    EventCallback,
    FanOutFinished,
    FanOutStarted,
    NodeFinished,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from tea_lsp.engine.executors import (
    ExecEvent,
    Executor,
    FanOutJob,
    FanOutReport,
    ProcessPool,
    default_pool,
)
from tea_lsp.engine.mainflow import FanOutRequest, MainOutcome, MainTask
from tea_lsp.engine.nodes import NodeEvent
from tea_lsp.engine.plan import Plan, RunOptions, _settings_span, build_plan
from tea_lsp.engine.state import (
    ERROR_CODES,
    NonFiniteValue,
    State,
    branch_result,
    json_clone,
    merge,
)
from tea_lsp.langs.detect import file_default_language
from tea_lsp.model.workflow import Workflow

_POLL = 0.05  # how often cancellation is polled while the main flow runs (seconds)

RunStatus = Literal["ok", "failed", "invalid", "refused", "cancelled"]


class CancelToken:
    """Cancels a run from another thread: ``token.cancel()``.

    The main flow stops before its next node; running branches are stopped at once (process
    workers are killed, threads are told to stop and abandoned).
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


@dataclass(slots=True)
class RunResult:
    """The outcome of :func:`run_workflow`.

    ``status``: ``ok``; ``failed`` (a node or a ``fail_fast`` branch failed: ``error`` and
    ``error_diagnostic`` say where); ``invalid`` (the checker found errors: see
    ``diagnostics``, nothing ran); ``refused`` (the workflow uses a feature the runner does not
    execute: TEA607 in ``diagnostics``, nothing ran); ``cancelled``.
    ``branches``: every branch result of every fan-out, in run order, with the fields of
    ``parallel_results``. ``branch_diagnostics``: a warning for each failed branch that did not
    stop the run.
    """

    ok: bool
    status: RunStatus
    state: State | None
    error: str | None = None
    error_diagnostic: Diagnostic | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    branch_diagnostics: list[Diagnostic] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)
    timing_ms: float = 0.0
    steps: int = 0
    path: str = "<stdin>"
    # status "failed": the state as it was before the failing node (or fan-out) ran
    state_before_failure: State | None = None


def _node_event(t0: float, ev: NodeEvent, branch: str | None) -> Event:
    kind, node, t, ok, ms, error, trace = ev
    t_ms = (t - t0) * 1000
    if kind == "node_started":
        return NodeStarted(t_ms, node, branch)
    traceback = tuple(
        {"line": line, "column": col, "function": fn, "text": text} for line, col, fn, text in trace
    )
    return NodeFinished(t_ms, node, branch, ok, round(ms, 3), error, traceback)


class _Run:
    def __init__(
        self,
        analysis: Analysis,
        workflow: Workflow,
        doc_index: int,
        plan: Plan,
        options: RunOptions,
        events: EventCallback | None,
        cancel: CancelToken | None,
        pool: ProcessPool | None,
        t0: float,
    ) -> None:
        self.analysis = analysis
        self.wf = workflow
        self.doc_index = doc_index
        self.plan = plan
        self.options = options
        self.events = events
        self.cancel = cancel
        self.pool = pool if pool is not None else default_pool()
        self.t0 = t0
        self.branches: list[dict[str, Any]] = []
        self.branch_diagnostics: list[Diagnostic] = []
        self.branch_steps = 0
        self.main_steps = 0
        self.final_state: State | None = None
        self.failed_state: State | None = None  # the state the failing node started from
        self.test_actions = (
            options.test_actions if options.test_actions is not None else test_actions_enabled()
        )
        self.main: Any = None  # the leased worker running the main flow
        self.node: str | None = None  # the main-flow node running now
        self.dask: Any = None  # strategy dask: the connected DaskExecutor

    def emit(self, event: Event) -> None:
        if self.events is not None:
            self.events(event)

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    # ---- the main flow (in a leased worker)

    def node_budget(self) -> float | None:
        """How long one main-flow node (or the routing after it) may take before its worker
        is killed: the longest of the Lua and Python time limits, plus the grace period."""
        limits = self.plan.limits
        parts = [t for t in (limits.lua_timeout, limits.python_timeout) if t is not None]
        if not parts:
            return None
        return max(parts) + limits.kill_grace

    def run(self, state: State) -> tuple[RunStatus, str | None, Diagnostic | None]:
        assert self.plan.entry is not None
        task = MainTask(
            text=self.analysis.text,
            path=self.analysis.path,
            doc_index=self.doc_index,
            entry=self.plan.entry,
            state=state,
            limits=self.plan.limits,
            test_actions=self.test_actions,
            fan_outs={
                src: (fp.fan_in, tuple(fp.branches)) for src, fp in self.plan.fan_outs.items()
            },
        )
        if self.cancel is not None and self.cancel.is_set():
            return "cancelled", "the run was cancelled", None
        if self.plan.limits.strategy == "dask":
            from tea_lsp.engine.dask_executor import DaskSetupError, executor_for, plan_fans_out

            try:
                self.dask = (
                    executor_for(self.plan, self.test_actions) if plan_fans_out(self.plan) else None
                )
            except DaskSetupError as exc:
                span = _settings_span(self.wf, "parallel", "strategy")
                return "failed", str(exc), Diagnostic("TEA630", Severity.ERROR, str(exc), span)
        try:
            return self._run_main(task)
        finally:
            if self.dask is not None:
                self.dask.close()

    def _run_main(self, task: MainTask) -> tuple[RunStatus, str | None, Diagnostic | None]:
        worker = self.pool.lease()
        self.main = worker
        reusable = False
        try:
            worker.conn.send((0, worker.slim(task)))
            status, error, diag, reusable = self._drive(worker)
            return status, error, diag
        finally:
            self.main = None
            self.pool.give_back(worker, reusable=reusable)
            self.pool.trim()

    def _drive(self, worker: Any) -> tuple[RunStatus, str | None, Diagnostic | None, bool]:
        """Relay the main worker's messages until its flow ends; kill it when it overruns."""
        budget = self.node_budget()
        deadline = time.monotonic() + budget if budget is not None else None
        while True:
            wait = _POLL if self.cancel is not None else 1.0
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            msg: Any = None
            try:
                if worker.conn.poll(wait):
                    msg = worker.conn.recv()
            except (EOFError, OSError):
                return (*self._crashed(worker), False)
            if self.cancel is not None and self.cancel.is_set():
                return "cancelled", "the run was cancelled", None, False
            if msg is None:
                if deadline is not None and time.monotonic() >= deadline:
                    return (*self._overdue(budget), False)
                if not worker.alive():
                    return (*self._crashed(worker), False)
                continue
            kind = msg[0]
            if kind == "node":
                ev: NodeEvent = msg[2]
                self.node = ev[1] if ev[0] == "node_started" else self.node
                self.emit(_node_event(self.t0, ev, None))
                if budget is not None:
                    deadline = time.monotonic() + budget
            elif kind == "fan_out":
                request = msg[2]
                report = self.fan_out(request, worker)
                if report.cancelled:
                    return "cancelled", "the run was cancelled", None, False
                if report.first_failure is not None:
                    if report.first_failure < len(request.states):
                        self.failed_state = request.states[report.first_failure]
                    o = report.outcomes[report.first_failure]
                    return (*self.fail_fast_error(o), False)
                worker.conn.send(("fan_in", [self.result_dict(o) for o in report.outcomes]))
                if budget is not None:
                    deadline = time.monotonic() + budget
            elif kind == "crashed":  # the main flow's forked child died; the worker is fine
                where, span = self._where()
                message = f"{where}: the worker process {msg[2]}"
                return "failed", message, Diagnostic("TEA604", Severity.ERROR, message, span), True
            elif kind == "main_done":
                out: MainOutcome = msg[2]
                self.main_steps = out.steps
                if out.status == "ok":
                    self.final_state = out.state
                    return "ok", None, None, out.reusable
                self.failed_state = out.state
                diag = out.failure.diagnostic() if out.failure is not None else None
                if out.failure is None and out.error is not None:
                    diag = Diagnostic("TEA900", Severity.ERROR, out.error, Span(0, 0, 0, 0))
                return "failed", out.error, diag, out.reusable

    def _where(self) -> tuple[str, Span]:
        node = self.wf.by_name.get(self.node or "")
        if node is None:
            return "the main flow", self.wf.root.span
        return f"node '{node.name}'", node.name_span

    def _crashed(self, worker: Any) -> tuple[RunStatus, str, Diagnostic]:
        with contextlib.suppress(Exception):
            worker.process.join(timeout=1.0)
        where, span = self._where()
        message = f"{where}: the worker process {worker.exit_description()}"
        return "failed", message, Diagnostic("TEA604", Severity.ERROR, message, span)

    def _overdue(self, budget: float | None) -> tuple[RunStatus, str, Diagnostic]:
        where, span = self._where()
        limit = (budget or 0) - self.plan.limits.kill_grace
        message = (
            f"{where}: ran past the time limit of {limit:g} s; the worker did not return from "
            "a call and was killed"
        )
        return "failed", message, Diagnostic("TEA602", Severity.ERROR, message, span)

    # ---- fan-outs

    @staticmethod
    def result_dict(o: BranchOutcome) -> dict[str, Any]:
        return branch_result(
            o.branch,
            success=o.success,
            state=o.state,
            error=o.error,
            error_type=o.error_type,
            timeout=o.timeout,
            timing_ms=o.timing_ms,
        )

    def fan_out(self, req: FanOutRequest, worker: Any) -> FanOutReport:
        return self.run_branches(
            req.source,
            req.fan_in,
            req.branches,
            req.states,
            req.dynamic,
            req.max_parallel,
            req.fail_fast,
            worker,
        )

    def run_branches(
        self,
        source: str,
        fan_in: str,
        branches: list[str],
        states: list[State],
        dynamic: str | None,
        max_parallel: int,
        fail_fast: bool,
        worker: Any,
    ) -> FanOutReport:
        limits = self.plan.limits
        start = time.monotonic()
        deadline = start + limits.fan_out_timeout if limits.fan_out_timeout is not None else None
        tasks = [
            BranchTask(
                text=self.analysis.text,
                path=self.analysis.path,
                doc_index=self.doc_index,
                branch=b,
                fan_in=fan_in,
                index=k,
                state=states[k],
                limits=limits,
                fan_out_deadline=deadline,
                test_actions=self.test_actions,
                dynamic=dynamic,
            )
            for k, b in enumerate(branches)
        ]
        self.emit(FanOutStarted(self.now_ms(), source, fan_in, tuple(branches)))

        def on_event(ev: ExecEvent) -> None:
            kind, i, payload, extra = ev
            branch = branches[i]
            if kind == "started":
                t_ms = (float(payload) - self.t0) * 1000
                self.emit(BranchStarted(t_ms, branch, fan_in, i, extra))
            elif kind == "node":
                self.emit(_node_event(self.t0, payload, branch))
            elif kind == "finished":
                o: BranchOutcome = payload
                self.emit(
                    BranchFinished(
                        self.now_ms(),
                        branch,
                        fan_in,
                        i,
                        o.success,
                        round(o.timing_ms, 3),
                        o.error_type,
                        o.error,
                        o.timeout,
                    )
                )

        executor: Executor = (
            _RemoteThreads(worker, self.cancel) if limits.strategy == "thread" else self.pool
        )
        if self.dask is not None:
            executor = self.dask
        job = FanOutJob(
            tasks=tasks,
            max_parallel=max_parallel,
            fail_fast=fail_fast,
            fan_out_deadline=deadline,
            kill_grace=limits.kill_grace,
            on_event=on_event if self.events is not None else None,
            cancel=self.cancel,
        )
        report = executor.run_fan_out(job)
        for o in report.outcomes:
            self.branches.append(self.result_dict(o))
            self.branch_steps += o.steps
            if not o.success and not o.cancelled:
                d = self.outcome_diagnostic(o, f"branch '{o.branch}' failed: {o.error}")
                self.branch_diagnostics.append(
                    Diagnostic(d.code, Severity.WARNING, d.message, d.span)
                )
        ok = sum(1 for o in report.outcomes if o.success)
        self.emit(
            FanOutFinished(
                self.now_ms(),
                source,
                fan_in,
                ok,
                len(report.outcomes) - ok,
                round((time.monotonic() - start) * 1000, 3),
            )
        )
        return report

    def outcome_diagnostic(self, o: BranchOutcome, message: str) -> Diagnostic:
        if o.failure is not None:
            return Diagnostic(o.failure.code, Severity.ERROR, message, Span(*o.failure.span))
        code = ERROR_CODES.get(o.error_type or "", "TEA604")
        name = str(o.extra.get("node") or o.branch)
        node = self.wf.by_name.get(name)
        if node is None and name.endswith("]"):  # an item of a dynamic_parallel node
            node = self.wf.by_name.get(name[: name.rfind("[")])
        span = node.name_span if node is not None else self.wf.root.span
        return Diagnostic(code, Severity.ERROR, message, span)

    def fail_fast_error(self, o: BranchOutcome) -> tuple[RunStatus, str | None, Diagnostic | None]:
        message = f"branch '{o.branch}' failed: {o.error}"
        return "failed", message, self.outcome_diagnostic(o, message)


class _RemoteThreads:
    """The ``thread`` strategy: the branches run as threads inside the main flow's worker."""

    def __init__(self, worker: Any, cancel: CancelToken | None) -> None:
        self.worker = worker
        self.cancel = cancel

    def run_fan_out(self, job: FanOutJob) -> FanOutReport:
        conn = self.worker.conn
        conn.send(("run_threads", replace(job, on_event=None, cancel=None)))
        while True:
            msg: Any = None
            try:
                if conn.poll(_POLL):
                    msg = conn.recv()
            except (EOFError, OSError):
                return self._lost(job, "WorkerCrash", "the worker process stopped")
            if self.cancel is not None and self.cancel.is_set():
                return self._lost(job, "Cancelled", "the run was cancelled", cancelled=True)
            if msg is None:
                if not self.worker.alive():
                    return self._lost(job, "WorkerCrash", "the worker process stopped")
                continue
            if msg[0] == "exec":
                if job.on_event is not None:
                    job.on_event(msg[2])
            elif msg[0] == "threads_done":
                report: FanOutReport = msg[2]
                return report

    @staticmethod
    def _lost(
        job: FanOutJob, error_type: str, why: str, *, cancelled: bool = False
    ) -> FanOutReport:
        outcomes = [
            BranchOutcome(
                branch=t.branch,
                index=t.index,
                success=False,
                state=None,
                error=f"branch '{t.branch}': {why}",
                error_type=error_type,
                cancelled=cancelled,
            )
            for t in job.tasks
        ]
        return FanOutReport(outcomes, None if cancelled else 0, cancelled)


def _first_workflow(analysis: Analysis) -> tuple[Workflow | None, int]:
    for i, wf in enumerate(analysis.workflows):
        if wf is not None:
            return wf, i
    return None, 0


def run_workflow(
    source: str | Analysis,
    *,
    path: str = "<stdin>",
    input: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    events: EventCallback | None = None,
    cancel: CancelToken | None = None,
    pool: ProcessPool | None = None,
    registry: ActionRegistry | None = None,
) -> RunResult:
    """Check and run a workflow; never raises on bad workflows.

    ``source``: the workflow text (checked here with :func:`tea_lsp.analysis.analyze`) or an
    existing :class:`Analysis` (its ``path`` wins over ``path``). ``input``: initial values
    merged over ``initial_state`` (input wins). ``options``: limits and strategy overrides.
    ``events``: a callback receiving the typed :mod:`~tea_lsp.engine.events` stream.
    ``cancel``: a :class:`CancelToken`. ``pool``: the process pool for the ``process``
    strategy (default: the shared warm pool). ``registry``: the action registry (default: the
    shared one; worker processes always use the shared one).

    Errors found by the checker, or features the runner refuses, return a result with status
    ``invalid`` / ``refused`` before anything runs. A ``KeyboardInterrupt`` propagates after
    every running branch has been stopped.
    """
    t0 = time.monotonic()
    opts = options or RunOptions()
    # The file's own `# tea-lsp: default-language=...` wins, as in the checker.
    file_language = file_default_language(source.text if isinstance(source, Analysis) else source)
    if file_language is not None:
        opts = replace(opts, default_language=file_language)
    language = opts.default_language or "auto"
    analysis = (
        source
        if isinstance(source, Analysis)
        else analyze(source, path, Config(default_language=language))
    )
    path = analysis.path
    errors = [d for d in analysis.diagnostics if d.severity == Severity.ERROR]
    if errors:
        n = len(errors)
        return RunResult(
            ok=False,
            status="invalid",
            state=None,
            error=f"the workflow has {n} error{'s' if n != 1 else ''}; nothing was run",
            diagnostics=list(analysis.diagnostics),
            timing_ms=(time.monotonic() - t0) * 1000,
            path=path,
        )
    wf, doc_index = _first_workflow(analysis)
    if wf is None:
        return RunResult(
            ok=False,
            status="invalid",
            state=None,
            error="the file contains no workflow",
            diagnostics=list(analysis.diagnostics),
            path=path,
        )
    reg = registry or default_registry(opts.test_actions)
    plan = build_plan(wf, reg, opts)
    if plan.refusals:
        first = plan.refusals[0]
        return RunResult(
            ok=False,
            status="refused",
            state=None,
            error=first.message,
            diagnostics=sorted([*analysis.diagnostics, *plan.refusals], key=Diagnostic.sort_key),
            timing_ms=(time.monotonic() - t0) * 1000,
            path=path,
        )
    state: State = json_clone(wf.initial_state)
    try:
        merge(state, input)
    except NonFiniteValue as exc:  # e.g. a client's JSON with NaN: the run cannot start
        problem = f"input: {exc}"
        return RunResult(
            ok=False,
            status="failed",
            state=None,
            error=problem,
            error_diagnostic=Diagnostic("TEA610", Severity.ERROR, problem, Span(0, 0, 0, 0)),
            diagnostics=list(analysis.diagnostics),
            timing_ms=(time.monotonic() - t0) * 1000,
            path=path,
        )
    run = _Run(analysis, wf, doc_index, plan, opts, events, cancel, pool, t0)
    run.emit(RunStarted(run.now_ms(), path, wf.name, plan.limits.strategy))
    status: RunStatus
    try:
        status, error, diag = run.run(state)
    except Exception as exc:  # a bug in tea-lsp: report it, never a traceback
        status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        diag = Diagnostic("TEA900", Severity.ERROR, error, Span(0, 0, 0, 0))
    steps = run.main_steps + run.branch_steps
    timing = (time.monotonic() - t0) * 1000
    run.emit(RunFinished(run.now_ms(), status == "ok", status, steps, round(timing, 3), error))
    return RunResult(
        ok=status == "ok",
        status=status,
        state=run.final_state if status == "ok" else None,
        state_before_failure=run.failed_state if status == "failed" else None,
        error=error,
        error_diagnostic=diag,
        diagnostics=list(analysis.diagnostics),
        branch_diagnostics=run.branch_diagnostics,
        branches=run.branches,
        timing_ms=timing,
        steps=steps,
        path=path,
    )

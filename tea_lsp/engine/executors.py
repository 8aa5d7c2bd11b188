"""Executors: run one fan-out's branches concurrently and return every outcome.

* :class:`ProcessPool` (strategy ``process``): a warm pool of worker processes started with the
  ``forkserver`` context (``spawn`` where forkserver is unavailable), created once and reused
  across runs. Workers are managed one by one — not with ``concurrent.futures`` — so a worker
  that dies only fails its own branch (``WorkerCrash``), a worker stuck in a C call past its
  deadline plus a grace period is killed (``TimeoutError``), and either is replaced on demand.
* :class:`ThreadExecutor` (strategy ``thread``): one thread per running branch. Lua releases the
  GIL, so branches run in parallel too; a thread cannot be killed, so a branch stuck in a C call
  is abandoned (reported as timed out) and stops at its own Lua deadline.

Both report progress through a callback called from the dispatching thread only.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tea_lsp.engine.actions.registry import CancelSignal
from tea_lsp.engine.branch import (
    TEXTS_KNOWN,
    BranchOutcome,
    BranchTask,
    load_workflow,
    run_branch,
    text_key,
    workflow_has_python,
)
from tea_lsp.engine.mainflow import MainOutcome, MainTask, run_main
from tea_lsp.engine.nodes import NodeEvent

# ("started", index, monotonic, pid) | ("node", index, NodeEvent) | ("finished", index, outcome)
ExecEvent = tuple[str, int, Any, Any]
ExecCallback = Callable[[ExecEvent], None]

_POLL = 0.05  # how often cancellation is polled while waiting (seconds)
_GROW_AFTER = 0.02  # start another worker once every running branch ran this long (seconds)


@dataclass(slots=True)
class FanOutJob:
    tasks: list[BranchTask]
    max_parallel: int
    fail_fast: bool
    fan_out_deadline: float | None
    kill_grace: float
    on_event: ExecCallback | None = None
    cancel: CancelSignal | None = None


@dataclass(slots=True)
class FanOutReport:
    outcomes: list[BranchOutcome]
    first_failure: int | None = None  # index of the branch whose failure stopped a fail_fast run
    cancelled: bool = False


class Executor(Protocol):
    def run_fan_out(self, job: FanOutJob) -> FanOutReport: ...


@dataclass(slots=True)
class _Running:
    index: int
    dispatched: float
    started: float | None = None
    kill_at: float | None = None
    node: str | None = None  # the node running now (from node events)
    handle: Any = None  # _Worker (process) or threading.Event (thread)


class _Dispatch:
    """Bookkeeping shared by both executors: outcomes, fail_fast, cancellation."""

    def __init__(self, job: FanOutJob) -> None:
        self.job = job
        self.outcomes: list[BranchOutcome | None] = [None] * len(job.tasks)
        self.pending: deque[int] = deque(range(len(job.tasks)))
        self.running: dict[int, _Running] = {}
        self.first_failure: int | None = None
        self.cancelled = False

    def emit(self, ev: ExecEvent) -> None:
        if self.job.on_event is not None:
            self.job.on_event(ev)

    @property
    def stopping(self) -> bool:
        return self.cancelled or self.first_failure is not None

    def finish(self, outcome: BranchOutcome) -> None:
        i = outcome.index
        if self.outcomes[i] is not None:
            return
        self.outcomes[i] = outcome
        self.running.pop(i, None)
        self.emit(("finished", i, outcome, None))
        if (
            self.job.fail_fast
            and not outcome.success
            and not outcome.cancelled
            and self.first_failure is None
            and not self.cancelled
        ):
            self.first_failure = i

    def kill_at(self, start: float | None, task: BranchTask) -> float | None:
        """When to give up on a running branch: its deadline plus the grace period.

        Before the worker reports that the branch started (``start`` is ``None``), only the
        fan-out deadline applies: the branch's own budget starts with the branch.
        """
        deadline: float | None = None
        if start is not None and task.limits.branch_timeout is not None:
            deadline = start + task.limits.branch_timeout
        if self.job.fan_out_deadline is not None:
            fd = self.job.fan_out_deadline
            deadline = fd if deadline is None else min(deadline, fd)
        return None if deadline is None else deadline + self.job.kill_grace

    def synthetic(
        self,
        i: int,
        error_type: str,
        error: str,
        *,
        timeout: bool = False,
        started: float | None = None,
        cancelled: bool = False,
        node: str | None = None,
    ) -> BranchOutcome:
        task = self.job.tasks[i]
        ms = (time.monotonic() - started) * 1000 if started is not None else 0.0
        out = BranchOutcome(
            branch=task.branch,
            index=i,
            success=False,
            state=None,
            error=error,
            error_type=error_type,
            timeout=timeout,
            timing_ms=ms,
            cancelled=cancelled,
        )
        if node is not None:
            out.extra["node"] = node
        return out

    def check_pending_deadline(self, i: int) -> bool:
        fd = self.job.fan_out_deadline
        if fd is not None and time.monotonic() >= fd:
            branch = self.job.tasks[i].branch
            self.finish(
                self.synthetic(
                    i,
                    "TimeoutError",
                    f"branch '{branch}': the fan-out timeout passed before the branch started",
                    timeout=True,
                )
            )
            return True
        return False

    def stop_reason(self) -> str:
        if self.cancelled:
            return "the run was cancelled"
        assert self.first_failure is not None
        return f"branch '{self.job.tasks[self.first_failure].branch}' failed (fail_fast)"

    def cancel_pending(self) -> None:
        reason = self.stop_reason()
        while self.pending:
            i = self.pending.popleft()
            branch = self.job.tasks[i].branch
            self.finish(
                self.synthetic(
                    i, "Cancelled", f"branch '{branch}' was cancelled: {reason}", cancelled=True
                )
            )

    def cancel_running(self, stop: Callable[[_Running], None]) -> None:
        """Stop every running branch with ``stop`` and report it cancelled."""
        reason = self.stop_reason()
        for i, r in list(self.running.items()):
            stop(r)
            branch = self.job.tasks[i].branch
            self.finish(
                self.synthetic(
                    i,
                    "Cancelled",
                    f"branch '{branch}' was cancelled: {reason}",
                    cancelled=True,
                    started=r.started or r.dispatched,
                    node=r.node,
                )
            )

    def report(self) -> FanOutReport:
        outs = [o for o in self.outcomes if o is not None]
        assert len(outs) == len(self.outcomes)
        return FanOutReport(outs, self.first_failure, self.cancelled)


# ---------------------------------------------------------------- process strategy


def _release_fork_server() -> None:
    """Close this worker's copy of the fork server's "alive" pipe.

    The fork server exits when every copy of that pipe's write end is closed — the runner's,
    when its process ends, and the copies the fork server hands to each child it forks. With
    the workers' copies closed, the fork server exits as soon as the runner is gone (even by
    SIGKILL), and the workers die with it (:func:`_die_with_parent`).
    """
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover
        return
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to kill this process when its parent (the fork server) dies (Linux).

    The fork server exits as soon as the runner's process is gone (its "alive" pipe closes),
    so a worker busy in a loop never outlives the CLI or the language server, even on SIGKILL.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl here
        return
    if os.getppid() == 1 or (parent is not None and os.getppid() != parent):
        os._exit(1)  # the parent died before prctl took effect


def _address_space() -> int | None:
    """This process's virtual size in bytes (Linux), for the address-space limit."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _limit_memory(extra: int | None) -> None:
    """Cap this worker's address space at its size now plus ``extra`` (``None``: no cap)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on this platform
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = _address_space()
    limit = hard
    if extra is not None and size is not None:
        limit = size + extra if hard == resource.RLIM_INFINITY else min(hard, size + extra)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(conn: multiprocessing.connection.Connection) -> None:
    """The loop of one worker process: run branch tasks (and main flows) until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _release_fork_server()
    _die_with_parent()
    pid = os.getpid()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        task_id, task = msg
        if task.text:  # the pool now counts on this worker having the text cached
            with contextlib.suppress(Exception):
                load_workflow(task.text, task.doc_index, task.text_key)
        try:
            conn.send(("started", task_id, time.monotonic(), pid))
            if _needs_isolation(task):
                _run_forked(conn, task_id, task)
            else:
                _run_task(conn, task_id, task)
        except (EOFError, OSError):
            return


def _run_task(
    conn: multiprocessing.connection.Connection,
    task_id: int,
    task: Any,
    finish: Callable[[Any], None] | None = None,
) -> None:
    """Run one task here and send its outcome (exactly one ``done``/``main_done`` message,
    through ``finish`` when given)."""
    send_final = finish or conn.send
    _limit_memory(task.limits.worker_memory)
    try:
        if isinstance(task, MainTask):
            try:
                main = run_main(task, conn, task_id)
            except Exception as exc:  # a bug in tea-lsp: report it as the run's failure
                main = MainOutcome("failed", None, f"internal error: {type(exc).__name__}: {exc}")
            send_final(("main_done", task_id, main))
            return

        def emit(ev: NodeEvent) -> None:
            conn.send(("node", task_id, ev))

        try:
            outcome = run_branch(task, emit, in_worker=True)
        except Exception as exc:  # a bug in tea-lsp: report it as the branch's failure
            outcome = BranchOutcome(
                branch=task.branch,
                index=task.index,
                success=False,
                state=None,
                error=f"internal error: {type(exc).__name__}: {exc}",
                error_type="InternalError",
            )
        send_final(("done", task_id, outcome))
    finally:
        _limit_memory(None)


def _needs_isolation(task: Any) -> bool:
    """Tasks of a workflow with Python code run in a forked child (see :func:`_run_forked`)."""
    if not hasattr(os, "fork"):
        return False
    try:
        return workflow_has_python(
            task.text, task.doc_index, task.limits.default_language, task.text_key
        )
    except Exception:  # the task reports the problem itself
        return False


def _run_forked(conn: multiprocessing.connection.Connection, task_id: int, task: Any) -> None:
    """Run the task in a child forked from this warm worker, then wait for it.

    Python code can change modules, globals, signal handlers: whatever it does dies with the
    child, so siblings, later branches and later runs start from this pristine worker (with
    its caches warm). The child dies with this worker (a kill of the worker kills it too).
    A child that dies without sending its outcome is reported as ``("crashed", id, how)``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    final_r, final_w = os.pipe()
    child = os.fork()
    if child == 0:  # the child
        code = 0
        try:
            os.close(final_r)
            _die_with_parent(parent)

            def finish(msg: Any) -> None:
                data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(final_w, "wb") as fh:
                    fh.write(data)

            _run_task(conn, task_id, task, finish)
        except BaseException:
            code = 70
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    # The outcome goes through this worker, after the child is gone: when the runner reads
    # it, no process of the task is left.
    os.close(final_w)
    chunks = []
    with os.fdopen(final_r, "rb") as fh:
        while chunk := fh.read(1 << 16):
            chunks.append(chunk)
    _pid, status = os.waitpid(child, 0)
    data = b"".join(chunks)
    if status == 0 and data:
        conn.send(pickle.loads(data))
    else:
        conn.send(("crashed", task_id, _describe_status(status)))


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"was killed by {name}"
    return f"exited with code {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"


def _default_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # Preloaded in the fork server, so a new worker starts with them imported.
        ctx.set_forkserver_preload(
            [
                "tea_lsp.engine.branch",
                "tea_lsp.engine.actions.builtin",
                "tea_lsp.langs.lua",
                "tea_lsp.langs.jinja",
                "tea_lsp.analysis",
                "tea_lsp.engine.runner",
            ]
        )
        return ctx
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, ctx: multiprocessing.context.BaseContext) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: multiprocessing.connection.Connection = parent
        self.process: multiprocessing.process.BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child,), daemon=True, name="tea-lsp-branch-worker"
        )
        self._stop_lock = threading.Lock()
        self._stopped = False
        # Workflow texts this worker has cached (most recent last): a task for one of them is
        # sent without its text, so a wide fan-out does not copy the file once per branch.
        # The worker's cache holds twice as many texts, so these are always still there.
        self._texts: OrderedDict[str, None] = OrderedDict()
        self.tasks = 0
        self.created = time.monotonic()
        self.process.start()
        child.close()

    def slim(self, task: Any) -> Any:
        """``task`` as sent to this worker: without its text when the worker has it cached."""
        self.tasks += 1
        key = text_key(task.text)
        if key in self._texts:
            self._texts.move_to_end(key)
            return replace(task, text="", text_key=key)
        self._texts[key] = None
        while len(self._texts) > TEXTS_KNOWN:
            self._texts.popitem(last=False)
        return replace(task, text_key=key)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        if self._stopped:
            return False
        try:
            return self.process.is_alive()
        except ValueError:  # closed meanwhile
            return False

    def stop(self, *, kill: bool) -> None:
        """Ask the worker to exit (or kill it), then reap it. Never leaves a zombie.

        Idempotent and thread-safe: a shutdown may race with the dispatcher discarding it.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._stop(kill)

    def _stop(self, kill: bool) -> None:
        if kill:
            with contextlib.suppress(Exception):
                self.process.kill()
        else:
            with contextlib.suppress(Exception):
                self.conn.send(None)
        self.process.join(timeout=None if kill else 2.0)
        if self.process.exitcode is None:
            with contextlib.suppress(Exception):
                self.process.kill()
            self.process.join()
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.close()

    def exit_description(self) -> str:
        try:
            code = self.process.exitcode
        except ValueError:
            return "stopped"
        if code is None:
            return "stopped responding"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"was killed by {name}"
        return f"exited with code {code}"


class _Starter:
    """Starts workers for one fan-out in background threads; wakes the dispatcher when ready."""

    def __init__(self, pool: ProcessPool) -> None:
        self.pool = pool
        self.in_flight = 0
        self.error: str | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)

    def start(self) -> None:
        with self._lock:
            self.in_flight += 1
        t = threading.Thread(target=self._run, name="tea-lsp-worker-start", daemon=True)
        self._threads.append(t)
        t.start()

    def _run(self) -> None:
        try:
            w = _Worker(self.pool._ctx)
        except Exception as exc:
            with self._lock:
                self.error = str(exc) or type(exc).__name__
        else:
            self.pool._add_started(w)
        finally:
            with self._lock:
                self.in_flight -= 1
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def wait(self, timeout: float) -> None:
        multiprocessing.connection.wait([self.wake_r], timeout)
        self.drain()

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.wake_r, 4096):
                pass

    def join(self) -> None:
        """Wait for workers still starting (they join the idle list), then close the pipe."""
        for t in self._threads:
            t.join()
        for fd in (self.wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class ProcessPool:
    """A warm pool of worker processes (branches, and each run's main flow), safe to share
    between runs and threads.

    Workers are started on demand (up to the fan-out's ``max_parallel``, see :meth:`_fill`),
    returned to the pool after each branch, and replaced when they die or are killed. While a
    fan-out runs, up to its ``max_parallel`` idle workers are kept; between runs, ``max_idle``
    plus one for the next main flow (:meth:`trim`). :meth:`shutdown` stops them all.
    """

    def __init__(
        self,
        context: multiprocessing.context.BaseContext | None = None,
        max_idle: int | None = None,
    ) -> None:
        self._ctx = context or _default_context()
        self._max_idle = max_idle if max_idle is not None else max(4, 2 * (os.cpu_count() or 1))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        # max_parallel of each fan-out running now: while one runs, up to that many workers
        # stay warm (returning workers are not stopped), so a wide fan-out reuses them.
        self._fan_out_caps: list[int] = []
        # How long a new worker takes from its start to its first branch started (seconds).
        self._start_cost = 0.1  # until measured

    # ---- worker management

    def _acquire(self) -> _Worker:
        idle = self._take_idle()
        if idle is not None:
            return idle
        w = _Worker(self._ctx)
        with self._lock:
            closed = self._closed
            if not closed:
                self._busy.add(w)
        if closed:  # shut down while this worker was starting
            w.stop(kill=True)
            raise RuntimeError("the process pool was shut down")
        return w

    def _idle_cap(self) -> int:
        """Idle workers kept: ``max_idle`` (or a running fan-out's width), plus one for the
        next run's main flow."""
        base = max(self._max_idle, *self._fan_out_caps) if self._fan_out_caps else self._max_idle
        return base + 1

    def _release(self, w: _Worker) -> None:
        with self._lock:
            self._busy.discard(w)
            keep = not self._closed and len(self._idle) < self._idle_cap() and w.alive()
            if keep:
                self._idle.append(w)
        if not keep:
            w.stop(kill=False)

    def trim(self) -> None:
        """Stop idle workers above the pool's idle cap (once wide fan-outs are over)."""
        with self._lock:
            cap = self._idle_cap()
            extra = self._idle[cap:] if len(self._idle) > cap else []
            self._idle = self._idle[: len(self._idle) - len(extra)] if extra else self._idle
        for w in extra:
            w.stop(kill=False)

    def _discard(self, w: _Worker) -> None:
        with self._lock:
            self._busy.discard(w)
        w.stop(kill=True)

    def lease(self) -> _Worker:
        """A worker for one run's main flow, until :meth:`give_back`."""
        return self._acquire()

    def give_back(self, w: _Worker, *, reusable: bool) -> None:
        """End a lease: a clean worker returns to the pool, any other one is stopped."""
        if reusable and w.alive():
            self._release(w)
        else:
            self._discard(w)

    def warm(self, n: int) -> None:
        """Start workers until ``n`` are idle (so the first fan-out does not pay for them)."""
        started = [self._acquire() for _ in range(max(0, n - len(self._idle)))]
        for w in started:
            self._release(w)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in (*self._idle, *self._busy) if w.pid is not None]

    def shutdown(self) -> None:
        """Stop every worker (idle ones politely, busy ones by force). Idempotent."""
        with self._lock:
            self._closed = True
            idle, busy = self._idle, list(self._busy)
            self._idle, self._busy = [], set()
        for w in idle:
            w.stop(kill=False)
        for w in busy:
            w.stop(kill=True)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- running a fan-out

    def run_fan_out(self, job: FanOutJob) -> FanOutReport:
        d = _Dispatch(job)
        with self._lock:
            self._fan_out_caps.append(job.max_parallel)
        try:
            self._loop(d)
        finally:
            with self._lock:
                self._fan_out_caps.remove(job.max_parallel)
            # On any exit (including KeyboardInterrupt) no branch keeps running.
            for r in list(d.running.values()):
                self._discard(r.handle)
                if d.outcomes[r.index] is None:
                    d.outcomes[r.index] = d.synthetic(
                        r.index, "Cancelled", "the run was interrupted", cancelled=True
                    )
            d.running.clear()
        return d.report()

    def _loop(self, d: _Dispatch) -> None:
        job = d.job
        starter = _Starter(self)
        try:
            while d.pending or d.running:
                if job.cancel is not None and job.cancel.is_set() and not d.cancelled:
                    d.cancelled = True
                if d.stopping:
                    self._stop_all(d)
                    d.cancel_pending()
                    return
                self._fill(d, starter)
                if d.stopping:
                    continue
                if not d.running:
                    if not d.pending:
                        continue
                    if starter.error is not None and starter.in_flight == 0:
                        self._fail_pending(d, starter.error)
                        continue
                    starter.wait(_POLL)
                    continue
                self._wait(d, starter)
                self._collect(d)
                self._kill_overdue(d)
        finally:
            starter.join()

    def _fill(self, d: _Dispatch, starter: _Starter) -> None:
        """Give pending branches to idle workers; start workers in the background when short.

        A new worker starts (at most two at a time) only when every running branch has run at
        least as long as a new worker takes to become useful (start, then parse the workflow:
        measured): a fan-out of short branches keeps reusing the workers it has instead of
        paying for one new process per slot, while long branches still get every slot.
        """
        job = d.job
        while d.pending and len(d.running) < job.max_parallel:
            w = self._take_idle()
            if w is None:
                wanted = min(len(d.pending), job.max_parallel - len(d.running))
                now = time.monotonic()
                grow_after = max(_GROW_AFTER, self._start_cost)
                busy = all(
                    r.started is not None and now - r.started >= grow_after
                    for r in d.running.values()
                )
                few = len(d.running) + starter.in_flight < min(2, job.max_parallel)
                if starter.error is None and (few or (busy and starter.in_flight < min(2, wanted))):
                    starter.start()
                return
            i = d.pending.popleft()
            if d.check_pending_deadline(i):
                self._release(w)
                continue
            self._dispatch(d, i, w)
            if d.stopping:
                return

    def _fail_pending(self, d: _Dispatch, error: str) -> None:
        while d.pending:
            i = d.pending.popleft()
            d.finish(d.synthetic(i, "WorkerCrash", f"cannot start a worker process: {error}"))

    def _take_idle(self) -> _Worker | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the process pool was shut down")
            while self._idle:
                w = self._idle.pop()
                if w.alive():
                    self._busy.add(w)
                    return w
                w.stop(kill=True)
        return None

    def _add_started(self, w: _Worker) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                self._idle.append(w)
        if closed:
            w.stop(kill=True)

    def _dispatch(self, d: _Dispatch, i: int, w: _Worker) -> None:
        now = time.monotonic()
        task = d.job.tasks[i]
        try:
            w.conn.send((i, w.slim(task)))
        except Exception as exc:
            self._discard(w)
            d.finish(d.synthetic(i, "WorkerCrash", f"cannot send the branch to a worker: {exc}"))
            return
        d.running[i] = _Running(i, now, kill_at=d.kill_at(None, task), handle=w)

    def _wait(self, d: _Dispatch, starter: _Starter) -> None:
        now = time.monotonic()
        timeout: float | None = None
        kills = [r.kill_at for r in d.running.values() if r.kill_at is not None]
        if kills:
            timeout = max(0.0, min(kills) - now)
        if d.job.cancel is not None:
            timeout = _POLL if timeout is None else min(timeout, _POLL)
        if d.pending and len(d.running) < d.job.max_parallel:  # re-check whether to grow
            timeout = _GROW_AFTER if timeout is None else min(timeout, _GROW_AFTER)
        handles: list[Any] = []
        for r in d.running.values():
            handles.append(r.handle.conn)
            with contextlib.suppress(ValueError):  # closed meanwhile: _collect reports it
                handles.append(r.handle.process.sentinel)
        if starter.in_flight:
            handles.append(starter.wake_r)
        multiprocessing.connection.wait(handles, timeout)
        starter.drain()

    def _collect(self, d: _Dispatch) -> None:
        for i, r in list(d.running.items()):
            w: _Worker = r.handle
            broken = False
            try:
                while i in d.running and w.conn.poll():
                    self._handle(d, r, w.conn.recv())
            except (EOFError, OSError):
                broken = True
            if i not in d.running:
                continue
            if broken or not w.alive():
                with contextlib.suppress(ValueError):
                    w.process.join(timeout=1.0)  # reap it, so its exit status is known
                how = w.exit_description()
                self._discard(w)
                branch = d.job.tasks[i].branch
                where = f"node '{r.node}'" if r.node else f"branch '{branch}'"
                d.finish(
                    d.synthetic(
                        i,
                        "WorkerCrash",
                        f"{where}: the worker process {how}",
                        started=r.started or r.dispatched,
                        node=r.node,
                    )
                )

    def _handle(self, d: _Dispatch, r: _Running, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "started":
            r.started = float(msg[2])
            r.kill_at = d.kill_at(r.started, d.job.tasks[r.index])
            w: _Worker = r.handle
            if w.tasks == 1:  # its first branch: how long a new worker took to be useful
                cost = r.started - w.created
                self._start_cost = 0.5 * self._start_cost + 0.5 * cost
            d.emit(("started", r.index, r.started, msg[3]))
        elif kind == "node":
            ev: NodeEvent = msg[2]
            r.node = ev[1] if ev[0] == "node_started" else r.node
            d.emit(("node", r.index, ev, None))
        elif kind == "done":
            outcome: BranchOutcome = msg[2]
            self._release(r.handle)
            d.finish(outcome)
        elif kind == "crashed":  # the branch's forked child died; the worker itself is fine
            self._release(r.handle)
            branch = d.job.tasks[r.index].branch
            where = f"node '{r.node}'" if r.node else f"branch '{branch}'"
            d.finish(
                d.synthetic(
                    r.index,
                    "WorkerCrash",
                    f"{where}: the worker process {msg[2]}",
                    started=r.started or r.dispatched,
                    node=r.node,
                )
            )

    def _kill_overdue(self, d: _Dispatch) -> None:
        _finish_overdue(d, lambda r: self._discard(r.handle), "the worker", "killed")

    def _stop_all(self, d: _Dispatch) -> None:
        d.cancel_running(lambda r: self._discard(r.handle))


def _finish_overdue(d: _Dispatch, stop: Callable[[_Running], None], runner: str, fate: str) -> None:
    """Stop every branch past its hard deadline (timeout + grace) and report it timed out."""
    now = time.monotonic()
    for i, r in list(d.running.items()):
        if r.kill_at is None or now < r.kill_at:
            continue
        stop(r)
        task = d.job.tasks[i]
        where = f"node '{r.node}'" if r.node else f"branch '{task.branch}'"
        d.finish(
            d.synthetic(
                i,
                "TimeoutError",
                f"{where}: {_timeout_text(task, d.job)}; {runner} did not return from a "
                f"call and was {fate}",
                timeout=True,
                started=r.started or r.dispatched,
                node=r.node,
            )
        )


def _timeout_text(task: BranchTask, job: FanOutJob) -> str:
    parts = []
    if task.limits.branch_timeout is not None:
        parts.append(f"the branch timeout of {task.limits.branch_timeout:g} s")
    if job.fan_out_deadline is not None and task.limits.fan_out_timeout is not None:
        parts.append(f"the fan-out timeout of {task.limits.fan_out_timeout:g} s")
    return "ran past " + " or ".join(parts) if parts else "ran past its deadline"


# ---------------------------------------------------------------- thread strategy


class ThreadExecutor:
    """Runs each branch in its own thread (bounded by ``max_parallel``)."""

    def run_fan_out(self, job: FanOutJob) -> FanOutReport:
        d = _Dispatch(job)
        inbox: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        try:
            self._loop(d, inbox)
        finally:
            for r in list(d.running.values()):
                r.handle.set()  # ask abandoned threads to stop at their next check
                if d.outcomes[r.index] is None:
                    d.outcomes[r.index] = d.synthetic(
                        r.index, "Cancelled", "the run was interrupted", cancelled=True
                    )
            d.running.clear()
        return d.report()

    def _loop(self, d: _Dispatch, inbox: queue.Queue[tuple[str, int, Any]]) -> None:
        job = d.job
        while d.pending or d.running:
            if job.cancel is not None and job.cancel.is_set() and not d.cancelled:
                d.cancelled = True
            if d.stopping:
                reason = d.stop_reason()
                for i, r in list(d.running.items()):
                    r.handle.set()
                    branch = job.tasks[i].branch
                    d.finish(
                        d.synthetic(
                            i,
                            "Cancelled",
                            f"branch '{branch}' was cancelled: {reason}",
                            cancelled=True,
                            started=r.started or r.dispatched,
                        )
                    )
                d.cancel_pending()
                return
            while d.pending and len(d.running) < job.max_parallel:
                i = d.pending.popleft()
                if d.check_pending_deadline(i):
                    continue
                self._start(d, i, inbox)
            if not d.running:
                continue
            now = time.monotonic()
            timeout: float | None = None
            kills = [r.kill_at for r in d.running.values() if r.kill_at is not None]
            if kills:
                timeout = max(0.0, min(kills) - now)
            if job.cancel is not None:
                timeout = _POLL if timeout is None else min(timeout, _POLL)
            try:
                msg = inbox.get(timeout=timeout)
            except queue.Empty:
                msg = None
            while msg is not None:
                self._handle(d, msg)
                try:
                    msg = inbox.get_nowait()
                except queue.Empty:
                    msg = None
            self._abandon_overdue(d)

    def _start(self, d: _Dispatch, i: int, inbox: queue.Queue[tuple[str, int, Any]]) -> None:
        task = d.job.tasks[i]
        stop = threading.Event()
        now = time.monotonic()
        d.running[i] = _Running(i, now, kill_at=d.kill_at(None, task), handle=stop)

        def body() -> None:
            inbox.put(("started", i, time.monotonic()))
            try:
                out = run_branch(task, lambda ev: inbox.put(("node", i, ev)), stop)
            except BaseException as exc:  # a bug must not hang the join
                out = d.synthetic(i, "InternalError", f"{type(exc).__name__}: {exc}")
            inbox.put(("done", i, out))

        threading.Thread(target=body, name=f"tea-lsp-branch-{task.branch}", daemon=True).start()

    def _handle(self, d: _Dispatch, msg: tuple[str, int, Any]) -> None:
        kind, i, payload = msg
        r = d.running.get(i)
        if r is None:
            return  # an abandoned branch finishing late
        if kind == "started":
            r.started = float(payload)
            r.kill_at = d.kill_at(r.started, d.job.tasks[i])
            d.emit(("started", i, r.started, None))
        elif kind == "node":
            ev: NodeEvent = payload
            r.node = ev[1] if ev[0] == "node_started" else r.node
            d.emit(("node", i, ev, None))
        elif kind == "done":
            d.finish(payload)

    def _abandon_overdue(self, d: _Dispatch) -> None:
        _finish_overdue(d, lambda r: r.handle.set(), "the thread", "abandoned")


# ---------------------------------------------------------------- the shared pool

_default_pool: ProcessPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ProcessPool:
    """The process-wide warm pool (created on first use, stopped at exit)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool.closed:
            _default_pool = ProcessPool()
        return _default_pool


def shutdown_default_pool() -> None:
    """Stop the shared pool's workers; the next run starts a new pool."""
    global _default_pool
    with _default_lock:
        pool, _default_pool = _default_pool, None
    if pool is not None:
        pool.shutdown()


atexit.register(shutdown_default_pool)

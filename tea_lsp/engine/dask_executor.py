"""Strategy ``dask``: parallel branches placed on a Dask cluster, run by tea-lsp's own pool.

Dask only *places* branches. Each branch is one Dask task that runs, on the Dask worker it
lands on, in that worker's tea-lsp :class:`~tea_lsp.engine.executors.ProcessPool` — so the
Lua hook, the kill at deadline + grace, ``WorkerCrash`` and the forked child for Python code
work exactly as locally. This needs non-daemonic Dask workers (a daemonic process may not
start children): ``DASK_DISTRIBUTED__WORKER__DAEMON=False`` (the local cluster started for a
run sets it).

The guarantees, and how they are kept:

* at most ``max_parallel`` branches are submitted at once (limited here, on the client);
* the worker reports when the branch really starts (a Dask event on a topic of the fan-out),
  so the branch's own budget counts from then, on the worker's clock; deadlines travel as
  remaining seconds, paths as absolute paths;
* cancellation and ``fail_fast`` reach the worker running the branch: every worker is told
  the keys to stop (a branch that has not started yet will not start), its pool kills the
  branch's process, and the fan-out returns once those tasks are over;
* a worker that dies while it runs a branch gives ``WorkerCrash`` (Dask's ``KilledWorker``;
  the local cluster runs with ``allowed-failures`` 0, so Dask never re-runs it). On a
  scheduler that does re-run tasks, a second "started" for the same branch is detected: the
  re-run is stopped and the branch reported as ``WorkerCrash``. A branch that had not started
  on the dead worker is submitted again (none of its code ran);
* on connect, every worker must have the same tea-lsp and lupa versions and every action the
  workflow uses (:class:`DaskSetupError` otherwise), and at least one worker must join within
  ``worker_timeout``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tea_lsp.engine.branch import BranchOutcome, BranchTask
from tea_lsp.engine.executors import (
    FanOutJob,
    FanOutReport,
    _Dispatch,
    _finish_overdue,
    _Running,
    default_pool,
)
from tea_lsp.engine.plan import Plan, dynamic_action

#: Dask settings for a cluster that runs tea-lsp branches (the local cluster uses them).
DASK_CONFIG: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.daemon": False,
}

_POLL = 0.05
_MARGIN = 2.0  # the worker kills at deadline + grace itself; the client waits this much more
_STOP_WAIT = 5.0  # how long a stopped fan-out waits for its tasks to be over on the workers


class DaskSetupError(Exception):
    """The cluster cannot run this workflow's branches (message for the user)."""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import tea_lsp

    try:
        lupa = version("lupa")
    except PackageNotFoundError:
        lupa = "?"
    return {"tea-lsp": tea_lsp.__version__, "lupa": lupa}


# ---------------------------------------------------------------- on the Dask workers

_cancel_lock = threading.Lock()
_cancels: OrderedDict[str, threading.Event] = OrderedDict()
_MAX_CANCELS = 10_000


def _cancel_event(key: str) -> threading.Event:
    with _cancel_lock:
        ev = _cancels.get(key)
        if ev is None:
            ev = _cancels[key] = threading.Event()
            while len(_cancels) > _MAX_CANCELS:
                _cancels.popitem(last=False)
        return ev


def worker_info(test_actions: bool) -> dict[str, Any]:
    """What a worker offers: versions, actions, its pid (run on each worker on connect)."""
    from tea_lsp.engine.actions.registry import default_registry

    reg = default_registry(test_actions)
    import multiprocessing

    return {
        **_versions(),
        "actions": sorted(reg.names()),
        "pid": os.getpid(),
        "daemon": bool(multiprocessing.current_process().daemon),
    }


def cancel_keys(keys: list[str]) -> None:
    """Stop these branches on this worker (running ones are killed; later ones never start)."""
    for k in keys:
        _cancel_event(k).set()


def run_remote(
    key: str, task: BranchTask, remaining: float | None, topic: str, kill_grace: float
) -> BranchOutcome:
    """The Dask task: run one branch in this worker's tea-lsp process pool."""
    from distributed import get_worker

    worker = get_worker()
    cancel = _cancel_event(key)
    index = task.index
    if cancel.is_set():
        return BranchOutcome(
            task.branch, index, False, None, f"branch '{task.branch}' was cancelled", "Cancelled"
        )
    deadline = time.monotonic() + remaining if remaining is not None else None
    local = replace(task, index=0, fan_out_deadline=deadline)
    address = str(worker.address)

    def forward(ev: Any) -> None:
        kind = ev[0]
        if kind == "started":
            worker.log_event(topic, ["started", key, ev[3], address])
        elif kind == "node":
            node = ev[2]
            age = time.monotonic() - node[2]
            trace = [list(t) for t in node[6]]
            worker.log_event(topic, ["node", key, age, [*node[:2], 0.0, *node[3:6], trace]])

    job = FanOutJob(
        tasks=[local],
        max_parallel=1,
        fail_fast=False,
        fan_out_deadline=deadline,
        kill_grace=kill_grace,
        on_event=forward,
        cancel=cancel,
    )
    try:
        outcome = default_pool().run_fan_out(job).outcomes[0]
    finally:
        with _cancel_lock:
            _cancels.pop(key, None)
    outcome.index = index
    return outcome


# ---------------------------------------------------------------- on the client


@dataclass(slots=True)
class _Remote:
    key: str
    future: Any
    worker: str | None = None  # where it started (from its "started" event)
    resubmits: int = 0


class DaskExecutor:
    """Runs fan-outs on a Dask cluster: ``address``, or a local cluster started here.

    ``connect`` once (it checks the workers), ``run_fan_out`` per fan-out, ``close`` at the end
    of the run (it stops a local cluster).
    """

    def __init__(
        self,
        address: str | None,
        *,
        n_workers: int | None = None,
        connect_timeout: float = 10.0,
        worker_timeout: float = 10.0,
    ) -> None:
        self.address = address
        self.n_workers = n_workers
        self.connect_timeout = connect_timeout
        self.worker_timeout = worker_timeout
        self.client: Any = None
        self.cluster: Any = None
        self._config: Any = None

    # ---- connecting

    def where(self) -> str:
        return f"Dask scheduler '{self.address}'" if self.address else "the local Dask cluster"

    def connect(self, actions: set[str], test_actions: bool) -> None:
        """Connect (or start a local cluster) and check the workers; raise DaskSetupError."""
        import dask
        from distributed import Client, LocalCluster

        try:
            if self.address:
                self.client = Client(  # type: ignore[no-untyped-call]
                    self.address, timeout=self.connect_timeout, set_as_default=False
                )
            else:
                n = self.n_workers or max(1, min(os.cpu_count() or 1, 4))
                # Kept while the cluster lives: a worker its nanny restarts reads it again.
                self._config = dask.config.set(DASK_CONFIG)
                self._config.__enter__()
                self.cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",
                    silence_logs=logging.CRITICAL,
                )
                self.client = Client(self.cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            self.close()
            raise DaskSetupError(f"cannot connect to {self.where()}: {exc}") from None
        try:
            self._check(actions, test_actions)
        except BaseException:
            self.close()
            raise

    def _check(self, actions: set[str], test_actions: bool) -> None:
        client = self.client
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except TimeoutError:
            raise DaskSetupError(
                f"no Dask worker joined {self.where()} within {self.worker_timeout:g} s"
            ) from None
        try:
            infos: dict[str, Any] = client.run(worker_info, test_actions, on_error="return")
        except Exception as exc:
            raise DaskSetupError(f"cannot ask the workers of {self.where()}: {exc}") from None
        mine = _versions()
        try:  # the scheduler unpickles the tasks too: it needs tea-lsp
            sched: dict[str, str] = client.run_on_scheduler(_versions)
        except Exception as exc:
            raise DaskSetupError(
                f"the scheduler of {self.where()} cannot run tea-lsp tasks: "
                f"{type(exc).__name__}: {exc}; install tea-lsp {mine['tea-lsp']} there"
            ) from None
        if sched.get("tea-lsp") != mine["tea-lsp"]:
            raise DaskSetupError(
                f"the scheduler of {self.where()} has tea-lsp '{sched.get('tea-lsp')}', "
                f"expected '{mine['tea-lsp']}' (the same version as here)"
            )
        for addr, info in sorted(infos.items()):
            if isinstance(info, BaseException):
                raise DaskSetupError(
                    f"Dask worker '{addr}' cannot run tea-lsp branches: "
                    f"{type(info).__name__}: {info}; install tea-lsp {mine['tea-lsp']} there"
                )
            if info.get("daemon"):
                raise DaskSetupError(
                    f"Dask worker '{addr}' is a daemonic process, which cannot start tea-lsp's "
                    "worker processes; start the workers with "
                    "DASK_DISTRIBUTED__WORKER__DAEMON=False"
                )
            for name in ("tea-lsp", "lupa"):
                if info.get(name) != mine[name]:
                    raise DaskSetupError(
                        f"Dask worker '{addr}' has {name} '{info.get(name)}', expected "
                        f"'{mine[name]}' (the same version as here)"
                    )
            missing = sorted(actions - set(info.get("actions", [])))
            if missing:
                names = ", ".join(f"'{m}'" for m in missing)
                raise DaskSetupError(
                    f"Dask worker '{addr}' does not provide action{'s' if len(missing) > 1 else ''}"
                    f" {names}; install the same action plugins on every worker"
                )

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        config, self._config = self._config, None
        if config is not None:
            config.__exit__(None, None, None)

    # ---- one fan-out

    def run_fan_out(self, job: FanOutJob) -> FanOutReport:
        assert self.client is not None, "connect() first"
        d = _Dispatch(job)
        topic = f"tea-lsp-{uuid.uuid4().hex}"
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client.subscribe_topic(topic, lambda ev: inbox.put(("event", ev[1])))
        remotes: dict[int, _Remote] = {}
        try:
            self._loop(d, topic, inbox, remotes)
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)
            if remotes:  # interrupted: nothing of this fan-out keeps running
                self._stop_remote(list(remotes.values()), wait=True)
            for r in list(d.running.values()):
                if d.outcomes[r.index] is None:
                    d.outcomes[r.index] = d.synthetic(
                        r.index, "Cancelled", "the run was interrupted", cancelled=True
                    )
            d.running.clear()
        return d.report()

    def _loop(
        self,
        d: _Dispatch,
        topic: str,
        inbox: queue.Queue[tuple[str, Any]],
        remotes: dict[int, _Remote],
    ) -> None:
        job = d.job
        by_key: dict[str, int] = {}
        while d.pending or d.running:
            if job.cancel is not None and job.cancel.is_set() and not d.cancelled:
                d.cancelled = True
            if d.stopping:
                self._stop_all(d, remotes)
                d.cancel_pending()
                return
            while d.pending and len(d.running) < job.max_parallel:
                i = d.pending.popleft()
                if d.check_pending_deadline(i):
                    continue
                self._submit(d, i, topic, inbox, remotes, by_key)
            if not d.running:
                continue
            timeout = _POLL
            kills = [r.kill_at for r in d.running.values() if r.kill_at is not None]
            if kills:
                timeout = max(0.0, min(timeout, min(kills) - time.monotonic()))
            try:
                msg: tuple[str, Any] | None = inbox.get(timeout=timeout)
            except queue.Empty:
                msg = None
            while msg is not None:
                self._handle(d, msg, topic, inbox, remotes, by_key)
                if d.stopping:
                    break
                try:
                    msg = inbox.get_nowait()
                except queue.Empty:
                    msg = None

            def overdue(r: _Running) -> None:
                rem = remotes.pop(r.index, None)
                if rem is not None:
                    self._stop_remote([rem], wait=False)

            _finish_overdue(d, overdue, "the Dask worker", "told to stop the branch")

    def _kill_at(self, d: _Dispatch, start: float | None, i: int) -> float | None:
        at = d.kill_at(start, d.job.tasks[i])
        return None if at is None else at + _MARGIN

    def _submit(
        self,
        d: _Dispatch,
        i: int,
        topic: str,
        inbox: queue.Queue[tuple[str, Any]],
        remotes: dict[int, _Remote],
        by_key: dict[str, int],
        resubmits: int = 0,
    ) -> None:
        task = d.job.tasks[i]
        fod = d.job.fan_out_deadline
        remaining = None if fod is None else max(0.0, fod - time.monotonic())
        path = task.path
        if path and not path.startswith("<"):
            path = str(Path(path).resolve())
        sent = replace(task, path=path, fan_out_deadline=None)
        key = f"tea-lsp-branch-{uuid.uuid4().hex}"
        try:
            fut = self.client.submit(
                run_remote,
                key,
                sent,
                remaining,
                topic,
                d.job.kill_grace,
                key=key,
                pure=False,
                retries=0,
            )
        except Exception as exc:
            d.finish(d.synthetic(i, "WorkerCrash", f"cannot send the branch to Dask: {exc}"))
            return
        remotes[i] = _Remote(key, fut, resubmits=resubmits)
        by_key[key] = i
        now = time.monotonic()
        d.running[i] = _Running(i, now, kill_at=self._kill_at(d, None, i), handle=key)
        fut.add_done_callback(lambda f, k=key: inbox.put(("done", k)))

    def _handle(
        self,
        d: _Dispatch,
        msg: tuple[str, Any],
        topic: str,
        inbox: queue.Queue[tuple[str, Any]],
        remotes: dict[int, _Remote],
        by_key: dict[str, int],
    ) -> None:
        kind, payload = msg
        if kind == "event":
            what, key = payload[0], payload[1]
            i = by_key.get(key)
            if i is None or i not in d.running or remotes.get(i) is None:
                return
            r, rem = d.running[i], remotes[i]
            if what == "started":
                if rem.worker is not None:  # the scheduler re-ran it after its worker died
                    self._stop_remote([rem], wait=False)
                    remotes.pop(i, None)
                    self._crashed(
                        d,
                        r,
                        rem,
                        "died while running it (Dask re-ran the branch "
                        "on another worker; it was stopped there)",
                    )
                    return
                rem.worker = str(payload[3])
                r.started = time.monotonic()
                r.kill_at = self._kill_at(d, r.started, i)
                d.emit(("started", i, r.started, payload[2]))
            elif what == "node":
                age, ev = float(payload[2]), payload[3]
                trace = tuple(tuple(t) for t in ev[6])
                node_ev = (ev[0], ev[1], time.monotonic() - age, ev[3], ev[4], ev[5], trace)
                r.node = ev[1] if ev[0] == "node_started" else r.node
                d.emit(("node", i, node_ev, None))
            return
        i = by_key.get(payload)
        if i is None or i not in d.running:
            return
        done = remotes.get(i)
        if done is None or done.key != payload:
            return
        rem = done
        r = d.running[i]
        fut = rem.future
        status = fut.status
        if status == "finished":
            try:
                outcome: BranchOutcome = fut.result(timeout=self.connect_timeout)
            except Exception as err:
                outcome = d.synthetic(i, "InternalError", f"cannot read the result: {err}")
            remotes.pop(i, None)
            outcome.index = i
            d.finish(outcome)
            return
        if status == "cancelled":
            remotes.pop(i, None)
            d.finish(d.synthetic(i, "WorkerCrash", "the Dask scheduler dropped the branch"))
            return
        exc = fut.exception(timeout=self.connect_timeout)
        from distributed.scheduler import KilledWorker

        remotes.pop(i, None)
        if isinstance(exc, KilledWorker):
            if rem.worker is None and rem.resubmits < 3:
                # It died on a worker before starting: none of its code ran; place it again.
                d.running.pop(i, None)
                self._submit(d, i, topic, inbox, remotes, by_key, rem.resubmits + 1)
                return
            self._crashed(d, r, rem, "died while running it")
            return
        d.finish(
            d.synthetic(
                i,
                "WorkerCrash",
                f"branch '{d.job.tasks[i].branch}': the Dask task failed: "
                f"{type(exc).__name__}: {exc}",
                started=r.started or r.dispatched,
            )
        )

    def _crashed(self, d: _Dispatch, r: _Running, rem: _Remote, how: str) -> None:
        branch = d.job.tasks[r.index].branch
        where = f"node '{r.node}'" if r.node else f"branch '{branch}'"
        worker = f" '{rem.worker}'" if rem.worker else ""
        d.finish(
            d.synthetic(
                r.index,
                "WorkerCrash",
                f"{where}: the Dask worker{worker} {how}",
                started=r.started or r.dispatched,
                node=r.node,
            )
        )

    def _stop_remote(self, rems: list[_Remote], *, wait: bool) -> None:
        """Tell every worker to stop these branches; with ``wait``, until their tasks end."""
        if not rems or self.client is None:
            return
        keys = [r.key for r in rems]
        with contextlib.suppress(Exception):
            self.client.run(cancel_keys, keys, on_error="ignore")
        futures = [r.future for r in rems]
        end = time.monotonic() + (_STOP_WAIT if wait else 0.0)
        while time.monotonic() < end and not all(f.done() for f in futures):
            time.sleep(0.01)
        with contextlib.suppress(Exception):
            self.client.cancel(futures)

    def _stop_all(self, d: _Dispatch, remotes: dict[int, _Remote]) -> None:
        self._stop_remote(list(remotes.values()), wait=True)
        remotes.clear()
        d.cancel_running(lambda r: None)  # the remote branches were stopped above


def plan_actions(plan: Plan) -> set[str]:
    """Every action (``uses:``) the plan's nodes call, steps and dynamic items included."""
    found: set[str] = set()
    stack = list(plan.workflow.nodes)
    while stack:
        node = stack.pop()
        stack.extend((*node.steps, *node.body))
        if node.uses is not None:
            found.add(node.uses)
        if node.type == "dynamic_parallel":
            action = dynamic_action(node)
            if action is not None and action.uses is not None:
                found.add(action.uses)
    return found


def plan_fans_out(plan: Plan) -> bool:
    return bool(plan.fan_outs) or any(n.type == "dynamic_parallel" for n in plan.workflow.nodes)


def executor_for(plan: Plan, test_actions: bool) -> DaskExecutor:
    """A connected executor for this plan (its workers checked); raises DaskSetupError."""
    ex = DaskExecutor(plan.limits.dask_address)
    ex.connect(plan_actions(plan), test_actions)
    return ex

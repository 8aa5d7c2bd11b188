"""Helpers shared by the engine tests: writing workflows, running them, inspecting processes."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tea_lsp.engine import CancelToken, ProcessPool, RunOptions, RunResult, run_workflow
from tea_lsp.engine.events import Event


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_file(
    path: Path,
    *,
    pool: ProcessPool | None = None,
    input: dict[str, Any] | None = None,
    events: Callable[[Event], None] | None = None,
    cancel: CancelToken | None = None,
    **options: Any,
) -> RunResult:
    options.setdefault("test_actions", True)
    options.setdefault("kill_grace", 1.0)  # the default; tests of the kill itself pass less
    return run_workflow(
        path.read_text(encoding="utf-8"),
        path=str(path),
        input=input,
        options=RunOptions(**options),
        events=events,
        cancel=cancel,
        pool=pool,
    )


def explain(result: RunResult) -> str:
    """An assertion message: the error and every diagnostic."""
    lines = [f"{result.status}: {result.error}"]
    lines += [
        f"{d.span.start_line + 1}:{d.span.start_col + 1} {d.code} {d.message}"
        for d in [*result.diagnostics, *result.branch_diagnostics]
    ]
    return "\n".join(lines)


def without_timing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "timing_ms"} for r in results]


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid → (ppid, state) for every process we can see."""
    out: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        out[int(entry)] = (int(rest[1]), rest[0])
    return out


def descendants(root: int | None = None) -> dict[int, tuple[int, int, str]]:
    """pid → (ppid, depth, state) of every descendant of ``root`` (default: this process)."""
    table = _proc_table()
    start = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, tuple[int, int, str]] = {}
    stack = [(start, 0)]
    while stack:
        pid, depth = stack.pop()
        for child in children.get(pid, []):
            out[child] = (pid, depth + 1, table[child][1])
            stack.append((child, depth + 1))
    return out


def worker_processes() -> set[int]:
    """Live branch workers: grandchildren of this process (children of the fork server)."""
    return {p for p, (_, depth, st) in descendants().items() if depth >= 2 and st != "Z"}


def stray_processes(*pools: ProcessPool) -> set[int]:
    """Worker processes no pool knows about, and zombies (both must be empty)."""
    from tea_lsp.engine import executors

    known: set[int] = set()
    shared = executors._default_pool  # runs without a pool lease their main-flow worker there
    for p in (*pools, *([shared] if shared is not None else [])):
        known |= set(p.worker_pids())
    return (worker_processes() - known) | zombies()


def zombies() -> set[int]:
    return {p for p, (_, _, st) in descendants().items() if st == "Z"}


def processes_with_marker(marker: str) -> set[int]:
    """Processes whose environment contains ``TEA_LSP_TEST_MARK=<marker>``."""
    needle = f"TEA_LSP_TEST_MARK={marker}".encode()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.add(int(entry))
    return found


def wait_until(predicate: Callable[[], bool], limit: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds (a safety limit, not a timing assertion)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@contextmanager
def process_pool(max_idle: int = 4) -> Iterator[ProcessPool]:
    pool = ProcessPool(max_idle=max_idle)
    try:
        yield pool
    finally:
        pool.shutdown()


def final_state(result: RunResult) -> dict[str, Any] | None:
    """The final state without ``parallel_results`` (kept by the runner, checked apart)."""
    if result.state is None:
        return None
    return {k: v for k, v in result.state.items() if k != "parallel_results"}

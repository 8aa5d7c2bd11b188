"""The runner's parallel engine, measured in one run against in-run baselines.

Usage: ``.venv/bin/python bench/parallel.py [--quick]``.

Prints:
1. Lua VM creation (µs), against a bare lupa runtime (the sandbox's extra cost);
2. per-branch overhead in a warm pool (200 trivial branches, ms per branch) for the process
   and thread strategies, against one trivial node of the main flow;
3. speedup of 4 CPU-bound branches run 2 at a time over 1 at a time (the limit on 2 cores is
   2.0x; aim >= 1.8x);
4. wall time of 8 branches sleeping 0.25 s with ``max_parallel_branches: 8`` against the
   ideal 0.25 s (aim <= 0.35 s);
5. memory: one VM (Lua allocator and process RSS), one idle worker (RSS, PSS, USS), and the
   total for N branch workers;
6. Python and Lua nodes: per-node cost in the main flow (which runs in a worker) against the
   same Lua node run in this process (the cost of the worker), and per branch;
7. 4 CPU-bound Python branches 2 at a time vs 1 at a time (aim >= 1.8x);
8. 1,000 trivial branches at 64 at a time vs 2 at a time (aim: no slower);
9. strategy ``dask`` (needs ``tea-lsp[dask]``): starting a local cluster of 2 workers, the
   per-branch overhead against the process strategy's in the same run, 4 CPU-bound branches
   2 vs 1 at a time; then the same against an external scheduler and 2 workers started with
   the ``dask`` command line on 127.0.0.1 (``--only 9``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tea_lsp.analysis import analyze
from tea_lsp.engine import ProcessPool, RunOptions, run_workflow
from tea_lsp.engine.events import Event, FanOutFinished, FanOutStarted
from tea_lsp.langs.lua import LuaVM


def smaps(pid: int) -> dict[str, int]:
    """RSS, PSS and USS (private) of a process, in KiB, from /proc/<pid>/smaps_rollup."""
    out = {"rss": 0, "pss": 0, "uss": 0}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            key, value = parts[0].rstrip(":"), int(parts[1])
            if key == "Rss":
                out["rss"] = value
            elif key == "Pss":
                out["pss"] = value
            elif key in ("Private_Clean", "Private_Dirty"):
                out["uss"] += value
    return out


def mib(kib: float) -> str:
    return f"{kib / 1024:6.1f} MiB"


# ---------------------------------------------------------------- workflows


def fan_out_workflow(
    branches: list[str], body: str, *, max_parallel: int, strategy: str = "process"
) -> str:
    lines = [
        "name: bench",
        "settings:",
        "  lua: {timeout: 120, max_memory: 64MB}",
        f"  parallel: {{strategy: {strategy}, max_parallel_branches: {max_parallel}, "
        "lua_timeout: 120}",
        "nodes:",
        "  - name: start",
        "    run: return {}",
    ]
    for b in branches:
        lines += [f"  - name: {b}", *[f"    {x}" for x in body.splitlines()], "    goto: join"]
    lines += [
        "  - name: join",
        "    fan_in: true",
        "    run: return {}",
        "edges:",
        f"  - {{from: start, to: [{', '.join(branches)}], parallel: true, fan_in: join}}",
    ]
    return "\n".join(lines) + "\n"


def sequential_workflow(n: int, language: str = "lua") -> str:
    lines = ["name: bench-seq", "nodes:"]
    for i in range(n):
        lines += [f"  - name: n{i:03d}", f"    language: {language}", "    run: return {}"]
    return "\n".join(lines) + "\n"


def fan_out_ms(text: str, pool: ProcessPool, strategy: str) -> float:
    """Wall time of the (single) fan-out of ``text``, from the event stream."""
    analysis = analyze(text, "bench.yaml")
    assert not analysis.has_errors(), analysis.diagnostics
    marks: dict[str, float] = {}

    def on_event(e: Event) -> None:
        if isinstance(e, FanOutStarted):
            marks["start"] = e.t_ms
        elif isinstance(e, FanOutFinished):
            marks["end"] = e.t_ms

    result = run_workflow(
        analysis,
        options=RunOptions(strategy=strategy),  # type: ignore[arg-type]
        events=on_event,
        pool=pool,
    )
    assert result.ok, result.error
    assert all(b["success"] for b in result.branches), result.branches
    return marks["end"] - marks["start"]


def run_ms(text: str, pool: ProcessPool | None = None) -> tuple[float, int]:
    analysis = analyze(text, "bench.yaml")
    t0 = time.perf_counter()
    result = run_workflow(analysis, pool=pool)
    ms = (time.perf_counter() - t0) * 1000
    assert result.ok, result.error
    return ms, result.steps


# ---------------------------------------------------------------- measurements


def bench_vm_creation(n: int) -> None:
    import lupa.lua54 as lupa  # baseline only: tea-lsp itself imports lupa in langs/lua/

    def make_bare() -> None:
        lupa.LuaRuntime(register_eval=False, register_builtins=False).execute("return 1")

    def make_vm() -> None:
        LuaVM(max_memory=64 * 2**20).close()

    for f in (make_bare, make_vm):  # warm up
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        make_bare()
    bare = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        make_vm()
    vm = (time.perf_counter() - t0) / n * 1e6
    print("1. Lua VM creation")
    print(f"   bare lupa runtime      {bare:8.0f} µs   (baseline)")
    print(f"   sandboxed LuaVM        {vm:8.0f} µs   ratio {vm / bare:5.2f}x")


def bench_overhead(pool: ProcessPool, n: int) -> None:
    names = [f"b{i:03d}" for i in range(n)]
    text = fan_out_workflow(names, "run: return {}", max_parallel=os.cpu_count() or 1)
    seq = sequential_workflow(n)
    run_ms(seq)  # warm up
    seq_ms = statistics.median(run_ms(seq)[0] for _ in range(3)) / n
    print(f"2. per-branch overhead, {n} trivial branches, warm pool")
    print(f"   main-flow node         {seq_ms:8.3f} ms per node   (baseline)")
    for strategy in ("process", "thread"):
        fan_out_ms(text, pool, strategy)  # warm up (starts the workers)
        per = statistics.median(fan_out_ms(text, pool, strategy) for _ in range(3)) / n
        print(
            f"   {strategy:<7} branch         {per:8.3f} ms per branch ratio {per / seq_ms:6.1f}x"
        )


CPU_BODY = """run: |
  local x = 0
  for i = 1, {n} do x = (x + i * 7) % 1000003 end
  return {{ x = x }}"""


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x = (x + i * 7) % 1000003
    return x


def machine_speedup(n: int) -> float:
    """What this machine gives right now: 4 plain CPU-bound processes, 2 vs 1 at a time."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    best = {1: float("inf"), 2: float("inf")}
    for _ in range(3):
        for width in (1, 2):
            with ctx.Pool(width) as p:
                t0 = time.perf_counter()
                p.map(_spin, [n] * 4, chunksize=1)
                best[width] = min(best[width], time.perf_counter() - t0)
    return best[1] / best[2]


def bench_speedup(pool: ProcessPool, loops: int) -> None:
    body = CPU_BODY.format(n=loops)
    names = ["c1", "c2", "c3", "c4"]
    print("3. 4 CPU-bound branches: 2 at a time vs 1 at a time")
    m = machine_speedup(loops // 4)
    print(
        f"   machine now: 4 plain Python processes, 2 vs 1 at a time: {m:4.2f}x "
        "(what the cores allow at the moment)"
    )
    for strategy in ("process", "thread"):
        one = fan_out_workflow(names, body, max_parallel=1, strategy=strategy)
        two = fan_out_workflow(names, body, max_parallel=2, strategy=strategy)
        fan_out_ms(two, pool, strategy)  # warm up
        t1 = t2 = float("inf")
        for _ in range(3):  # interleaved, best of 3: the machine's load varies
            t1 = min(t1, fan_out_ms(one, pool, strategy))
            t2 = min(t2, fan_out_ms(two, pool, strategy))
        print(
            f"   {strategy:<7} 1 at a time {t1:7.0f} ms (baseline), 2 at a time {t2:7.0f} ms"
            f"   speedup {t1 / t2:4.2f}x (aim >= 1.8x)"
        )


def bench_sleep(pool: ProcessPool) -> None:
    names = [f"s{i}" for i in range(8)]
    body = "uses: time.sleep\nwith: {seconds: 0.25}"
    print("4. 8 branches x time.sleep 0.25 s, max_parallel_branches 8")
    for strategy in ("process", "thread"):
        text = fan_out_workflow(names, body, max_parallel=8, strategy=strategy)
        fan_out_ms(text, pool, strategy)  # warm up (8 workers)
        t = statistics.median(fan_out_ms(text, pool, strategy) for _ in range(3)) / 1000
        print(
            f"   {strategy:<7} wall {t:6.3f} s   ideal 0.250 s (baseline)  ratio {t / 0.25:4.2f}x"
            "  (aim <= 0.35 s)"
        )


def bench_memory(pool: ProcessPool, vms: int) -> None:
    print("5. memory")
    gc.collect()
    before = smaps(os.getpid())
    held: list[Any] = [LuaVM(max_memory=64 * 2**20) for _ in range(vms)]
    for vm in held:
        vm.run_node("local t = {} for i = 1, 100 do t[i] = i end return { n = #t }", {})
    after = smaps(os.getpid())
    lua_bytes = statistics.mean(vm.memory_used() for vm in held)
    for vm in held:
        vm.close()
    per_vm = (after["rss"] - before["rss"]) / vms
    print(
        f"   one LuaVM: {lua_bytes / 1024:6.1f} KiB in its Lua allocator, "
        f"{per_vm:6.1f} KiB of process RSS (mean of {vms} live VMs)"
    )
    pool.shutdown()
    fresh = ProcessPool(max_idle=1)
    fresh.warm(1)
    time.sleep(0.2)
    s = smaps(fresh.worker_pids()[0])
    print(
        f"   one new worker (no branch run yet): RSS {mib(s['rss'])}, PSS {mib(s['pss'])}, "
        f"USS {mib(s['uss'])}"
    )
    fresh.shutdown()
    # Workers: run one short branch on each, then measure them idle.
    for n in (1, 2, 4, 8):
        pool.shutdown()
        fresh = ProcessPool(max_idle=n)
        names = [f"w{i}" for i in range(max(n, 2))]  # a fan-out needs two branches
        text = fan_out_workflow(names, "uses: time.sleep\nwith: {seconds: 0.1}", max_parallel=n)
        fan_out_ms(text, fresh, "process")
        pids = fresh.worker_pids()
        stats = [smaps(p) for p in pids]
        if n == 1:
            s = stats[0]
            print(
                f"   one idle worker after a branch: RSS {mib(s['rss'])}, "
                f"PSS {mib(s['pss'])}, USS {mib(s['uss'])}"
            )
        total_pss = sum(s["pss"] for s in stats)
        total_uss = sum(s["uss"] for s in stats)
        print(f"   {n} branch workers: total PSS {mib(total_pss)}, total USS {mib(total_uss)}")
        fresh.shutdown()


def in_process_node_ms(n: int) -> float:
    """One trivial Lua node run by a Flow in this process (how the main flow ran before)."""
    from tea_lsp.engine.actions.registry import default_registry
    from tea_lsp.engine.nodes import Flow, FlowEnv
    from tea_lsp.engine.plan import compute_limits

    analysis = analyze(sequential_workflow(n), "bench.yaml")
    wf = analysis.workflows[0]
    assert wf is not None
    env = FlowEnv(
        workflow=wf,
        lines=analysis.lines,
        registry=default_registry(False),
        workflow_dir=Path.cwd(),
        limits=compute_limits(wf, RunOptions()),
    )
    best = float("inf")
    for _ in range(3):
        flow = Flow(env)
        state: dict[str, Any] = {}
        t0 = time.perf_counter()
        for node in wf.nodes:
            flow.run_node(node, state)
        best = min(best, (time.perf_counter() - t0) * 1000 / n)
        flow.close()
    return best


def bench_python(pool: ProcessPool, n: int) -> None:
    print(f"6. Python vs Lua nodes ({n} trivial nodes / branches, warm pool)")
    base = in_process_node_ms(n)
    print(f"   Lua node, in this process (before)  {base:8.3f} ms per node   (baseline)")
    for language in ("lua", "python"):
        seq = sequential_workflow(n, language)
        run_ms(seq, pool)  # warm up
        per = statistics.median(run_ms(seq, pool)[0] for _ in range(3)) / n
        print(
            f"   {language:<6} node, main flow in a worker {per:8.3f} ms per node   "
            f"ratio {per / base:5.1f}x"
        )
    names = [f"b{i:03d}" for i in range(n)]
    lua_ms = 0.0
    for language in ("lua", "python"):
        body = f"language: {language}\nrun: return {{}}"
        if language == "python":
            body = "language: python\nrun: \"return {'x': 1}\""
        text = fan_out_workflow(names, body, max_parallel=os.cpu_count() or 1)
        fan_out_ms(text, pool, "process")  # warm up
        per = statistics.median(fan_out_ms(text, pool, "process") for _ in range(3)) / n
        if language == "lua":
            lua_ms = per
            print(f"   lua    branch (process)             {per:8.3f} ms per branch (baseline)")
        else:
            print(
                f"   python branch (process)             {per:8.3f} ms per branch "
                f"ratio {per / lua_ms:5.1f}x (each forked from a warm worker)"
            )


PY_CPU_BODY = """language: python
run: |
  x = 0
  for i in range({n}):
      x = (x + i * 7) % 1000003
  return {{"x": x}}"""


def bench_python_speedup(pool: ProcessPool, loops: int) -> None:
    body = PY_CPU_BODY.format(n=loops)
    names = ["p1", "p2", "p3", "p4"]
    print("7. 4 CPU-bound Python branches: 2 at a time vs 1 at a time")
    m = machine_speedup(loops)
    print(
        f"   machine now: 4 plain Python processes, 2 vs 1 at a time: {m:4.2f}x "
        "(what the cores allow at the moment)"
    )
    one = fan_out_workflow(names, body, max_parallel=1)
    two = fan_out_workflow(names, body, max_parallel=2)
    fan_out_ms(two, pool, "process")  # warm up
    t1 = t2 = float("inf")
    for _ in range(3):
        t1 = min(t1, fan_out_ms(one, pool, "process"))
        t2 = min(t2, fan_out_ms(two, pool, "process"))
    print(
        f"   process 1 at a time {t1:7.0f} ms (baseline), 2 at a time {t2:7.0f} ms"
        f"   speedup {t1 / t2:4.2f}x (aim >= 1.8x)"
    )


def bench_wide(n: int) -> None:
    names = [f"t{i:04d}" for i in range(n)]
    print(f"8. {n} trivial branches: 64 at a time vs 2 at a time (fresh pool each)")
    times: dict[int, float] = {}
    for width in (2, 64):
        pool = ProcessPool()
        try:
            text = fan_out_workflow(names, "run: return {}", max_parallel=width)
            times[width] = fan_out_ms(text, pool, "process")
        finally:
            pool.shutdown()
    print(f"   2 at a time  {times[2] / 1000:7.2f} s (baseline)")
    print(
        f"   64 at a time {times[64] / 1000:7.2f} s   ratio {times[64] / times[2]:4.2f}x "
        "(aim <= 1.0x)"
    )


def dask_fan_out_ms(text: str, address: str) -> float:
    """Wall time of the (single) fan-out of ``text`` on the Dask cluster at ``address``."""
    analysis = analyze(text, "bench.yaml")
    assert not analysis.has_errors(), analysis.diagnostics
    marks: dict[str, float] = {}

    def on_event(e: Event) -> None:
        if isinstance(e, FanOutStarted):
            marks["start"] = e.t_ms
        elif isinstance(e, FanOutFinished):
            marks["end"] = e.t_ms

    result = run_workflow(
        analysis, options=RunOptions(strategy="dask", dask_address=address), events=on_event
    )
    assert result.ok, result.error
    assert all(b["success"] for b in result.branches), result.branches
    return marks["end"] - marks["start"]


def _identity(x: int) -> int:
    return x


def bare_dask_ms(address: str, n: int) -> float:
    """One bare Dask task, submitted then awaited, one at a time (ms): Dask's own latency."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        for _ in range(10):
            client.submit(_identity, 1, pure=False).result()
        t0 = time.perf_counter()
        for _ in range(n):
            client.submit(_identity, 1, pure=False).result()
        return (time.perf_counter() - t0) * 1000 / n


def _dask_rows(address: str, pool: ProcessPool, n: int, loops: int) -> None:
    bare = bare_dask_ms(address, n)
    print(f"   bare Dask task round trip {bare:8.3f} ms (submit, run, result; one at a time)")
    names = [f"b{i:03d}" for i in range(n)]
    text = fan_out_workflow(names, "run: return {}", max_parallel=2)
    fan_out_ms(text, pool, "process")  # warm up
    dask_fan_out_ms(text, address)
    base = statistics.median(fan_out_ms(text, pool, "process") for _ in range(3)) / n
    per = statistics.median(dask_fan_out_ms(text, address) for _ in range(3)) / n
    print(f"   process branch       {base:8.3f} ms per branch (baseline, {n} trivial branches)")
    print(f"   dask    branch       {per:8.3f} ms per branch ratio {per / base:6.1f}x")
    body = CPU_BODY.format(n=loops)
    cpu = ["c1", "c2", "c3", "c4"]
    one = fan_out_workflow(cpu, body, max_parallel=1)
    two = fan_out_workflow(cpu, body, max_parallel=2)
    dask_fan_out_ms(two, address)  # warm up
    p1 = p2 = d1 = d2 = float("inf")
    for _ in range(3):  # interleaved, best of 3
        p1 = min(p1, fan_out_ms(one, pool, "process"))
        p2 = min(p2, fan_out_ms(two, pool, "process"))
        d1 = min(d1, dask_fan_out_ms(one, address))
        d2 = min(d2, dask_fan_out_ms(two, address))
    print(
        f"   4 CPU-bound branches: process 1 at a time {p1:6.0f} ms, 2 at a time {p2:6.0f} ms "
        f"speedup {p1 / p2:4.2f}x"
    )
    print(
        f"   4 CPU-bound branches: dask    1 at a time {d1:6.0f} ms, 2 at a time {d2:6.0f} ms "
        f"speedup {d1 / d2:4.2f}x (aim >= 1.6x)"
    )


def bench_dask(pool: ProcessPool, n: int, loops: int) -> None:
    try:
        import dask
        from distributed import LocalCluster
    except ImportError:
        print("9. dask: not installed (pip install 'tea-lsp[dask]')")
        return
    import subprocess
    import tempfile

    from tea_lsp.engine.dask_executor import DASK_CONFIG, DaskExecutor

    print("9. strategy dask (each Dask worker runs its branches in its own tea-lsp pool)")
    starts = []
    for _ in range(3):
        t0 = time.perf_counter()
        ex = DaskExecutor(None, n_workers=2)
        ex.connect(set(), False)
        up = time.perf_counter() - t0
        ex.close()
        starts.append((up, time.perf_counter() - t0 - up))
    print(
        "   local cluster, 2 workers: start + check "
        f"{statistics.median(s[0] for s in starts):5.2f} s, stop "
        f"{statistics.median(s[1] for s in starts):5.2f} s (median of 3; paid once per run)"
    )
    with dask.config.set(DASK_CONFIG):
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
        try:
            print("   local cluster (LocalCluster, 2 worker processes x 1 thread):")
            _dask_rows(str(cluster.scheduler_address), pool, n, loops)
        finally:
            cluster.close()
    # An external scheduler and 2 workers, started with the dask command line on 127.0.0.1.
    dask_cli = str(Path(sys.executable).parent / "dask")
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
    }
    with tempfile.TemporaryDirectory() as tmp:
        sched_file = os.path.join(tmp, "scheduler.json")
        procs = [
            subprocess.Popen(
                [
                    dask_cli,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    sched_file,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        try:
            end = time.monotonic() + 30
            while not os.path.exists(sched_file) and time.monotonic() < end:
                time.sleep(0.05)
            procs.append(
                subprocess.Popen(
                    [
                        dask_cli,
                        "worker",
                        "--scheduler-file",
                        sched_file,
                        "--host",
                        "127.0.0.1",
                        "--nworkers",
                        "2",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            import json

            with open(sched_file, encoding="utf-8") as fh:
                address = json.load(fh)["address"]
            from distributed import Client

            with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
                client.wait_for_workers(2, timeout=60)
            print(f"   external scheduler ({address}) + 2 workers from the dask command line:")
            _dask_rows(address, pool, n, loops)
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in reversed(procs):
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    ap.add_argument("--only", type=int, nargs="*", help="run only these sections (6, 7, 8, 9)")
    args = ap.parse_args()
    if args.only:
        pool = ProcessPool(max_idle=8)
        try:
            if 6 in args.only:
                bench_python(pool, 50 if args.quick else 200)
            if 7 in args.only:
                bench_python_speedup(pool, 1_000_000 if args.quick else 4_000_000)
            if 8 in args.only:
                bench_wide(200 if args.quick else 1000)
            if 9 in args.only:
                bench_dask(pool, 50 if args.quick else 200, 2_000_000 if args.quick else 12_000_000)
        finally:
            pool.shutdown()
        return 0
    os.environ.setdefault("TEA_LSP_BENCH", "1")
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}")
    pool = ProcessPool(max_idle=8)
    try:
        bench_vm_creation(50 if args.quick else 300)
        bench_overhead(pool, 50 if args.quick else 200)
        bench_speedup(pool, 2_000_000 if args.quick else 12_000_000)
        bench_sleep(pool)
        bench_memory(pool, 20 if args.quick else 100)
        pool = ProcessPool(max_idle=8)
        bench_python(pool, 50 if args.quick else 200)
        bench_python_speedup(pool, 1_000_000 if args.quick else 4_000_000)
        bench_wide(200 if args.quick else 1000)
        bench_dask(pool, 50 if args.quick else 200, 2_000_000 if args.quick else 12_000_000)
    finally:
        pool.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``tea/graph`` latency through the real server over stdio, against ``analyze()`` in-process.

Usage: ``.venv/bin/python bench/graph_latency.py [--nodes 300] [--requests 30]``.

Two workflows of ``--nodes`` nodes: the benchmarks' realistic one (sequential Lua nodes and a
fan-out, from ``bench/workflows.py``) and a graph-heavy one (a fan-out with three two-node
branches, a conditional ``goto`` and a ``while_loop`` every ten nodes). For each:

1. in-process, in this run: ``analyze()`` (the baseline), and building the graph with its DOT
   and Mermaid text from that analysis (the work the request does on the server);
2. through the server: a ``tea/graph`` request on the open, already analysed document, from
   the request going out to its answer (transport and JSON included; the client keeps the
   result as plain JSON, as editors do).

Aim: the request under 50 ms (median) on 300 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import JsonRPCResponseMessage, default_converter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.workflows import realistic_workflow  # noqa: E402
from tea_lsp.analysis import analyze  # noqa: E402
from tea_lsp.graph import build_graph, to_dot, to_mermaid  # noqa: E402


def graph_workflow(nodes: int) -> str:
    """Fan-outs, conditional gotos and loops: ten nodes per group."""
    lines = ["name: graph_heavy", "state_schema:", "  n: int", "nodes:"]
    edges = ["edges:"]
    groups = max(1, nodes // 10)
    for g in range(groups):
        nxt = f"g{g + 1}_src" if g + 1 < groups else "__end__"
        lines += [
            f"  - name: g{g}_src",
            "    run: return { n = 1 }",
        ]
        for b in "abc":
            lines += [
                f"  - name: g{g}_{b}1",
                "    run: return { n = state.n + 1 }",
                f"  - name: g{g}_{b}2",
                "    run: return { n = state.n * 2 }",
            ]
            edges += [
                f"  - {{from: g{g}_src, to: g{g}_{b}1, type: parallel, fan_in: g{g}_join}}",
                f"  - {{from: g{g}_{b}1, to: g{g}_{b}2}}",
                f"  - {{from: g{g}_{b}2, to: g{g}_join}}",
            ]
        lines += [
            f"  - name: g{g}_join",
            "    fan_in: true",
            "    run: return { n = 1 }",
            f"    goto: g{g}_loop",
            f"  - name: g{g}_loop",
            "    type: while_loop",
            '    condition: "state.n < 3"',
            "    max_iterations: 5",
            "    body:",
            f"      - name: g{g}_inc",
            "        run: return { n = state.n + 1 }",
            f"  - name: g{g}_route",
            "    run: return { n = state.n }",
            "    goto:",
            '      - if: "state.n > 100"',
            "        to: __end__",
            f"      - to: {nxt}",
        ]
    return "\n".join(lines + edges) + "\n"


def ms(values: list[float]) -> str:
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"median {med:7.2f} ms  (min {lo:6.2f}, max {hi:6.2f})"


def in_process(text: str, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"analyze": [], "graph": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        analysis = analyze(text, "/tmp/tea-lsp-bench/graph.tea.yaml")
        t1 = time.perf_counter()
        assert analysis.workflow is not None
        g = build_graph(analysis.workflow, analysis.diagnostics)
        to_dot(g)
        to_mermaid(g)
        t2 = time.perf_counter()
        out["analyze"].append((t1 - t0) * 1000)
        out["graph"].append((t2 - t1) * 1000)
    return out


def plain_results() -> Any:
    """pygls' converter, but results stay plain JSON (as an editor's client reads them).

    pygls' default turns every JSON object of an unknown result into a freshly made named
    tuple class, which costs the client more than the whole request costs the server.
    """
    converter = default_converter()  # type: ignore[no-untyped-call]
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    return converter


async def through_server(texts: list[str], requests: int) -> list[list[float]]:
    client = LanguageClient("tea-lsp-bench", "1", converter_factory=plain_results)
    done: dict[str, asyncio.Future[None]] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)  # type: ignore[untyped-decorator]
    def publish(params: types.PublishDiagnosticsParams) -> None:
        fut = done.get(params.uri)
        if fut is not None and not fut.done():
            fut.set_result(None)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    await client.start_io(sys.executable, "-m", "tea_lsp.lsp", env=env)
    caps = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=["utf-16"]),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)
        ),
    )
    await client.initialize_async(
        types.InitializeParams(capabilities=caps, root_uri=None, process_id=os.getpid())
    )
    client.initialized(types.InitializedParams())
    results: list[list[float]] = []
    for i, text in enumerate(texts):
        uri = f"file:///tmp/tea-lsp-bench/graph_{i}.tea.yaml"
        done[uri] = asyncio.get_running_loop().create_future()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="yaml", version=1, text=text
                )
            )
        )
        await asyncio.wait_for(done[uri], 60)
        times: list[float] = []
        for _ in range(requests + 1):
            t0 = time.perf_counter()
            got: Any = await client.protocol.send_request_async(
                "tea/graph", {"textDocument": {"uri": uri}}
            )
            times.append((time.perf_counter() - t0) * 1000)
            assert got is not None and got["dot"].startswith("digraph")
        results.append(times[1:])  # the first request pays for cold imports
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()  # type: ignore[no-untyped-call]
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    realistic = realistic_workflow(0, args.nodes - 5)  # + setup, fmt, 2 branches, join
    heavy = graph_workflow(args.nodes)
    cases = [("realistic", realistic), ("graph-heavy", heavy)]
    local = [in_process(text, 10) for _, text in cases]
    served = asyncio.run(through_server([text for _, text in cases], args.requests))
    for (name, text), loc, srv in zip(cases, local, served, strict=True):
        analysis = analyze(text, "x.tea.yaml")
        assert analysis.workflow is not None
        g = build_graph(analysis.workflow, analysis.diagnostics)
        print(
            f"{name}: {len(analysis.workflow.all_nodes())} nodes, {len(g.edges)} edges, "
            f"{len(text) / 1024:.0f} KiB"
        )
        print(f"  analyze() in-process              {ms(loc['analyze'])}")
        print(f"  graph + DOT + Mermaid in-process  {ms(loc['graph'])}")
        print(f"  tea/graph request (round trip)    {ms(srv)}   (aim < 50 ms)")
        ratio = statistics.median(srv) / statistics.median(loc["analyze"])
        print(f"  ratio tea/graph / analyze(): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

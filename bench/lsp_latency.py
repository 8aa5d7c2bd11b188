"""Language-server latency through the real server over stdio, against ``analyze()`` in-process.

Usage: ``.venv/bin/python bench/lsp_latency.py [--nodes 300] [--opens 8] [--edits 15]``.

Measures, with a client that speaks LSP to ``python -m tea_lsp.lsp`` on stdio:

1. ``didOpen`` → ``publishDiagnostics`` for a generated workflow of ``--nodes`` Lua nodes
   (a fresh document each time; the first open of the session is reported apart: it pays for
   the server's lazy imports and cold caches);
2. a one-character edit inside one Lua snippet → the diagnostics of the new version, minus
   the server's debounce (150 ms), i.e. the time the server needs once it decides to check.

The baseline is ``analyze()`` on the same texts, in this process, in the same run. Ratios
above 1.0 are the server's overhead (transport, JSON, position conversion, scheduling).
Aims: open < 150 ms, edit < 40 ms (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.workflows import realistic_workflow  # noqa: E402
from tea_lsp.analysis import analyze  # noqa: E402
from tea_lsp.lsp.server import DEBOUNCE_S  # noqa: E402


class Client(LanguageClient):
    """Records when each (uri, version) gets its diagnostics."""

    def __init__(self) -> None:
        super().__init__("tea-lsp-bench", "1")
        self.arrived: dict[tuple[str, int | None], float] = {}
        self.waiters: dict[tuple[str, int | None], asyncio.Future[float]] = {}

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)  # type: ignore[untyped-decorator]
        def publish(params: types.PublishDiagnosticsParams) -> None:
            now = time.perf_counter()
            key = (params.uri, params.version)
            self.arrived[key] = now
            fut = self.waiters.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(now)

    async def wait(self, uri: str, version: int) -> float:
        key = (uri, version)
        if key in self.arrived:
            return self.arrived[key]
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        return await asyncio.wait_for(fut, 60)


def capabilities() -> types.ClientCapabilities:
    """A push-diagnostics client (as VS Code 1.65): UTF-16, versioned publications."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=["utf-16"]),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                version_support=True, related_information=True
            ),
            synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )


def edits_for(text: str, count: int) -> list[tuple[int, int, str]]:
    """``count`` one-character insertions into one Lua line: ``+ 7`` → ``+ 71`` → ``+ 712``..."""
    lines = text.split("\n")
    line = next(i for i, t in enumerate(lines) if re.search(r"local base = .* \+ 7$", t))
    col = len(lines[line])
    return [(line, col + k, str((k + 1) % 10)) for k in range(count)]


def apply_edit(text: str, line: int, col: int, char: str) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:col] + char + lines[line][col:]
    return "\n".join(lines)


def ms(values: list[float]) -> str:
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"median {med:7.1f} ms  (min {lo:6.1f}, max {hi:6.1f})"


async def measure(nodes: int, opens: int, edits: int) -> dict[str, list[float]]:
    client = Client()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    await client.start_io(sys.executable, "-m", "tea_lsp.lsp", env=env)
    await client.initialize_async(
        types.InitializeParams(capabilities=capabilities(), root_uri=None, process_id=os.getpid())
    )
    client.initialized(types.InitializedParams())
    out: dict[str, list[float]] = {"open": [], "edit": [], "edit_total": []}
    texts = [realistic_workflow(i, nodes) for i in range(opens + 1)]
    for i, text in enumerate(texts):
        uri = f"file:///tmp/tea-lsp-bench/wf_{i}.tea.yaml"
        t0 = time.perf_counter()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="yaml", version=1, text=text
                )
            )
        )
        t1 = await client.wait(uri, 1)
        out["first_open" if i == 0 else "open"] = [
            *out.get("first_open" if i == 0 else "open", []),
            (t1 - t0) * 1000,
        ]
    # Edits in the last document, one character at a time, waiting for each result.
    uri = f"file:///tmp/tea-lsp-bench/wf_{opens}.tea.yaml"
    for k, (line, col, char) in enumerate(edits_for(texts[-1], edits)):
        version = k + 2
        pos = types.Position(line=line, character=col)
        t0 = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text=char
                    )
                ],
            )
        )
        t1 = await client.wait(uri, version)
        total = (t1 - t0) * 1000
        out["edit_total"].append(total)
        out["edit"].append(total - DEBOUNCE_S * 1000)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()  # type: ignore[no-untyped-call]
    return out


def baseline(nodes: int, opens: int, edits: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first_open": [], "open": [], "edit": []}
    texts = [realistic_workflow(i, nodes) for i in range(opens + 1)]
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        analyze(text, f"/tmp/tea-lsp-bench/wf_{i}.tea.yaml")
        out["first_open" if i == 0 else "open"].append((time.perf_counter() - t0) * 1000)
    text = texts[-1]
    for line, col, char in edits_for(text, edits):
        text = apply_edit(text, line, col, char)
        t0 = time.perf_counter()
        analyze(text, f"/tmp/tea-lsp-bench/wf_{opens}.tea.yaml")
        out["edit"].append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--opens", type=int, default=8)
    ap.add_argument("--edits", type=int, default=15)
    args = ap.parse_args()
    base = baseline(args.nodes, args.opens, args.edits)
    lsp = asyncio.run(measure(args.nodes, args.opens, args.edits))
    size = len(realistic_workflow(0, args.nodes))
    print(f"workflow: {args.nodes} Lua nodes + fan-out, {size / 1024:.0f} KiB; server on stdio")
    print(f"analyze() in-process, first     {ms(base['first_open'])}")
    print(f"analyze() in-process, open      {ms(base['open'])}")
    print(f"analyze() in-process, edit      {ms(base['edit'])}")
    print(f"LSP didOpen → diagnostics, 1st  {ms(lsp['first_open'])}")
    print(f"LSP didOpen → diagnostics       {ms(lsp['open'])}   (aim < 150 ms)")
    print(
        f"LSP edit → diagnostics - {DEBOUNCE_S * 1000:.0f} ms  {ms(lsp['edit'])}   (aim < 40 ms; "
        f"with the debounce: median {statistics.median(lsp['edit_total']):.1f} ms)"
    )
    r_open = statistics.median(lsp["open"]) / statistics.median(base["open"])
    r_edit = statistics.median(lsp["edit"]) / statistics.median(base["edit"])
    print(f"ratio LSP open / analyze(): {r_open:.2f}")
    print(f"ratio LSP edit (minus debounce) / analyze(): {r_edit:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

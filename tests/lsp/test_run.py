"""``tea.runWorkflow``: results, progress, runtime diagnostics, cancellation."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from tests.lsp.conftest import (
    change_doc,
    diagnostics,
    doc_id,
    file_uri,
    open_doc,
    publications,
    pushed,
    simple,
    uses_pull,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAN = """\
name: fan
nodes:
  - name: setup
    run: return { n = 2 }
  - name: a
    run: return { x = state.n * 10 }
  - name: b
    run: |
      local y = state.n + 1
      return { y = y }
  - name: join
    fan_in: true
    run: |
      local total = 0
      for _, r in ipairs(state.parallel_results) do
        total = total + (r.state.x or 0) + (r.state.y or 0)
      end
      return { total = total }
edges:
  - {from: setup, to: [a, b], parallel: true, fan_in: join}  # tea-lsp: ignore[TEA215]
  - {from: a, to: join}
  - {from: b, to: join}
"""

BOOM = """\
name: boom
nodes:
  - name: start
    run: |
      local t = { 1, 2 }
      local bad = nil
      return { v = bad.field }
"""

SPIN = """\
name: spin
settings:
  lua:
    timeout: 120
nodes:
  - name: setup
    run: return {}
  - name: a
    run: |
      local n = 0
      while true do n = n + 1 end
  - name: b
    run: |
      local n = 0
      while true do n = n + 1 end
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: setup, to: [a, b], parallel: true, fan_in: join}  # tea-lsp: ignore[TEA215]
  - {from: a, to: join}
  - {from: b, to: join}
"""


def run_params(*args: Any) -> types.ExecuteCommandParams:
    return types.ExecuteCommandParams(command="tea.runWorkflow", arguments=list(args))


async def run(client: LanguageClient, *args: Any) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(run_params(*args))
    assert isinstance(result, dict)
    return result


def without_timing(branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k != "timing_ms"} for b in branches]


async def test_run_result_and_progress(client: LanguageClient) -> None:
    uri = file_uri("fan.tea.yaml")
    open_doc(client, uri, FAN)
    assert await diagnostics(client, uri, 1) == []
    before = set(client.progress_reports)
    result = await client.workspace_execute_command_async(run_params(uri))
    assert isinstance(result, dict)
    assert isinstance(result.pop("timing_ms"), float)
    branches = result.pop("branches")
    nodes = result.pop("nodes")
    # every node ran once and ended ok, with its time
    assert sorted(nodes) == ["a", "b", "join", "setup"]
    assert {n["outcome"] for n in nodes.values()} == {"ok"}
    assert all(re.fullmatch(r"\d+\.\d (ms|s)", n["time"]) for n in nodes.values()), nodes
    kept = result["state"].pop("parallel_results")  # stays in the final state, as in TEA
    assert without_timing(kept) == without_timing(branches)
    assert result == {"ok": True, "status": "ok", "state": {"n": 2, "total": 23}, "error": None}
    assert without_timing(branches) == [
        {
            "branch": "a",
            "success": True,
            "state": {"n": 2, "x": 20},
            "error": None,
            "error_type": None,
            "timeout": False,
        },
        {
            "branch": "b",
            "success": True,
            "state": {"n": 2, "y": 3},
            "error": None,
            "error_type": None,
            "timeout": False,
        },
    ]
    [token] = set(client.progress_reports) - before
    reports = client.progress_reports[token]
    begin, *middle, end = reports
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert (begin.title, begin.cancellable) == ("Run workflow fan", True)
    assert isinstance(end, types.WorkDoneProgressEnd)
    assert end.message is not None and re.fullmatch(r"ok in \d+ ms", end.message)
    messages = [m.message for m in middle if isinstance(m, types.WorkDoneProgressReport)]
    assert messages[:2] == ["node 'setup'", "fan-out from 'setup': 2 branches"]
    assert messages[-1] == "node 'join'"
    branch_events = [re.sub(r" \(worker \d+\)", "", m or "") for m in messages[2:-1]]
    assert sorted(branch_events) == [
        "branch 'a' finished",
        "branch 'a' started",
        "branch 'b' finished",
        "branch 'b' started",
    ]
    for b in ("a", "b"):
        assert branch_events.index(f"branch '{b}' started") < branch_events.index(
            f"branch '{b}' finished"
        )
    # Each branch ran in a worker process of the server's pool.
    assert all(re.search(r"\(worker \d+\)$", m or "") for m in messages if "started" in (m or ""))


async def test_run_with_input_and_unsaved_text(client: LanguageClient) -> None:
    uri = file_uri("input.tea.yaml")
    text = "name: inp\nnodes:\n  - name: a\n    run: return { doubled = state.n * 2 }\n"
    open_doc(client, uri, text)
    await diagnostics(client, uri, 1)
    result = await run(client, uri, {"n": 21})
    assert result["state"] == {"n": 21, "doubled": 42}
    # The buffer's current text, saved or not.
    change_doc(client, uri, 2, text.replace("* 2", "* 3"))
    result = await run(client, uri, {"n": 2})
    assert result["state"] == {"n": 2, "doubled": 6}


async def test_runtime_error_becomes_a_diagnostic_until_the_next_edit(
    client: LanguageClient,
) -> None:
    uri = file_uri("boom.tea.yaml")
    open_doc(client, uri, BOOM)
    assert await diagnostics(client, uri, 1) == []
    result = await run(client, uri)
    error = "node 'start': attempt to index a nil value (local 'bad')"
    assert {k: result[k] for k in ("ok", "status", "state", "error")} == {
        "ok": False,
        "status": "failed",
        "state": None,
        "error": error,
    }
    assert result["nodes"] == {
        "start": {"outcome": "failed", "time": result["nodes"]["start"]["time"]}
    }

    def run_diags() -> list[types.Diagnostic]:
        pubs = publications(client, uri)
        return [d for d in pubs[-1].diagnostics if d.source == "tea-run"] if pubs else []

    await wait_until(lambda: bool(run_diags()), "the tea-run diagnostic")
    [d] = run_diags()
    assert simple(d) == ("TEA601", (6, 6, 6, 30), error)
    assert d.severity == types.DiagnosticSeverity.Error
    # The next edit clears it.
    change_doc(client, uri, 2, BOOM.replace("bad.field", "t[1]"))
    if uses_pull(client):
        await wait_until(
            lambda: (
                publications(client, uri)[-1].diagnostics == []
                or publications(client, uri)[-1].diagnostics == ()
            ),
            "the clearing push",
        )
        assert await diagnostics(client, uri, 2) == []
    else:
        assert await pushed(client, uri, 2) == []


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _started_workers(client: LanguageClient, before: set[Any], n: int) -> list[int]:
    def pids() -> list[int]:
        out = []
        for token in set(client.progress_reports) - before:
            for r in client.progress_reports[token]:
                m = re.search(r"started \(worker (\d+)\)", getattr(r, "message", "") or "")
                if m:
                    out.append(int(m.group(1)))
        return out

    await wait_until(lambda: len(pids()) >= n, f"{n} branches to start")
    return pids()


async def test_cancel_request_kills_the_branches(client: LanguageClient) -> None:
    uri = file_uri("spin.tea.yaml")
    open_doc(client, uri, SPIN)
    await diagnostics(client, uri, 1)
    before = set(client.progress_reports)
    msg_id = f"run-spin-{client.client_name}"  # type: ignore[attr-defined]
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(  # type: ignore[no-untyped-call]
            types.WORKSPACE_EXECUTE_COMMAND, run_params(uri), msg_id=msg_id
        )
    )
    workers = await _started_workers(client, before, 2)
    assert all(os.path.exists(f"/proc/{pid}") for pid in workers)
    # The server answers while the run is in flight.
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=types.Position(line=5, character=11))
    )
    assert hover is not None
    client.cancel_request(types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, 30)
    await wait_until(lambda: all(_gone(pid) for pid in workers), "the branch workers to die")
    [token] = set(client.progress_reports) - before
    reports = client.progress_reports[token]
    # The answer goes out at once; the progress ends when the branches are stopped.
    await wait_until(lambda: isinstance(reports[-1], types.WorkDoneProgressEnd), "the end")
    last: Any = reports[-1]
    assert last == types.WorkDoneProgressEnd(message="cancelled")


async def test_cancel_run_command(client: LanguageClient) -> None:
    uri = file_uri("spin.tea.yaml")
    before = set(client.progress_reports)
    pending = asyncio.ensure_future(run(client, uri))
    workers = await _started_workers(client, before, 2)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tea.cancelRun", arguments=[uri])
    )
    assert answer == {"cancelled": 1}
    result = await asyncio.wait_for(pending, 30)
    assert {k: result[k] for k in ("ok", "status", "state", "error")} == {
        "ok": False,
        "status": "cancelled",
        "state": None,
        "error": "the run was cancelled",
    }
    await wait_until(lambda: all(_gone(pid) for pid in workers), "the branch workers to die")
    # Nothing left to cancel.
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tea.cancelRun", arguments=[])
    )
    assert answer == {"cancelled": 0}


async def test_bad_arguments_are_lsp_errors(client: LanguageClient) -> None:
    with pytest.raises(JsonRpcInvalidParams, match=r"expects \[uri\] or \[uri, input\]"):
        await client.workspace_execute_command_async(run_params())
    with pytest.raises(JsonRpcInvalidParams, match="the input must be an object"):
        await client.workspace_execute_command_async(run_params(file_uri("fan.tea.yaml"), 5))
    with pytest.raises(JsonRpcInvalidParams, match="cannot read"):
        await client.workspace_execute_command_async(run_params(file_uri("missing.tea.yaml")))


PY_ERROR = """\
name: pyerr
nodes:
  - name: divide
    language: python
    run: |
      def ratio(v):
          return 10 / v
      x = ratio(0)
"""

PY_SPIN = """\
name: pyspin
settings:
  python:
    timeout: 120
nodes:
  - name: spin
    language: python
    run: |
      import os
      while True:
          pass
"""


async def test_python_error_has_its_traceback_as_related_information(
    client: LanguageClient,
) -> None:
    uri = file_uri("pyerr.tea.yaml")
    open_doc(client, uri, PY_ERROR)
    await diagnostics(client, uri, 1)
    result = await run(client, uri)
    error = "node 'divide': ZeroDivisionError: division by zero"
    assert (result["status"], result["error"]) == ("failed", error)

    def run_diags() -> list[types.Diagnostic]:
        pubs = publications(client, uri)
        return [d for d in pubs[-1].diagnostics if d.source == "tea-run"] if pubs else []

    await wait_until(lambda: bool(run_diags()), "the tea-run diagnostic")
    [d] = run_diags()
    assert simple(d) == ("TEA609", (6, 10, 6, 23), error)
    related = [
        (r.location.range.start.line, r.location.range.start.character, r.message)
        for r in d.related_information or []
    ]
    assert related == [(7, 6, "in <node>: x = ratio(0)"), (6, 10, "in ratio: return 10 / v")]


async def test_cancel_stops_a_python_loop_in_the_main_flow(client: LanguageClient) -> None:
    uri = file_uri("pyspin.tea.yaml")
    open_doc(client, uri, PY_SPIN)
    await diagnostics(client, uri, 1)
    pending = asyncio.ensure_future(run(client, uri))
    await asyncio.sleep(1.0)  # the loop is running in the main flow's worker
    assert not pending.done()
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tea.cancelRun", arguments=[uri])
    )
    assert answer == {"cancelled": 1}
    result = await asyncio.wait_for(pending, 10)
    assert (result["status"], result["error"]) == ("cancelled", "the run was cancelled")

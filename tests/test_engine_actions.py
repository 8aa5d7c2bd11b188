"""Actions: built-ins (against a local HTTP server), entry points, and TEA501–TEA504."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.engine import ProcessPool
from tea_lsp.engine.actions import ActionRegistry, ActionSpec
from tests.engine_support import explain, process_pool, run_file, write


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/missing":
            self._send(404, {"error": "not here"})
            return
        self._send(200, {"path": self.path, "agent": self.headers.get("X-Who", "")})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        self._send(201, {"got": json.loads(raw), "type": self.headers.get("Content-Type")})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


HTTP = """
name: http
state_schema: {base: str, got: dict, posted: dict, branch_get: dict, other: dict}
nodes:
  - name: get
    uses: http.get
    with:
      url: "{{ state.base }}/hello?x=1"
      headers: {X-Who: tea}
      timeout: 5
    output: got
  - name: post
    uses: http.post
    with:
      url: "{{ state.base }}/echo"
      json: {n: "{{ state.got.path }}", tags: [a, b]}
    output: posted
  - name: in_branch
    uses: http.get
    with: {url: "{{ state.base }}/branch"}
    output: branch_get
    goto: join
  - name: other
    uses: http.get
    with: {url: "{{ state.base }}/other"}
    output: other
    goto: join
  - name: join
    fan_in: true
    run: |
      local r = state.parallel_results
      return { branch_get = r[1].state.branch_get, other = r[2].state.other }
edges:
  - {from: post, to: [in_branch, other], parallel: true, fan_in: join}
"""


def test_http_get_and_post(tmp_path: Path, server: str, pool: ProcessPool) -> None:
    result = run_file(write(tmp_path, HTTP), pool=pool, input={"base": server})
    assert result.ok, explain(result)
    state = result.state
    assert state is not None
    # As TEA: the result is the response's JSON.
    assert state["got"] == {"path": "/hello?x=1", "agent": "tea"}
    assert state["posted"] == {
        "got": {"n": "/hello?x=1", "tags": ["a", "b"]},
        "type": "application/json",
    }
    assert state["branch_get"] == {"path": "/branch", "agent": ""}
    assert state["other"] == {"path": "/other", "agent": ""}


def test_http_errors(tmp_path: Path, server: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    wf = write(
        tmp_path,
        """
        name: http-errors
        state_schema: {url: str, timeout: float}
        nodes:
          - name: fetch
            uses: http.get
            with: {url: "{{ state.url }}", timeout: "{{ state.timeout }}"}
        """,
    )
    refused = run_file(wf, input={"url": f"http://127.0.0.1:{closed_port}/", "timeout": 5})
    assert refused.error == (
        f"node 'fetch': action 'http.get': GET http://127.0.0.1:{closed_port}/: "
        "[Errno 111] Connection refused"
    )
    slow = run_file(wf, input={"url": f"{server}/slow", "timeout": 0.2})
    assert slow.error == (
        f"node 'fetch': action 'http.get': GET {server}/slow: no complete response within 0.2 s"
    )
    missing = run_file(wf, input={"url": f"{server}/missing", "timeout": 5})
    assert missing.error == (
        f"node 'fetch': action 'http.get': GET {server}/missing: HTTP 404 Not Found"
    )
    scheme = run_file(wf, input={"url": "file:///etc/passwd", "timeout": 1})
    assert scheme.error == (
        "node 'fetch': action 'http.get': url 'file:///etc/passwd' must use http or https"
    )


def test_files_and_json(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: files
        state_schema: {text: dict, parsed: dict, copy: dict, written: dict}
        nodes:
          - name: save
            uses: file.write
            with:
              path: out/data.json
              content: '{"a": [1, 2]}'
            output: written
          - name: load
            uses: file.read
            with: {path: out/data.json}
            output: text
          - name: parse
            uses: json.parse
            with: {text: "{{ state.text.content }}"}
            output: parsed
          - name: append
            uses: file.write
            with: {path: out/data.json, content: "!", append: true}
            output: written
          - name: reload
            uses: file.read
            with: {path: out/data.json}
            output: copy
        """,
    )
    result = run_file(wf)
    assert result.ok, explain(result)
    assert result.state == {
        "text": {"content": '{"a": [1, 2]}', "success": True},
        "parsed": {"data": {"a": [1, 2]}, "success": True},
        "copy": {"content": '{"a": [1, 2]}!', "success": True},
        "written": {"path": "out/data.json", "success": True},
    }
    assert (tmp_path / "out" / "data.json").read_text() == '{"a": [1, 2]}!'


@pytest.mark.parametrize(
    ("uses", "args", "error"),
    [
        ("file.read", "{path: ../secret}", "path '../secret' escapes the workflow's folder"),
        (
            "file.write",
            "{path: /tmp/x, content: y}",
            "path '/tmp/x' is absolute; use a path relative to the workflow",
        ),
    ],
)
def test_action_errors(tmp_path: Path, uses: str, args: str, error: str) -> None:
    wf = write(
        tmp_path,
        f"""
        name: errors
        nodes:
          - name: act
            uses: {uses}
            with: {args}
        """,
    )
    result = run_file(wf)
    assert result.status == "failed", explain(result)
    assert result.error == f"node 'act': action '{uses}': {error}"
    assert result.error_diagnostic is not None
    assert (result.error_diagnostic.code, result.error_diagnostic.span.start_line) == (
        "TEA605",
        3,
    )


def test_entry_point_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "tea_extra_actions-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tea-extra-actions\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[tea_lsp.actions]\n"
        "greet = tea_extra_actions_mod:GREET\n"
        "more = tea_extra_actions_mod:register\n"
        "broken = tea_extra_actions_mod:does_not_exist\n"
    )
    (tmp_path / "tea_extra_actions_mod.py").write_text(
        textwrap.dedent(
            """
            from tea_lsp.engine.actions import ActionSpec

            def _greet(args, ctx):
                return "hello " + args["who"]

            GREET = ActionSpec("greet.hello", _greet, {"type": "object",
                "properties": {"who": {"type": "string"}}, "required": ["who"],
                "additionalProperties": False})

            def register(registry):
                registry.register(ActionSpec("greet.bye", lambda a, c: "bye", {"type": "object"}))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ActionRegistry()
    registry.load_entry_points()
    assert {"greet.hello", "greet.bye"} <= set(registry.names())
    assert registry.load_errors == [
        "action entry point 'broken': module 'tea_extra_actions_mod' has no attribute "
        "'does_not_exist'"
    ]
    spec = registry.get("greet.hello")
    assert isinstance(spec, ActionSpec)
    assert spec.validate({"who": 3}) == "argument 'who': 3 is not of type 'string'"
    sys.modules.pop("tea_extra_actions_mod", None)


CHECKS = """
name: action-checks
nodes:
  - name: typo
    uses: json.prase
  - name: upstream
    uses: llm.call
  - name: unknown_arg
    uses: time.sleep
    with: {secs: 1, seconds: 1}
  - name: missing
    uses: json.parse
  - name: missing_with
    uses: file.write
    with:
      path: out.txt
  - name: wrong_type
    uses: time.sleep
    with:
      seconds: soon
  - name: wrong_nested
    uses: http.get
    with:
      url: http://127.0.0.1/
      headers: {X-N: 3}
  - name: negative
    uses: time.sleep
    with: {seconds: -1}
  - name: templated
    uses: time.sleep
    with: {seconds: "{{ state.n }}"}
"""


def test_action_checks() -> None:
    analysis = analyze(textwrap.dedent(CHECKS).lstrip(), "checks.yaml")
    got = [
        (d.code, d.severity.label, d.span.start_line, d.span.start_col, d.span.end_col, d.message)
        for d in analysis.diagnostics
        if d.code.startswith("TEA5")
    ]
    assert got == [
        ("TEA501", "error", 3, 10, 20, "unknown action 'json.prase'; did you mean 'json.parse'?"),
        (
            "TEA505",
            "info",
            5,
            10,
            18,
            "action 'llm.call' is not available in the tea-lsp runner (TEA's Python and Rust "
            "engines provide it)",
        ),
        (
            "TEA502",
            "error",
            8,
            11,
            15,
            "unknown argument 'secs' for action 'time.sleep'; did you mean 'seconds'?",
        ),
        (
            "TEA503",
            "error",
            10,
            10,
            20,
            "action 'json.parse' needs the argument 'text' under 'with'",
        ),
        (
            "TEA503",
            "error",
            12,
            10,
            20,
            "action 'file.write' needs the argument 'content' under 'with'",
        ),
        (
            "TEA504",
            "error",
            18,
            15,
            19,
            "argument 'seconds' of action 'time.sleep' expects a number, got 'soon'",
        ),
        (
            "TEA504",
            "error",
            23,
            21,
            22,
            "argument 'headers.X-N' of action 'http.get': 3 is not of type 'string'",
        ),
        (
            "TEA504",
            "error",
            26,
            20,
            22,
            "argument 'seconds' of action 'time.sleep': -1 is less than the minimum of 0",
        ),
    ]

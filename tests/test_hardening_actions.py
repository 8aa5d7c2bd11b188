"""Built-in actions under attack: slow and huge HTTP responses, redirects, private addresses,
FIFOs and huge files — and the result shapes shared with TEA's Python engine."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.engine_support import explain, run_file, write


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        port = self.server.server_address[1]  # type: ignore[index]
        if self.path == "/drip-body":  # headers at once, then one byte every 0.05 s for minutes
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/drip-headers":  # never finishes its headers
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(100000):
                self.wfile.write(f"X-{i}: y\r\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/big":
            self._json({"blob": "x" * 200_000})
        elif self.path == "/big-unsized":  # no Content-Length: read until the cap
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x" * 10_000)
        elif self.path.startswith("/redirect/"):
            target = self.path.removeprefix("/redirect/")
            target = target.replace("HERE", f"http://127.0.0.1:{port}")
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json({"path": self.path})


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


def fetch_workflow(tmp_path: Path, settings: str = "") -> Path:
    return write(
        tmp_path,
        f"""
        name: fetch
        state_schema: {{url: str, got: any}}
        settings:
          http: {{{settings}}}
        nodes:
          - name: fetch
            uses: http.get
            with: {{url: "{{{{ state.url }}}}"}}
            output: got
        """,
    )


def error_of(path: Path, url: str) -> tuple[str | None, float]:
    t0 = time.monotonic()
    result = run_file(path, input={"url": url})
    assert result.status == "failed", explain(result)
    return result.error, time.monotonic() - t0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_slow_drip_server_is_cut_at_the_total_deadline(
    tmp_path: Path, server: str, path: str
) -> None:
    wf = fetch_workflow(tmp_path, "timeout: 0.5")
    error, elapsed = error_of(wf, server + path)
    assert error == (
        f"node 'fetch': action 'http.get': GET {server}{path}: no complete response within 0.5 s"
    )
    assert elapsed < 5  # one deadline for the whole request, not per socket read


@pytest.mark.timeout(30)
def test_response_size_is_capped(tmp_path: Path, server: str) -> None:
    wf = fetch_workflow(tmp_path, "max_bytes: 1000")
    error, _ = error_of(wf, f"{server}/big")
    assert error == (
        f"node 'fetch': action 'http.get': GET {server}/big: the response has 200012 bytes, "
        "more than the 1000 allowed (settings.http.max_bytes)"
    )
    error, _ = error_of(wf, f"{server}/big-unsized")
    assert error == (
        f"node 'fetch': action 'http.get': GET {server}/big-unsized: the response is larger "
        "than the 1000 bytes allowed (settings.http.max_bytes)"
    )
    ok = run_file(fetch_workflow(tmp_path, "max_bytes: 300000"), input={"url": f"{server}/big"})
    assert ok.ok, explain(ok)
    assert ok.state is not None and ok.state["got"] == {"blob": "x" * 200_000}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("target", "scheme"),
    [("ftp://127.0.0.1/x", "ftp"), ("file:///etc/passwd", "file")],
)
def test_redirect_may_not_change_scheme(
    tmp_path: Path, server: str, target: str, scheme: str
) -> None:
    wf = fetch_workflow(tmp_path)
    url = f"{server}/redirect/{target}"
    error, _ = error_of(wf, url)
    assert error == (
        f"node 'fetch': action 'http.get': GET {url}: redirect to '{target}' refused: "
        f"a redirect may not change the scheme from 'http' to '{scheme}'"
    )


@pytest.mark.timeout(30)
def test_same_scheme_redirect_is_followed(tmp_path: Path, server: str) -> None:
    result = run_file(fetch_workflow(tmp_path), input={"url": f"{server}/redirect/HERE/landed"})
    assert result.ok, explain(result)
    assert result.state is not None and result.state["got"] == {"path": "/landed"}


@pytest.mark.timeout(30)
def test_allow_private_false_refuses_loopback(tmp_path: Path, server: str) -> None:
    wf = fetch_workflow(tmp_path, "allow_private: false")
    error, _ = error_of(wf, f"{server}/x")
    assert error == (
        f"node 'fetch': action 'http.get': GET {server}/x: address '127.0.0.1' of "
        "'127.0.0.1' is loopback; settings.http.allow_private is false"
    )
    localhost = server.replace("127.0.0.1", "localhost")
    error, _ = error_of(wf, f"{localhost}/x")  # a name resolving to loopback: the same
    assert error is not None and "is loopback; settings.http.allow_private is false" in error


@pytest.mark.timeout(30)
def test_bad_http_settings_are_reported(tmp_path: Path, server: str) -> None:
    error, _ = error_of(fetch_workflow(tmp_path, "timeout: fast"), f"{server}/x")
    assert error == (
        "node 'fetch': action 'http.get': settings.http.timeout must be a number of seconds "
        "greater than 0, got 'fast'"
    )


def file_workflow(tmp_path: Path, uses: str, args: str) -> Path:
    return write(
        tmp_path,
        f"""
        name: files
        nodes:
          - name: act
            uses: {uses}
            with: {args}
            output: out
        """,
    )


@pytest.mark.timeout(30)
def test_file_actions_refuse_fifos_and_devices(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "sub").mkdir()
    cases = [
        ("file.read", "{path: pipe}", "cannot read 'pipe': not a regular file (a fifo)"),
        (
            "file.read",
            "{path: zero}",
            "path 'zero' escapes the workflow's folder",
        ),
        ("file.write", "{path: pipe, content: x}", "cannot write 'pipe': not a regular file"),
        ("file.write", "{path: sub, content: x}", "cannot write 'sub': not a regular file"),
    ]
    for uses, args, message in cases:
        result = run_file(file_workflow(tmp_path, uses, args))
        assert result.status == "failed", explain(result)
        assert result.error == f"node 'act': action '{uses}': {message}"


@pytest.mark.timeout(30)
def test_file_read_caps_size(tmp_path: Path) -> None:
    with open(tmp_path / "huge.txt", "wb") as f:  # sparse: no disk space used
        f.truncate(65 * 1024 * 1024)
    result = run_file(file_workflow(tmp_path, "file.read", "{path: huge.txt}"))
    assert result.error == (
        "node 'act': action 'file.read': cannot read 'huge.txt': larger than 64 megabytes, "
        "the most accepted"
    )


# ---- result shapes as TEA's Python engine returns them


def test_tea_result_shapes(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: shapes
        nodes:
          - name: dump
            uses: json.stringify
            with: {data: {b: [1, "é"], a: null}, sort_keys: true}
            output: dumped
          - name: parse
            uses: json.parse
            with: {text: "{{ state.dumped.text }}"}
            output: parsed
          - name: bad
            uses: json.parse
            with: {text: '{"a": }'}
            output: bad
          - name: lenient
            uses: json.parse
            with: {text: "{\\"a\\": 1, // note\\n}", strict: false}
            output: lenient
          - name: save
            uses: file.write
            with: {path: out.txt, content: hi}
            output: saved
          - name: load
            uses: file.read
            with: {path: out.txt}
            output: loaded
          - name: missing
            uses: file.read
            with: {path: nope.txt}
            output: missing
        """,
    )
    result = run_file(wf)
    assert result.ok, explain(result)
    assert result.state == {
        "dumped": {"text": '{"a": null, "b": [1, "\\u00e9"]}', "success": True},
        "parsed": {"data": {"a": None, "b": [1, "é"]}, "success": True},
        "bad": {
            "success": False,
            "error": "JSON parse error: Expecting value",
            "error_type": "parse",
            "position": {"line": 1, "column": 7},
        },
        "lenient": {"data": {"a": 1}, "success": True},
        "saved": {"path": "out.txt", "success": True},
        "loaded": {"content": "hi", "success": True},
        "missing": {
            "success": False,
            "error": "File not found: nope.txt",
            "error_type": "not_found",
        },
    }

"""``--tcp`` has the same guards on the wire as stdio: a huge ``Content-Length`` or an endless
header line is refused, and the server keeps answering on the connection."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lsp.conftest import server_env
from tests.lsp.test_robustness_protocol import TEXT, URI, RawClient, finsh


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpClient(RawClient):
    """:class:`RawClient` over a TCP connection to ``tea-lsp serve --tcp 127.0.0.1:PORT``."""

    def __init__(self) -> None:  # the parent's pipes are replaced by a socket
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tea_lsp", "serve", "--tcp", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=server_env(),
        )
        end = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)
        self.stream = self.sock.makefile("rb")
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read_socket, daemon=True).start()
        self.next_id = 0

    def _read_socket(self) -> None:
        while True:
            length = 0
            while True:
                try:
                    line = self.stream.readline()
                except OSError:
                    return
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            self.messages.put(json.loads(self.stream.read(length)))

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        finally:
            self.sock.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tcp_client() -> Iterator[TcpClient]:
    c = TcpClient()
    try:
        c.request("initialize", {"capabilities": {}, "processId": None, "rootUri": None})
        c.notify("initialized", {})
        yield c
    finally:
        c.close()


def hover_title(client: TcpClient) -> str:
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": URI}, "position": {"line": 5, "character": 11}},
    )
    return str(hover["contents"]["value"]).split("\n", 1)[0]


@pytest.mark.timeout(60)
def test_huge_content_length_over_tcp_is_refused(tcp_client: TcpClient) -> None:
    tcp_client.raw(b"Content-Length: 99999999999999999999\r\n\r\n")
    tcp_client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": TEXT}},
    )
    assert finsh(tcp_client.diagnostics(1)) == [("TEA201", 5, 10)]
    assert hover_title(tcp_client) == "**unknown node `finsh`**"
    assert tcp_client.proc.poll() is None


@pytest.mark.timeout(60)
def test_endless_header_line_over_tcp_is_refused(tcp_client: TcpClient) -> None:
    tcp_client.raw(b"X-Padding: " + b"a" * 1_000_000 + b"\r\n")
    tcp_client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": TEXT}},
    )
    assert finsh(tcp_client.diagnostics(1)) == [("TEA201", 5, 10)]
    assert hover_title(tcp_client) == "**unknown node `finsh`**"

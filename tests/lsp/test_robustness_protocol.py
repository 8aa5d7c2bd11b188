"""Malformed input on the wire, sent raw to the real server: it keeps serving."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lsp.conftest import server_env

URI = "file:///tmp/tea-lsp-tests/raw.tea.yaml"
TEXT = "name: raw\nnodes:\n  - name: a\n    language: lua\n    run: return {}\n    goto: finsh\n"


class RawClient:
    """Speaks LSP framing by hand, so that it can also send what no real client would."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tea_lsp.lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server_env(),
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()
        self.next_id = 0

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            self.messages.put(json.loads(out.read(length)))

    def raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        return reply.get("result", reply.get("error"))

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def wait(self, match: Any, timeout: float = 20.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for a message")
            message = self.messages.get(timeout=left)
            if match(message):
                return message

    def diagnostics(self, version: int) -> list[dict[str, Any]]:
        found = self.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == URI
                and m["params"].get("version") == version
            )
        )
        return list(found["params"]["diagnostics"])

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def client() -> Iterator[RawClient]:
    c = RawClient()
    c.request("initialize", {"capabilities": {}, "processId": None, "rootUri": None})
    c.notify("initialized", {})
    try:
        yield c
    finally:
        c.close()


def finsh(diags: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [
        (d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"]) for d in diags
    ]


@pytest.mark.timeout(60)
def test_huge_content_length_is_refused_and_the_server_keeps_serving(client: RawClient) -> None:
    client.raw(b"Content-Length: 99999999999999999999\r\n\r\n")
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": TEXT}},
    )
    assert finsh(client.diagnostics(1)) == [("TEA201", 5, 10)]
    assert client.proc.poll() is None


@pytest.mark.timeout(60)
def test_lone_surrogate_does_not_break_analysis_or_hover(client: RawClient) -> None:
    text = TEXT.replace("name: raw", 'name: raw\ndescription: "x\\ud800y"')
    # json.dumps writes the lone surrogate as the escape "\ud800", as a client would.
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": text}},
    )
    text_with_surrogate = json.loads(json.dumps(text).replace("\\\\ud800", "\\ud800"))
    assert "\ud800" in text_with_surrogate
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"text": text_with_surrogate}],
        },
    )
    assert finsh(client.diagnostics(2)) == [("TEA201", 6, 10)]
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": URI}, "position": {"line": 6, "character": 11}},
    )
    assert hover["contents"]["value"].startswith("**unknown node `finsh`**")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {
                "range": {"start": {"line": 5, "character": 9}, "end": {"line": 2, "character": 0}},
                "text": "x",
            },
            "change 0 has a range that ends (line 2, character 0) before it starts "
            "(line 5, character 9)",
        ),
        ({"text": None}, "change 0 has no 'text' string (got None)"),
        (
            {
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                "text": None,
            },
            "change 0 has no 'text' string (got None)",
        ),
    ],
)
def test_invalid_did_change_is_rejected(
    client: RawClient, change: dict[str, Any], problem: str
) -> None:
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": TEXT}},
    )
    assert finsh(client.diagnostics(1)) == [("TEA201", 5, 10)]
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [change]},
    )
    shown = client.wait(lambda m: m.get("method") == "window/showMessage")
    assert shown["params"]["message"] == (
        f"tea-lsp: ignored an invalid 'textDocument/didChange' notification: {problem}; "
        "the server's copy of the document may be out of date"
    )
    # The copy is untouched: a valid edit on top of it gives the expected diagnostics.
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 3},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 5, "character": 10},
                        "end": {"line": 5, "character": 15},
                    },
                    "text": "nowhere",
                }
            ],
        },
    )
    diags = client.diagnostics(3)
    assert [(c, ln, ch) for c, ln, ch in finsh(diags)] == [("TEA201", 5, 10)]
    assert diags[0]["message"].startswith("unknown node 'nowhere' in 'goto'")

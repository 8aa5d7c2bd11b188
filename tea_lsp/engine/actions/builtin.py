"""Built-in actions: ``time.sleep``, ``json.parse``, ``json.stringify``, ``http.get``,
``http.post``, ``file.read``, ``file.write``; and the test-only ``test.*`` actions.

Names shared with TEA's Python engine take its argument names and return its result shapes
(``json.parse`` → ``{data, success}``, ``json.stringify`` → ``{text, success}``, ``file.read`` →
``{content, success}``, ``file.write`` → ``{path, success}``, ``http.*`` → the response's JSON).
Every action validates nothing itself beyond what its schema cannot say: the runner validates
``with:`` against the schema before calling.

Limits (``settings.http.*`` of the workflow, with defaults): an HTTP request has one deadline
for everything (connect, redirects, headers, body), a cap on the response size, never changes
scheme on a redirect except http → https, and may be kept off loopback and private addresses.
File actions read regular files only, up to a size cap.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from typing import Any

from tea_lsp.engine.actions.registry import ActionContext, ActionError, ActionSpec, ActionTimeout
from tea_lsp.safeio import MAX_FILE_BYTES, FileTooLarge, NotRegularFile, read_bytes_limited

HTTP_TIMEOUT_S = 30.0  # settings.http.timeout: the whole request, redirects included
HTTP_MAX_BYTES = 10 * 1024 * 1024  # settings.http.max_bytes: the response body
HTTP_MAX_REDIRECTS = 5
FILE_MAX_BYTES = MAX_FILE_BYTES


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_NUMBER_GE0 = {"type": "number", "minimum": 0}
_HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}


# ---- time


def _sleep(args: dict[str, Any], ctx: ActionContext) -> None:
    ctx.sleep(float(args["seconds"]))


# ---- json

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _json_parse(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    text = args["text"]
    if text is None:
        return {"success": False, "error": "Input text is None", "error_type": "parse"}
    try:
        return {"data": json.loads(text), "success": True}
    except json.JSONDecodeError as exc:
        error = exc
    if not args.get("strict", True):
        if args.get("default") is not None:
            return {"data": args["default"], "success": True}
        try:  # best effort: comments and trailing commas removed
            cleaned = _TRAILING_COMMA.sub(r"\1", _COMMENTS.sub("", text))
            return {"data": json.loads(cleaned), "success": True}
        except json.JSONDecodeError:
            pass
    return {
        "success": False,
        "error": f"JSON parse error: {error.msg}",
        "error_type": "parse",
        "position": {"line": error.lineno, "column": error.colno},
    }


def _json_stringify(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    try:
        text = json.dumps(
            args.get("data"),
            indent=args.get("indent"),
            sort_keys=bool(args.get("sort_keys", False)),
            default=str,
        )
    except (TypeError, ValueError) as exc:
        return {
            "success": False,
            "error": f"JSON serialization error: {exc}",
            "error_type": "serialize",
        }
    return {"text": text, "success": True}


# ---- http


def _http_settings(ctx: ActionContext) -> tuple[float, int, bool]:
    """``settings.http.timeout``, ``.max_bytes`` and ``.allow_private`` (defaults when unset)."""
    settings = ctx.extra.get("settings")
    section = settings.get("http") if isinstance(settings, dict) else None
    if not isinstance(section, dict):
        section = {}
    timeout = section.get("timeout", HTTP_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ActionError(
            f"settings.http.timeout must be a number of seconds greater than 0, got {timeout!r}"
        )
    max_bytes = section.get("max_bytes", HTTP_MAX_BYTES)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ActionError(
            f"settings.http.max_bytes must be a whole number greater than 0, got {max_bytes!r}"
        )
    allow = section.get("allow_private", True)
    if not isinstance(allow, bool):
        raise ActionError(f"settings.http.allow_private must be true or false, got {allow!r}")
    return float(timeout), max_bytes, allow


def _address_kind(address: str) -> str | None:
    """Why ``address`` is not public (``"loopback"``, ``"private"``...), or ``None``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, kind in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attr):
            return kind
    return None


class _Refused(ActionError):
    """The connection went to an address the policy refuses."""


class _PeerCheck(http.client.HTTPConnection):
    """Checks the address actually connected to (after DNS, before TLS or any request byte),
    and keeps the socket for the watchdog (``sock`` is dropped once a response owns it)."""

    allow_private = True
    watched: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.watched = self.sock
        if not self.allow_private:
            peer = str(self.sock.getpeername()[0])
            kind = _address_kind(peer)
            if kind is not None:
                self.sock.close()
                raise _Refused(
                    f"address '{peer}' of '{self.host}' is {kind}; "
                    "settings.http.allow_private is false"
                )


class _HTTP(_PeerCheck):
    pass


class _HTTPS(http.client.HTTPSConnection, _PeerCheck):
    def connect(self) -> None:
        super().connect()
        self.watched = self.sock  # the TLS socket


class _Watchdog:
    """Shuts the connection's socket down at the deadline or on cancellation, whatever the
    request is doing (connecting, sending, waiting for headers, reading a slow body)."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float, ctx: ActionContext):
        self.conn = conn
        self.deadline = deadline
        self.ctx = ctx
        self.fired: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="tea-http-watchdog", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        cancel = self.ctx.cancel
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.fired = "deadline"
                break
            if self.done.wait(min(left, 0.05)):
                return
            if cancel is not None and cancel.is_set():
                self.fired = "cancelled"
                break
        sock = getattr(self.conn, "watched", None) or self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def _read_body(resp: http.client.HTTPResponse, max_bytes: int, what: str) -> bytes:
    length = resp.getheader("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise ActionError(
            f"{what}: the response has {int(length)} bytes, more than the {max_bytes} allowed "
            "(settings.http.max_bytes)"
        )
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ActionError(
                f"{what}: the response is larger than the {max_bytes} bytes allowed "
                "(settings.http.max_bytes)"
            )
        chunks.append(chunk)


def _request(
    method: str,
    url: str,
    headers: dict[str, str],
    data: bytes | None,
    ctx: ActionContext,
    timeout: float,
) -> tuple[int, str, bytes]:
    """One HTTP exchange, redirects followed, within ``timeout`` seconds in all."""
    _, max_bytes, allow_private = _http_settings(ctx)
    what = f"{method} {url}"
    started = time.monotonic()
    deadline = started + timeout
    limit_text = f"{timeout:g} s"
    left = ctx.remaining()
    if left is not None and started + left < deadline:
        deadline = started + max(left, 0.0)
        limit_text = "the node's deadline"
    for _hop in range(HTTP_MAX_REDIRECTS + 1):
        ctx.check()
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise ActionError(f"{what}: {exc}") from None
        if not host:
            raise ActionError(f"{what}: url '{url}' has no host")
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise ActionTimeout(f"{what}: no complete response within {limit_text}")
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = _HTTPS(host, port, timeout=left_s, context=ssl.create_default_context())
        else:
            conn = _HTTP(host, port, timeout=left_s)
        conn.allow_private = allow_private
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        dog = _Watchdog(conn, deadline, ctx)
        try:
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            status = int(resp.status)
            location = resp.getheader("Location")
            if status in (301, 302, 303, 307, 308) and location:
                new = urllib.parse.urljoin(url, location)
                new_scheme = urllib.parse.urlsplit(new).scheme.lower()
                if new_scheme != scheme and not (scheme == "http" and new_scheme == "https"):
                    raise ActionError(
                        f"{what}: redirect to '{new}' refused: a redirect may not change the "
                        f"scheme from '{scheme}' to '{new_scheme}'"
                    )
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, data = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                url = new
                continue
            body = _read_body(resp, max_bytes, what)
            if dog.fired is None:
                return status, str(resp.reason), body
        except _Refused as exc:
            raise ActionError(f"{what}: {exc.message}") from None
        except ActionError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if dog.fired is None:
                reason = getattr(exc, "reason", None) or exc
                if isinstance(exc, TimeoutError | socket.timeout):
                    reason = f"no complete response within {limit_text}"
                    raise ActionTimeout(f"{what}: {reason}") from None
                raise ActionError(f"{what}: {reason}") from None
        finally:
            dog.stop()
            conn.close()
        ctx.check()  # cancelled: raises
        raise ActionTimeout(f"{what}: no complete response within {limit_text}")
    raise ActionError(f"{what}: more than {HTTP_MAX_REDIRECTS} redirects")


def _http(method: str, args: dict[str, Any], ctx: ActionContext) -> Any:
    """TEA's result: the response's JSON; an HTTP error status or a non-JSON body fails."""
    url = str(args["url"])
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ActionError(f"url '{url}' must use http or https")
    headers = {str(k): str(v) for k, v in dict(args.get("headers") or {}).items()}
    data: bytes | None = None
    if "json" in args and "body" in args:
        raise ActionError("give either 'json' or 'body', not both")
    if "json" in args:
        data = json.dumps(args["json"]).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif "body" in args:
        data = str(args["body"]).encode("utf-8")
    timeout, _, _ = _http_settings(ctx)
    if "timeout" in args:
        timeout = min(timeout, float(args["timeout"]))
    status, reason, raw = _request(method, url, headers, data, ctx, timeout)
    if status >= 400:
        raise ActionError(f"{method} {url}: HTTP {status} {reason}".rstrip())
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionError(
            f"{method} {url}: the response is not JSON ({exc.msg.lower()} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None


def _http_get(args: dict[str, Any], ctx: ActionContext) -> Any:
    return _http("GET", args, ctx)


def _http_post(args: dict[str, Any], ctx: ActionContext) -> Any:
    return _http("POST", args, ctx)


# ---- files


def _file_read(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    raw = str(args["path"])
    path = ctx.resolve_path(raw)
    try:
        data = read_bytes_limited(path, FILE_MAX_BYTES)
    except FileNotFoundError:
        return {"success": False, "error": f"File not found: {raw}", "error_type": "not_found"}
    except PermissionError:
        return {
            "success": False,
            "error": f"Permission denied: {raw}",
            "error_type": "permission_denied",
        }
    except (NotRegularFile, FileTooLarge) as exc:
        raise ActionError(f"cannot read '{raw}': {str(exc.strerror).lower()}") from None
    except OSError as exc:
        raise ActionError(f"cannot read '{raw}': {exc.strerror or exc}") from None
    try:
        content = data.decode(str(args.get("encoding", "utf-8")))
    except (UnicodeDecodeError, LookupError) as exc:
        raise ActionError(f"cannot read '{raw}': {exc}") from None
    return {"content": content, "success": True}


def _file_write(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    raw = str(args["path"])
    path = ctx.resolve_path(raw)
    mode = "a" if args.get("append", False) else "w"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise ActionError(f"cannot write '{raw}': not a regular file")
        with path.open(mode, encoding=str(args.get("encoding", "utf-8"))) as fh:
            fh.write(str(args["content"]))
    except PermissionError:
        return {
            "success": False,
            "error": f"Permission denied: {raw}",
            "error_type": "permission_denied",
        }
    except (OSError, LookupError) as exc:
        raise ActionError(f"cannot write '{raw}': {exc}") from None
    return {"path": raw, "success": True}


BUILTINS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "time.sleep",
        _sleep,
        _obj({"seconds": _NUMBER_GE0}, ["seconds"]),
        "wait `seconds` (stops early at the node's deadline or on cancellation)",
    ),
    ActionSpec(
        "json.parse",
        _json_parse,
        _obj(
            {"text": {"type": "string"}, "strict": {"type": "boolean"}, "default": {}},
            ["text"],
        ),
        "parse JSON text; result: {data, success}",
    ),
    ActionSpec(
        "json.stringify",
        _json_stringify,
        _obj(
            {
                "data": {},
                "indent": {"type": ["integer", "null"], "minimum": 0},
                "sort_keys": {"type": "boolean"},
            },
            ["data"],
        ),
        "serialize `data` as JSON text; result: {text, success}",
    ),
    ActionSpec(
        "http.get",
        _http_get,
        _obj(
            {"url": {"type": "string"}, "headers": _HEADERS, "timeout": _NUMBER_GE0},
            ["url"],
        ),
        "GET a URL; result: the response's JSON (an HTTP error status fails the node)",
    ),
    ActionSpec(
        "http.post",
        _http_post,
        _obj(
            {
                "url": {"type": "string"},
                "headers": _HEADERS,
                "json": {},
                "body": {"type": "string"},
                "timeout": _NUMBER_GE0,
            },
            ["url"],
        ),
        "POST `json` or `body` to a URL; result: the response's JSON",
    ),
    ActionSpec(
        "file.read",
        _file_read,
        _obj({"path": {"type": "string"}, "encoding": {"type": "string"}}, ["path"]),
        "read a text file (path relative to the workflow's folder); result: {content, success}",
    ),
    ActionSpec(
        "file.write",
        _file_write,
        _obj(
            {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "append": {"type": "boolean"},
                "encoding": {"type": "string"},
            },
            ["path", "content"],
        ),
        "write a text file (path relative to the workflow's folder); result: {path, success}",
    ),
)


# ---- test-only actions (registered when TEA_LSP_TEST_ACTIONS=1)


def _test_crash(args: dict[str, Any], ctx: ActionContext) -> None:
    if not ctx.in_worker:
        raise ActionError("test.crash only runs inside a worker process")
    os.kill(os.getpid(), signal.SIGKILL)


def _test_spin(args: dict[str, Any], ctx: ActionContext) -> None:
    # One blocking C call that neither a Lua hook nor the deadline can interrupt.
    time.sleep(float(args["seconds"]))


def _test_barrier(args: dict[str, Any], ctx: ActionContext) -> int:
    """Wait until ``parties`` callers reached the barrier folder ``dir``."""
    folder = ctx.resolve_path(str(args["dir"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.getpid()}-{uuid.uuid4().hex}").write_text(ctx.node, encoding="utf-8")
    parties = int(args["parties"])
    limit = time.monotonic() + float(args.get("timeout", 10))
    while True:
        count = sum(1 for _ in folder.iterdir())
        if count >= parties:
            return count
        if time.monotonic() >= limit:
            raise ActionError(f"barrier '{args['dir']}': {count} of {parties} arrived")
        ctx.sleep(0.01)


def _test_registry(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    """The action names known where this action runs, and that process's pid."""
    from tea_lsp.engine.actions.registry import default_registry

    return {"names": default_registry(True).names(), "pid": os.getpid()}


TEST_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "test.registry",
        _test_registry,
        _obj({}, []),
        "list the registry's action names and the process id (tests only)",
    ),
    ActionSpec("test.crash", _test_crash, _obj({}, []), "kill the worker process (tests only)"),
    ActionSpec(
        "test.spin",
        _test_spin,
        _obj({"seconds": _NUMBER_GE0}, ["seconds"]),
        "block in one uninterruptible C call (tests only)",
    ),
    ActionSpec(
        "test.barrier",
        _test_barrier,
        _obj(
            {
                "dir": {"type": "string"},
                "parties": {"type": "integer", "minimum": 1},
                "timeout": _NUMBER_GE0,
            },
            ["dir", "parties"],
        ),
        "wait until `parties` branches arrive (tests only)",
    ),
)

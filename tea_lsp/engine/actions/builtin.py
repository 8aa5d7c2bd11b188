"""Built-in actions: ``time.sleep``, ``json.parse``, ``json.stringify``, ``http.get``,
``http.post``, ``file.read``, ``file.write``; and the test-only ``test.*`` actions.

Every action validates nothing itself beyond what its schema cannot say: the runner validates
``with:`` against the schema before calling.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from tea_lsp.engine.actions.registry import ActionContext, ActionError, ActionSpec


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


def _json_parse(args: dict[str, Any], ctx: ActionContext) -> Any:
    try:
        return json.loads(args["text"])
    except json.JSONDecodeError as exc:
        raise ActionError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg.lower()}"
        ) from None


def _json_stringify(args: dict[str, Any], ctx: ActionContext) -> str:
    indent = args.get("indent")
    return json.dumps(
        args.get("value"),
        indent=indent,
        sort_keys=bool(args.get("sort_keys", False)),
        ensure_ascii=False,
        separators=None if indent is not None else (",", ":"),
    )


# ---- http


def _http(method: str, args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
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
    timeout = float(args.get("timeout", 30))
    left = ctx.remaining()
    if left is not None:
        if left <= 0:
            ctx.check()
        timeout = min(timeout, left)
    ctx.check()
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = int(resp.status)
            raw = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        status = exc.code
        raw = exc.read() if exc.fp is not None else b""
        resp_headers = {k.lower(): v for k, v in exc.headers.items()} if exc.headers else {}
    except TimeoutError:
        raise ActionError(f"{method} {url}: timed out after {timeout:g} s") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ActionError(f"{method} {url}: {reason}") from None
    text = raw.decode("utf-8", errors="replace")
    parsed: Any = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        parsed = None
    return {"status": status, "headers": resp_headers, "text": text, "json": parsed}


def _http_get(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    return _http("GET", args, ctx)


def _http_post(args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    return _http("POST", args, ctx)


# ---- files


def _file_read(args: dict[str, Any], ctx: ActionContext) -> str:
    path = ctx.resolve_path(str(args["path"]))
    try:
        return path.read_text(encoding=str(args.get("encoding", "utf-8")))
    except FileNotFoundError:
        raise ActionError(f"file '{args['path']}' does not exist") from None
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise ActionError(f"cannot read '{args['path']}': {exc}") from None


def _file_write(args: dict[str, Any], ctx: ActionContext) -> None:
    path = ctx.resolve_path(str(args["path"]))
    mode = "a" if args.get("append", False) else "w"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open(mode, encoding=str(args.get("encoding", "utf-8"))) as fh:
            fh.write(str(args["content"]))
    except (OSError, LookupError) as exc:
        raise ActionError(f"cannot write '{args['path']}': {exc}") from None


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
        _obj({"text": {"type": "string"}}, ["text"]),
        "parse JSON text into a value",
    ),
    ActionSpec(
        "json.stringify",
        _json_stringify,
        _obj(
            {
                "value": {},
                "indent": {"type": ["integer", "null"], "minimum": 0},
                "sort_keys": {"type": "boolean"},
            },
            ["value"],
        ),
        "serialize a value as JSON text",
    ),
    ActionSpec(
        "http.get",
        _http_get,
        _obj(
            {"url": {"type": "string"}, "headers": _HEADERS, "timeout": _NUMBER_GE0},
            ["url"],
        ),
        "GET a URL; result: {status, headers, text, json}",
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
        "POST `json` or `body` to a URL; result: {status, headers, text, json}",
    ),
    ActionSpec(
        "file.read",
        _file_read,
        _obj({"path": {"type": "string"}, "encoding": {"type": "string"}}, ["path"]),
        "read a text file (path relative to the workflow's folder)",
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
        "write a text file (path relative to the workflow's folder)",
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

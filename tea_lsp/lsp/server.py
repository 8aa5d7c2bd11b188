"""The language server: documents, analysis scheduling, settings, publishing.

Handlers (``tea_lsp.lsp.handlers.*``) are thin adapters: each asks the server for the
current :class:`Snapshot` of a document (the ``analyze()`` result of its latest text) and
converts it to LSP. Analyses run in worker threads, off the event loop, so the server keeps
answering while a large document is checked; requests for the same version share one analysis,
and a queued analysis always takes the latest text, so a storm of edits costs one analysis.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from tea_lsp import __version__
from tea_lsp.analysis import Analysis, analyze
from tea_lsp.config import Config, ConfigError, find_config_file, read_config_file
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.lsp import convert, outline
from tea_lsp.lsp.convert import Encoding
from tea_lsp.lsp.documents import Change, Document
from tea_lsp.lsp.selection import is_workflow, uri_to_path
from tea_lsp.lsp.settings import Settings, parse_settings
from tea_lsp.model.workflow import Workflow
from tea_lsp.syntax.text import LineIndex, normalize
from tea_lsp.syntax.yaml_tree import ParsedYaml

if TYPE_CHECKING:
    from tea_lsp.lsp.handlers.run import RunManager

log = logging.getLogger("tea_lsp.lsp")

DEBOUNCE_S = 0.15
# A request waits for the analysis of the text it was made on; under a storm of edits it
# settles for the newest finished analysis after this many rounds instead of waiting forever.
_MAX_ROUNDS = 4

# Wall-clock budget of one analysis: past it the analysis is stopped and the document gets a
# single diagnostic saying so, so one hostile document never holds an analysis thread.
ANALYSIS_BUDGET_S = float(os.environ.get("TEA_LSP_ANALYSIS_BUDGET_S", "") or 10.0)
_ANALYSIS_THREADS = 4


class AnalysisTimeout(BaseException):
    """Raised inside an analysis thread that ran past its budget (not an ``Exception``, so
    the checks' own error handling cannot swallow it)."""


def analyze_with_budget(text: str, path: str, config: Config, budget: float) -> Analysis:
    """``analyze()`` in the calling thread, stopped after ``budget`` seconds.

    A watchdog raises :class:`AnalysisTimeout` in this thread when the budget runs out; it
    is delivered between two Python bytecodes (a long call into C finishes first). The result
    is then an analysis with no workflow and one diagnostic at the top of the file.
    """
    ident = threading.get_ident()
    lock = threading.Lock()
    running = [True]

    def expire() -> None:
        with lock:
            if running[0]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(AnalysisTimeout)
                )

    timer = threading.Timer(budget, expire)
    timer.daemon = True
    try:
        try:
            timer.start()
            return analyze(text, path, config)
        finally:
            with lock:
                running[0] = False
            timer.cancel()
    except AnalysisTimeout:
        text = normalize(text)
        parsed = ParsedYaml(text=text, lines=LineIndex(text))
        stopped = Diagnostic(
            "TEA900",
            Severity.ERROR,
            f"analysis stopped: checking this document took longer than {budget:g} s; "
            "run 'tea-lsp check' on it to see where the time goes",
            Span(0, 0, 0, parsed.lines.line_length(0)),
        )
        return Analysis(path=path, text=text, parsed=parsed, diagnostics=[stopped])


# The params of the ``workspace/executeCommand`` being handled (for its workDoneToken).
current_command: contextvars.ContextVar[types.ExecuteCommandParams | None] = contextvars.ContextVar(
    "tea_current_command", default=None
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The analysis of one version of a document under one settings generation."""

    uri: str
    version: int
    generation: int
    workflow: bool
    analysis: Analysis | None

    @property
    def result_id(self) -> str:
        return f"{self.version}.{self.generation}"


class _Job:
    __slots__ = ("future", "generation", "started")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.started: int | None = None  # the version it analyses, once running
        self.future: asyncio.Future[Snapshot] | None = None


@dataclass(slots=True)
class DocState:
    doc: Document
    lock: threading.Lock = field(default_factory=threading.Lock)
    snap: Snapshot | None = None
    job: _Job | None = None
    timer: asyncio.TimerHandle | None = None
    publish_task: asyncio.Task[None] | None = None
    published_version: int = -1
    published_any: bool = False
    run_diagnostics: list[Diagnostic] = field(default_factory=list)
    run_version: int = -1
    run_pushed: bool = False

    def read(self) -> tuple[int, str]:
        with self.lock:
            return self.doc.version, self.doc.text


class _InvalidRequest:
    """A request whose params could not be read: answered with an InvalidParams error."""

    def __init__(self, msg_id: Any, method: str, error: JsonRpcException) -> None:
        self.id = msg_id
        self.method = method
        self.error = error
        self.jsonrpc = "2.0"


class _Rejected:
    """A notification whose params are invalid: ignored (with a visible warning)."""

    def __init__(self, method: str, problem: str) -> None:
        self.method = method
        self.problem = problem


def _position(value: object) -> tuple[int, int] | None:
    if not isinstance(value, dict):
        return None
    line, char = value.get("line"), value.get("character")
    for v in (line, char):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            return None
    assert isinstance(line, int) and isinstance(char, int)
    return line, char


def invalid_change(params: object) -> str | None:
    """Why the raw params of a ``didChange`` cannot be applied (``None``: they can).

    Checked before the params are structured, since structuring turns ``"text": null`` into
    the text ``"None"``; an edit whose range ends before it starts is refused too.
    """
    if not isinstance(params, dict):
        return "params must be an object"
    changes = params.get("contentChanges")
    if not isinstance(changes, list):
        return "'contentChanges' must be a list"
    for i, change in enumerate(changes):
        if not isinstance(change, dict):
            return f"change {i} must be an object"
        if not isinstance(change.get("text"), str):
            return f"change {i} has no 'text' string (got {change.get('text')!r})"
        if "range" in change:
            rng = change["range"]
            start = _position(rng.get("start")) if isinstance(rng, dict) else None
            end = _position(rng.get("end")) if isinstance(rng, dict) else None
            if start is None or end is None:
                return f"change {i} has an invalid range"
            if end < start:
                return (
                    f"change {i} has a range that ends (line {end[0]}, character {end[1]}) "
                    f"before it starts (line {start[0]}, character {start[1]})"
                )
    return None


class TeaProtocol(LanguageServerProtocol):
    """pygls' protocol with our own document store and answers to malformed requests."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        # Request id → futures of the handlers a built-in handler delegated to (the user's
        # ``workspace/executeCommand`` handler runs as such an inner future).
        self._inner: dict[Any, list[Any]] = {}

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: Any = None,
        kwargs: Any = None,
    ) -> None:
        outer = self.msg_id
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if outer is None or outer == msg_id:
            return
        inner = self._request_futures.get(msg_id)
        if inner is None or inner.done():
            return
        self._inner.setdefault(outer, []).append(inner)

        def forget(_: Any) -> None:
            futures = self._inner.get(outer)
            if futures is not None and inner in futures:
                futures.remove(inner)
                if not futures:
                    del self._inner[outer]

        inner.add_done_callback(forget)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        # pygls cancels the outer future only; the work it delegated must stop too.
        for inner in list(self._inner.pop(msg_id, ())):
            inner.cancel()
        super()._handle_cancel_notification(msg_id)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        current_command.set(params)
        result = yield from super().lsp_workspace__execute_command(params)
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        if isinstance(self.writer, asyncio.StreamWriter):
            # TCP: close the connection and stop listening (pygls would raise SystemExit
            # inside a callback, which asyncio reports as an unhandled exception).
            self.writer.close()
            self._server.shutdown()  # type: ignore[no-untyped-call]
            return None
        yield from super().lsp_exit(*args)
        return None

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Any:
        # As pygls does, but cancelling a pending request removes it from the dict being walked.
        if (handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield handler, args, None
        current = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def structure_message(self, data: dict[str, Any]) -> Any:
        if data.get("method") == types.TEXT_DOCUMENT_DID_CHANGE and "jsonrpc" in data:
            problem = invalid_change(data.get("params"))
            if problem is not None:
                return _Rejected(types.TEXT_DOCUMENT_DID_CHANGE, problem)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and isinstance(data.get("method"), str):
                return _InvalidRequest(data["id"], data["method"], exc)
            raise

    def handle_message(self, message: Any) -> None:
        if message is None:  # a message refused by ``BoundedInput`` (already logged)
            return
        if isinstance(message, _Rejected):
            server = self._server
            assert isinstance(server, TeaLanguageServer)
            server.warn_user(
                f"tea-lsp: ignored an invalid '{message.method}' notification: "
                f"{message.problem}; the server's copy of the document may be out of date"
            )
            return
        if isinstance(message, _InvalidRequest):
            log.warning("invalid params for %s (id %s)", message.method, message.id)
            error = JsonRpcInvalidParams(f"invalid params for '{message.method}'")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)


class TeaLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "tea-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TeaProtocol,
        )
        self.docs: dict[str, DocState] = {}
        self.encoding: Encoding = convert.DEFAULT_ENCODING
        self.settings = Settings()
        self.generation = 0  # bumped whenever settings change: every analysis is stale
        self.init_options: object = None
        self.pull_diagnostics = False
        self.roots: tuple[str, ...] = ()
        self._analysis_pool = ThreadPoolExecutor(
            _ANALYSIS_THREADS, thread_name_prefix="tea-analyze"
        )
        self._config_cache: dict[str, tuple[float, Config]] = {}
        self._shown_warnings: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_shutdown: list[Callable[[], None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_workflow_seen: list[Callable[[], None]] = []
        self._workflow_seen = False
        self.runs: RunManager | None = None
        self._pending_warnings: list[str] = []

    def start_tcp(self, host: str, port: int) -> None:
        """pygls's TCP server, each connection read through :class:`BoundedStreamReader`."""
        from pygls.io_ import run_async

        self._stop_event = stop_event = threading.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)
            await run_async(
                stop_event=stop_event,
                reader=BoundedStreamReader(reader),
                protocol=self.protocol,
                logger=log,
                error_handler=self.report_server_error,
            )
            self.shutdown()  # type: ignore[no-untyped-call]

        async def listen() -> None:
            self._server = server = await asyncio.start_server(connection, host, port)
            async with server:
                await server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(listen())

    # ---- client capabilities

    @property
    def caps(self) -> types.ClientCapabilities:
        return self.protocol.client_capabilities

    def supports_work_done_progress(self) -> bool:
        window = self.caps.window
        return bool(window and window.work_done_progress)

    def supports_configuration(self) -> bool:
        ws = self.caps.workspace
        return bool(ws and ws.configuration)

    def supports_diagnostic_refresh(self) -> bool:
        ws = self.caps.workspace
        return bool(ws and ws.diagnostics and ws.diagnostics.refresh_support)

    def supports_hierarchical_symbols(self) -> bool:
        td = self.caps.text_document
        return bool(
            td and td.document_symbol and td.document_symbol.hierarchical_document_symbol_support
        )

    def workspace_edit(
        self, uri: str, version: int | None, edits: Sequence[types.TextEdit]
    ) -> types.WorkspaceEdit:
        """Edits of one document: versioned ``documentChanges`` when the client supports them."""
        ws = self.caps.workspace
        if ws and ws.workspace_edit and ws.workspace_edit.document_changes:
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=uri, version=version
                        ),
                        edits=list(edits),
                    )
                ]
            )
        return types.WorkspaceEdit(changes={uri: list(edits)})

    def markdown_supported(self, kinds: Sequence[types.MarkupKind] | None) -> bool:
        return kinds is None or types.MarkupKind.Markdown in kinds

    def setup(self, params: types.InitializeParams) -> None:
        """Called from ``initialize``: encoding, diagnostics mode, roots, initial settings."""
        self.loop = asyncio.get_running_loop()
        chosen = ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities)
        self.encoding = convert.negotiate([str(getattr(chosen, "value", chosen))])
        td = params.capabilities.text_document
        self.pull_diagnostics = bool(td and td.diagnostic is not None)
        roots = [uri_to_path(f.uri) for f in params.workspace_folders or ()]
        if params.root_uri:
            roots.append(uri_to_path(params.root_uri))
        elif params.root_path:
            roots.append(params.root_path)
        self.roots = tuple(dict.fromkeys(roots))
        self.init_options = params.initialization_options
        settings, warnings = parse_settings(params.initialization_options)
        self.settings = settings
        self._pending_warnings = warnings

    # ---- messages to the user

    def log_message(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        log.log(
            {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}.get(int(level), logging.DEBUG),
            message,
        )
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def warn_user(self, message: str) -> None:
        """A visible warning (``window/showMessage``), shown once per distinct text."""
        self.log_message(message, types.MessageType.Warning)
        if message in self._shown_warnings:
            return
        self._shown_warnings.add(message)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        )

    def report_server_error(self, error: BaseException, source: Any) -> None:
        """Log every handler failure (with its traceback); the client gets an LSP error for
        requests and a visible message for notifications. The server keeps serving."""
        detail = f"{type(error).__name__}: {error}"
        log.error("handler error (%s): %s", getattr(source, "__name__", source), detail)
        try:
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Error, message=f"tea-lsp: {detail}")
            )
            if source is not None and getattr(source, "__name__", "") == "FeatureNotificationError":
                self.window_show_message(
                    types.ShowMessageParams(
                        type=types.MessageType.Error, message=f"tea-lsp: internal error: {detail}"
                    )
                )
        except Exception:  # the transport is gone: nothing more to say
            log.debug("cannot report error to the client", exc_info=True)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop, from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(fn, *args)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background, logging (never raising) its failure."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and (exc := t.exception()) is not None:
                log.error("background task failed", exc_info=exc)
                self.report_server_error(exc, None)

        task.add_done_callback(done)
        return task

    # ---- settings

    def show_pending_warnings(self) -> None:
        for w in self._pending_warnings:
            self.warn_user(f"tea-lsp: {w}")
        self._pending_warnings = []

    def apply_settings(self, raw: object) -> None:
        settings, warnings = parse_settings(raw)
        if not warnings:
            self._shown_warnings.clear()  # a value that breaks again is worth a new warning
        for w in warnings:
            self.warn_user(f"tea-lsp: {w}")
        if settings != self.settings:
            self.settings = settings
            self.settings_changed()

    def settings_changed(self) -> None:
        self.generation += 1
        self._config_cache.clear()
        if self.pull_diagnostics and self.supports_diagnostic_refresh():
            self.workspace_diagnostic_refresh(None)
        for uri in list(self.docs):
            self.schedule(uri, 0.0)

    def config_for(self, path: str) -> Config:
        """Checker configuration: ``[tool.tea-lsp]`` of the nearest pyproject, then settings."""
        cfg = Config()
        if not path.startswith(("<", "untitled:")) and "://" not in path:
            found = find_config_file(Path(path).parent) if Path(path).parent.exists() else None
            if found is not None:
                key = f"{found}\0{path}"
                try:
                    mtime = found.stat().st_mtime
                    cached = self._config_cache.get(key)
                    if cached is not None and cached[0] == mtime:
                        cfg = cached[1]
                    else:
                        file_config = read_config_file(found)
                        cfg = file_config.config_for(Path(path)) if file_config else cfg
                        self._config_cache[key] = (mtime, cfg)
                except (ConfigError, OSError) as exc:
                    self.call_soon(self.warn_user, f"tea-lsp: {exc}; using the default checks")
        s = self.settings
        if s.select:
            cfg = cfg.with_options(select=s.select)
        if s.ignore:
            cfg = cfg.with_options(ignore=s.ignore)
        if s.default_language is not None:
            cfg = cfg.with_options(default_language=s.default_language)
        return cfg

    # ---- documents

    def open(self, uri: str, text: str, version: int, language_id: str) -> DocState:
        state = DocState(Document.create(uri, text, version, language_id))
        old = self.docs.get(uri)
        if old is not None:
            self._cancel_timer(old)
        self.docs[uri] = state
        return state

    def change(self, uri: str, version: int, changes: Sequence[Change]) -> DocState | None:
        state = self.docs.get(uri)
        if state is None:
            return None
        with state.lock:
            for ch in changes:
                state.doc.apply(ch, self.encoding)
            state.doc.version = version
        if state.run_diagnostics:
            state.run_diagnostics = []
            if state.run_pushed:  # pull mode: the run's diagnostics were pushed alone
                self._push(state.doc.uri, version, [])
                state.run_pushed = False
        return state

    def close(self, uri: str) -> None:
        state = self.docs.pop(uri, None)
        if state is None:
            return
        self._cancel_timer(state)
        if state.publish_task is not None:
            state.publish_task.cancel()
        self._push(uri, None, [])

    def _cancel_timer(self, state: DocState) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None

    # ---- analysis

    def _analyze(self, state: DocState, job: _Job) -> Snapshot:
        """Worker thread: analyse the document's latest text."""
        version, text = state.read()
        job.started = version
        doc = state.doc
        settings = self.settings
        workflow = is_workflow(doc.uri, doc.language_id, text, settings.files, self.roots)
        result: Analysis | None = None
        if workflow:
            path = uri_to_path(doc.uri)
            t0 = time.perf_counter()
            result = analyze_with_budget(text, path, self.config_for(path), ANALYSIS_BUDGET_S)
            log.debug("analyzed %s v%s in %.1f ms", doc.uri, version, _ms(t0))
        return Snapshot(doc.uri, version, job.generation, workflow, result)

    def _submit(self, state: DocState) -> _Job:
        job = _Job(self.generation)
        loop = asyncio.get_running_loop()
        job.future = loop.run_in_executor(self._analysis_pool, self._analyze, state, job)
        state.job = job
        return job

    async def snapshot(self, uri: str) -> Snapshot | None:
        """The analysis of the document's current text (``None``: not open)."""
        state = self.docs.get(uri)
        if state is None:
            return None
        target = state.doc.version
        gen = self.generation
        for _ in range(_MAX_ROUNDS):
            snap = state.snap
            if snap is not None and snap.version >= target and snap.generation >= gen:
                return snap
            job = state.job
            if (
                job is None
                or job.future is None
                or job.future.done()
                or job.generation < gen
                or (job.started is not None and job.started < target)
            ):
                job = self._submit(state)
            assert job.future is not None
            result = await asyncio.shield(job.future)
            if self.docs.get(uri) is not state:
                return None
            cur = state.snap
            if cur is None or (result.generation, result.version) >= (cur.generation, cur.version):
                state.snap = result
        return state.snap

    async def analysis(self, uri: str) -> tuple[Snapshot, Analysis] | None:
        """The current analysis of a workflow document (``None``: not open or not a workflow)."""
        snap = await self.snapshot(uri)
        if snap is None or snap.analysis is None:
            return None
        return snap, snap.analysis

    async def name_at(
        self, uri: str, position: types.Position
    ) -> tuple[Snapshot, Analysis, Workflow, outline.Occurrence] | None:
        """The node name written at ``position`` (a reference or a definition), if any."""
        got = await self.analysis(uri)
        if got is None:
            return None
        snap, analysis = got
        line, col = convert.from_position(analysis.lines, position, self.encoding)
        wf = outline.workflow_at(analysis, line)
        if wf is None:
            return None
        occ = outline.occurrence_at(wf, analysis.lines, line, col)
        if occ is None:
            return None
        return snap, analysis, wf, occ

    # ---- publishing

    def schedule(self, uri: str, delay: float = DEBOUNCE_S) -> None:
        """(Re)start the debounce timer that analyses and publishes a document."""
        state = self.docs.get(uri)
        if state is None:
            return
        self._cancel_timer(state)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            state.timer = None
            state.publish_task = self.spawn(self._publish_latest(uri, state))

        if delay <= 0:
            fire()
        else:
            state.timer = loop.call_later(delay, fire)

    async def _publish_latest(self, uri: str, state: DocState) -> None:
        snap = await self.snapshot(uri)
        if snap is None or self.docs.get(uri) is not state:
            return
        if snap.workflow and not self._workflow_seen:
            self._workflow_seen = True
            for hook in self.on_workflow_seen:
                hook()
        if snap.version != state.doc.version or snap.generation != self.generation:
            return  # the text moved on: a newer timer publishes
        self.publish(state, snap)

    def diagnostics_of(self, state: DocState, snap: Snapshot) -> list[types.Diagnostic]:
        """Checker diagnostics of a snapshot, converted (empty when not a workflow)."""
        if snap.analysis is None:
            return []
        lines = snap.analysis.lines
        return [
            convert.to_diagnostic(lines, d, snap.uri, self.encoding)
            for d in snap.analysis.diagnostics
        ]

    def run_diagnostics_of(self, state: DocState, snap: Snapshot | None) -> list[types.Diagnostic]:
        if not state.run_diagnostics or state.run_version != state.doc.version:
            return []
        lines = snap.analysis.lines if snap and snap.analysis else state.doc
        return [
            convert.to_diagnostic(lines, d, state.doc.uri, self.encoding, source="tea-run")
            for d in state.run_diagnostics
        ]

    def publish(self, state: DocState, snap: Snapshot) -> None:
        if snap.version < state.published_version:
            return  # never over a newer version
        uri = state.doc.uri
        if self.pull_diagnostics:
            run = self.run_diagnostics_of(state, snap)
            if run or state.run_pushed:
                self._push(uri, snap.version, run)
                state.run_pushed = bool(run)
            state.published_version = snap.version
            return
        items = self.diagnostics_of(state, snap) + self.run_diagnostics_of(state, snap)
        if not snap.workflow and not state.published_any:
            state.published_version = snap.version
            return  # not ours, nothing to clear: no interference with other YAML
        self._push(uri, snap.version, items)
        state.published_version = snap.version
        state.published_any = snap.workflow or bool(items)

    def _push(self, uri: str, version: int | None, items: list[types.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=version)
        )

    def set_run_diagnostics(self, uri: str, version: int, diags: list[Diagnostic]) -> None:
        """Runtime diagnostics of a run of ``version``; shown until the next edit."""
        state = self.docs.get(uri)
        if state is None or state.doc.version != version:
            return
        state.run_diagnostics = list(diags)
        state.run_version = version
        snap = state.snap if state.snap and state.snap.version == version else None
        if snap is not None:
            self.publish_now(state, snap)
        else:
            self.schedule(uri, 0.0)

    def publish_now(self, state: DocState, snap: Snapshot) -> None:
        self.publish(state, snap)

    # ---- shutdown

    def close_all(self) -> None:
        for cb in self.on_shutdown:
            try:
                cb()
            except Exception:
                log.exception("shutdown hook failed")
        self._analysis_pool.shutdown(wait=False, cancel_futures=True)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def create_server() -> TeaLanguageServer:
    from tea_lsp.lsp.handlers import register_all

    server = TeaLanguageServer()
    register_all(server)
    return server


def configure_logging(level: str = "WARNING", log_file: str | None = None) -> None:
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pygls logs every message it sends at INFO: keep it quiet unless asked for DEBUG.
    if level.upper() != "DEBUG":
        logging.getLogger("pygls").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tea_lsp.lsp [--tcp HOST:PORT]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="tea-lsp serve")
    parser.add_argument("--tcp", metavar="HOST:PORT")
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--log-file")
    args = parser.parse_args(argv)
    return serve(tcp=args.tcp, log_level=args.log_level, log_file=args.log_file)


def parse_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got '{value}'")
    return host or "127.0.0.1", int(port)


# The largest message body read from the client; a larger ``Content-Length`` is refused.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_MAX_HEADER_LINE = 64 * 1024


class BoundedInput:
    """The client's byte stream, with bounds on what one read may ask for.

    pygls reads a header line with ``readline()`` and a body with ``read(Content-Length)``:
    a header without a line end, or a ``Content-Length`` of 99999999999999999999, would make
    it allocate without limit (or fail with ``OverflowError`` and stop the server). Here a
    header line is cut at 64 KiB and a body longer than :data:`MAX_MESSAGE_BYTES` is refused:
    nothing is read for it, and the server answers nothing and goes on with the next message.
    """

    def __init__(self, raw: BinaryIO, max_body: int = MAX_MESSAGE_BYTES) -> None:
        self.raw = raw
        self.max_body = max_body

    def readline(self, size: int = -1) -> bytes:
        limit = _MAX_HEADER_LINE if size < 0 else min(size, _MAX_HEADER_LINE)
        return self.raw.readline(limit)

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.max_body:
            log.error("refused a message of %s bytes (at most %s)", n, self.max_body)
            return b"null"  # not a message: logged by the protocol loop, then skipped
        return self.raw.read(n)

    def close(self) -> None:
        self.raw.close()


class BoundedStreamReader:
    """:class:`BoundedInput` for a TCP connection (an ``asyncio.StreamReader``): the same
    bounds on a header line and a body, so ``--tcp`` refuses what stdio refuses."""

    def __init__(self, raw: asyncio.StreamReader, max_body: int = MAX_MESSAGE_BYTES) -> None:
        self.raw = raw
        self.max_body = max_body

    async def readline(self) -> bytes:
        try:
            return await self.raw.readline()
        except ValueError:  # longer than the reader's limit (64 KiB): dropped, not a header
            log.error("refused a header line longer than %s bytes", _MAX_HEADER_LINE)
            return b"X-Refused: 1\r\n"

    async def readexactly(self, n: int) -> bytes:
        if n < 0 or n > self.max_body:
            log.error("refused a message of %s bytes (at most %s)", n, self.max_body)
            return b"null"  # not a message: logged by the protocol loop, then skipped
        try:
            return await self.raw.readexactly(n)
        except asyncio.IncompleteReadError:  # the client left mid-message
            return b""


def _claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Private copies of stdin/stdout for the protocol; fd 0 becomes /dev/null and fd 1 a copy
    of stderr, so nothing else (a worker process, a stray print in C code) can read the
    client's messages or write into the protocol stream."""
    sys.stdout.flush()
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def serve(tcp: str | None = None, log_level: str = "WARNING", log_file: str | None = None) -> int:
    configure_logging(log_level, log_file)
    server = create_server()
    try:
        if tcp:
            host, port = parse_hostport(tcp)
            server.start_tcp(host, port)
        else:
            proto_in, proto_out = _claim_stdio()
            server.start_io(BoundedInput(proto_in), proto_out)  # type: ignore[arg-type]
    finally:
        server.close_all()
    # LSP: exit code 0 after a `shutdown` request, 1 when the client just went away.
    return 0 if server.protocol._shutdown else 1

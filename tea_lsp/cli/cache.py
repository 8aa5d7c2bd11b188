"""The result cache of ``tea-lsp check``: a file checked before, unchanged, with the same
configuration and the same tea-lsp, is reported from the cache without analysing it again
(nor importing the Lua, YAML and Jinja machinery the analysis needs).

One JSON file per result under ``<cache dir>/<fingerprint>/``, named by a hash of what the
result depends on: the file's text and path, its effective configuration, the environment
switches the checker reads, and the fingerprint of the installation (tea-lsp's version, the
size and modification time of each of its own files, and of each ``sys.path`` folder, so
an upgrade, an edit of an editable install or a package installed or removed all start a
fresh cache). When plugins may register actions (``tea_lsp.actions`` entry points), results
depend on code outside tea-lsp, and the cache is not used at all.

A cache folder carries a ``.gitignore`` of ``*`` (it is never committed) and a
``CACHEDIR.TAG`` (backup tools skip it). A previous fingerprint's folder is removed when a new
one is made. Every failure to read or write the cache is silent: a cache problem can only make
a check slower, never change its result.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tea_lsp import __version__
from tea_lsp.config import Config
from tea_lsp.diagnostics import Diagnostic, Fix, Related, Severity, Span, TextEdit

CACHE_DIR_ENV = "TEA_LSP_CACHE_DIR"
DEFAULT_CACHE_DIR = ".tea-lsp-cache"
# Environment switches that change what the checker reports.
_ENV_KEYS = ("TEA_LSP_TEST_ACTIONS",)
_FORMAT = 1  # bump when the entry layout changes
_KEEP_OTHERS = 3  # fingerprint folders of other installations kept
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by tea-lsp.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def _stat_parts(paths: Iterable[str]) -> Iterable[str]:
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            yield f"{p}:-"
        else:
            yield f"{p}:{st.st_size}:{st.st_mtime_ns}"


def _package_files() -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: list[str] = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        out.extend(os.path.join(base, f) for f in sorted(files) if f.endswith((".py", ".json")))
    return out


def fingerprint() -> str:
    """What identifies this installation of tea-lsp and the packages it can import."""
    h = hashlib.sha256(f"{_FORMAT}\0{__version__}\0{sys.version}\0".encode())
    for part in _stat_parts(_package_files()):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    # The folders packages are installed in; not the script's folder or the current one
    # (``sys.path[0]``), which differ between ``tea-lsp`` and ``python -m tea_lsp``.
    for part in _stat_parts(p for p in sys.path[1:] if p and p != "."):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()[:16]


def _config_key(config: Config) -> str:
    """Every field of the configuration (sets sorted), so a field added later is keyed too."""
    from dataclasses import fields

    values = {}
    for f in fields(config):
        v = getattr(config, f.name)
        values[f.name] = sorted(v) if isinstance(v, frozenset) else v
    return json.dumps(values, sort_keys=True, default=repr)


def _span(s: Span) -> list[int]:
    return [s.start_line, s.start_col, s.end_line, s.end_col]


def _dump(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": d.code,
        "severity": int(d.severity),
        "message": d.message,
        "span": _span(d.span),
    }
    if d.related:
        out["related"] = [[_span(r.span), r.message] for r in d.related]
    if d.fix is not None:
        out["fix"] = [d.fix.title, [[_span(e.span), e.new_text] for e in d.fix.edits]]
    if d.source != "tea-lsp":
        out["source"] = d.source
    return out


def _load(raw: dict[str, Any]) -> Diagnostic:
    fix = None
    if "fix" in raw:
        title, edits = raw["fix"]
        fix = Fix(title, tuple(TextEdit(Span(*s), t) for s, t in edits))
    return Diagnostic(
        raw["code"],
        Severity(raw["severity"]),
        raw["message"],
        Span(*raw["span"]),
        tuple(Related(Span(*s), m) for s, m in raw.get("related", ())),
        fix,
        raw.get("source", "tea-lsp"),
    )


def is_cache_folder(folder: Path) -> bool:
    """Whether ``folder`` is a cache this module made (its ``CACHEDIR.TAG`` is ours)."""
    try:
        return (folder / "CACHEDIR.TAG").read_text(encoding="utf-8") == _CACHEDIR_TAG
    except (OSError, ValueError):
        return False


def plugins_present() -> bool:
    from tea_lsp.catalog.plugins import ENTRY_POINT_GROUP, _may_declare

    return _may_declare(ENTRY_POINT_GROUP)


class ResultCache:
    """Results of ``check`` by file text, path and configuration (see the module text)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dir: Path | None = None
        self._ready = False

    @classmethod
    def open(cls, cache_dir: str | None) -> ResultCache | None:
        """The cache at ``cache_dir`` (default: ``$TEA_LSP_CACHE_DIR`` or ``.tea-lsp-cache``
        in the current folder); ``None`` when plugins make results uncacheable."""
        if plugins_present():
            return None
        where = cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
        cache = cls(Path(where))
        cache.folder  # noqa: B018 - the fingerprint, once: worker processes receive it
        return cache

    @property
    def folder(self) -> Path:
        if self._dir is None:
            self._dir = self.root / fingerprint()
        return self._dir

    def key(self, path: str, text: str, config: Config) -> str:
        h = hashlib.sha256()
        env = "\0".join(f"{k}={os.environ.get(k, '')}" for k in _ENV_KEYS)
        for part in (path, _config_key(config), env, text):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0\1")
        return h.hexdigest()

    def get(self, key: str) -> list[Diagnostic] | bool:
        """The cached diagnostics; ``True`` for a cached "not a workflow"; ``False`` for a
        miss (also for an unreadable or damaged entry)."""
        try:
            with open(self.folder / f"{key}.json", encoding="utf-8") as f:
                raw = json.load(f)
            if raw is None:
                return True
            return [_load(d) for d in raw]
        except (OSError, ValueError, TypeError, KeyError):
            return False

    def put(self, key: str, diagnostics: list[Diagnostic] | None) -> None:
        """Store a result (``None``: not a workflow). Never raises."""
        try:
            self._prepare()
            target = self.folder / f"{key}.json"
            tmp = target.with_name(f"{key}.{os.getpid()}.tmp")
            data = None if diagnostics is None else [_dump(d) for d in diagnostics]
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, separators=(",", ":"))
            os.replace(tmp, target)
        except OSError:
            pass

    def _prepare(self) -> None:
        if self._ready:
            return
        self._ready = True
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in (
            (".gitignore", "# made by tea-lsp\n*\n"),
            ("CACHEDIR.TAG", _CACHEDIR_TAG),
        ):
            marker = self.root / name
            if not marker.exists():
                marker.write_text(text, encoding="utf-8")
        if not self.folder.is_dir():
            self.folder.mkdir(exist_ok=True)
            self._prune()

    def _prune(self) -> None:
        """Keep the results of the few installations used last (a project may be checked by
        an editable install and a pipx one in turn); remove the others'."""
        import shutil

        others = [
            d for d in self.root.iterdir() if d.is_dir() and len(d.name) == 16 and d != self.folder
        ]
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[_KEEP_OTHERS:]:
            shutil.rmtree(old, ignore_errors=True)

"""The server's settings (section ``tea``), read leniently.

Settings come from ``initializationOptions`` and from ``workspace/configuration``. Both the
nested form (``{"lua": {"timeout": 5}}``) and the dotted form (``{"lua.timeout": 5}``) are
accepted, wrapped in ``{"tea": ...}`` or not. An invalid value never stops the server: the
default is used and a warning says which value was rejected and why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tea_lsp.config import DEFAULT_LANGUAGES, ConfigError, normalize_codes
from tea_lsp.langs.lua import parse_memory
from tea_lsp.util import did_you_mean

DEFAULT_FILES = ("**/*.tea.yaml", "**/*.tea.yml")
STRATEGIES = ("process", "thread", "dask")

# Keys read by editor extensions themselves, not by the server: accepted silently.
_CLIENT_ONLY = ("trace", "server")
_KNOWN = (
    "files",
    "lua.timeout",
    "lua.maxMemory",
    "run.maxParallelBranches",
    "run.strategy",
    "select",
    "ignore",
    "defaultLanguage",
)


@dataclass(frozen=True, slots=True)
class Settings:
    files: tuple[str, ...] = DEFAULT_FILES
    lua_timeout: float = 30.0  # seconds per Lua VM
    lua_max_memory: int = 64 * 1024**2  # bytes per Lua VM
    max_parallel_branches: int | None = None  # None: the number of CPUs
    strategy: str = "process"
    select: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    default_language: str | None = None  # None: the configuration file's, else "auto"


def parse_size(value: object) -> int | None:
    """``64MB``, ``512KiB``, ``1g`` or a number of bytes → bytes; ``None`` when invalid."""
    if isinstance(value, float) and math.isfinite(value) and value >= 1:
        value = int(value)
    if not isinstance(value, int | str):
        return None
    try:
        return parse_memory(value)
    except ValueError:
        return None


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in ("files", "select", "ignore"):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _show(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_settings(raw: object) -> tuple[Settings, list[str]]:
    """Settings from a raw JSON value, and one warning per rejected value."""
    warnings: list[str] = []
    if raw is None:
        return Settings(), warnings
    if not isinstance(raw, Mapping):
        warnings.append(f"settings 'tea' must be an object, got {_show(raw)}; using defaults")
        return Settings(), warnings
    section: Mapping[str, Any] = raw
    inner = raw.get("tea")
    if isinstance(inner, Mapping):
        section = inner
    flat = _flatten(section)
    d = Settings()
    values: dict[str, Any] = {}

    def reject(key: str, value: object, expected: str, default: object) -> None:
        warnings.append(
            f"invalid setting 'tea.{key}': expected {expected}, got {_show(value)}; "
            f"using the default ({default})"
        )

    for key, value in flat.items():
        if key.split(".")[0] in _CLIENT_ONLY or (key not in _KNOWN and value is None):
            continue
        if key == "files":
            if value is None:
                continue
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                reject(key, value, "a list of glob patterns", ", ".join(d.files))
                continue
            values["files"] = tuple(v.strip() for v in value)
        elif key == "lua.timeout":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value <= 0:
                reject(key, value, "a number of seconds greater than 0", d.lua_timeout)
                continue
            values["lua_timeout"] = float(value)
        elif key == "lua.maxMemory":
            size = parse_size(value)
            if size is None:
                reject(key, value, "a size such as '64MB'", "64MB")
                continue
            values["lua_max_memory"] = size
        elif key == "run.maxParallelBranches":
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                reject(key, value, "an integer of at least 1", "the number of CPUs")
                continue
            values["max_parallel_branches"] = value
        elif key == "run.strategy":
            if value not in STRATEGIES:
                *head, last = (f"'{s}'" for s in STRATEGIES)
                expected = f"{', '.join(head)} or {last}"
                reject(key, value, expected, f"'{d.strategy}'")
                continue
            values["strategy"] = value
        elif key == "defaultLanguage":
            if value is None:
                continue
            if value not in DEFAULT_LANGUAGES:
                reject(key, value, "'auto', 'python' or 'lua'", "'auto'")
                continue
            values["default_language"] = value
        elif key in ("select", "ignore"):
            if value is None:
                continue
            try:
                if not isinstance(value, list):
                    raise ConfigError("not a list")
                values[key] = normalize_codes([str(v) for v in value])
            except ConfigError:
                reject(key, value, "a list of codes such as 'TEA2' or 'TEA301'", "none")
        else:
            hint = did_you_mean(key, _KNOWN)
            warnings.append(f"unknown setting 'tea.{key}'{hint}; it is ignored")
    return Settings(**values), warnings

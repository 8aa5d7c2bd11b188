"""Checker configuration: code selection and severity thresholds.

Read from ``[tool.tea-lsp]`` in ``pyproject.toml`` by the CLI, from settings by the server.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tea_lsp import codes


class ConfigError(ValueError):
    """A configuration value is invalid (reported as a usage error, never a traceback)."""


def _matches(code: str, patterns: frozenset[str]) -> bool:
    """``TEA3`` selects a family prefix, ``TEA301`` one code, ``lua-syntax`` a slug."""
    slug = codes.REGISTRY[code].slug if code in codes.REGISTRY else ""
    return any(code.startswith(p) or slug == p.lower() for p in patterns)


@dataclass(frozen=True, slots=True)
class Config:
    select: frozenset[str] = field(default_factory=frozenset)  # empty: everything
    ignore: frozenset[str] = field(default_factory=frozenset)
    max_snippet_bytes: int = 1_000_000
    # How unmarked code (no ``language:`` / ``run: {type: ...}``) is read: "auto" decides per
    # snippet (Lua if it compiles as Lua, else Python if it parses as Python), "python" follows
    # TEA's Python engine, "lua" follows TEA's Rust engine.
    default_language: str = "auto"

    def enabled(self, code: str) -> bool:
        if code == "TEA900":
            return True
        if self.select and not _matches(code, self.select):
            return False
        return not _matches(code, self.ignore)

    def with_options(self, **changes: Any) -> Config:
        return replace(self, **changes)


def normalize_codes(values: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for raw in values:
        for part in str(raw).split(","):
            p = part.strip()
            if not p:
                continue
            up = p.upper()
            if up.startswith("TEA") and (up in codes.REGISTRY or up[3:].isdigit()):
                out.add(up)
            elif codes.lookup(p) is not None:
                out.add(p.lower())
            else:
                raise ConfigError(f"unknown code '{p}'")
    return frozenset(out)


def find_pyproject(start: Path) -> Path | None:
    cur = start.resolve()
    if cur.is_file():
        cur = cur.parent
    for d in (cur, *cur.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_pyproject(path: Path) -> dict[str, Any]:
    """The ``[tool.tea-lsp]`` table of a ``pyproject.toml`` (empty when absent)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    table = data.get("tool", {}).get("tea-lsp", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.tea-lsp] must be a table")
    return table


def config_from_table(table: dict[str, Any], base: Config | None = None) -> Config:
    cfg = base or Config()
    for key in ("select", "ignore"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[tool.tea-lsp] '{key}' must be a list of codes")
            chosen = normalize_codes(value)
            cfg = replace(cfg, select=chosen) if key == "select" else replace(cfg, ignore=chosen)
    return cfg

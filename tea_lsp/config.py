"""Checker configuration: code selection, severity threshold, file selection.

Configuration files, found from each checked file's directory upward (the nearest wins):
``tea-lsp.toml`` (top-level keys) or ``pyproject.toml`` with a ``[tool.tea-lsp]`` table (a
``pyproject.toml`` without one is passed over). Every key is validated: an unknown key, a value
of the wrong type or an unknown code is a :class:`ConfigError` naming the file and line.
The language server reads the same files, then its ``tea.*`` settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tea_lsp import codes
from tea_lsp.util import did_you_mean, show_value

DEFAULT_LANGUAGES = ("auto", "python", "lua")
SEVERITIES = ("error", "warning", "info", "hint")
CONFIG_FILES = ("tea-lsp.toml", "pyproject.toml")
# Directories never walked into (``exclude`` replaces this list, ``extend-exclude`` adds to it).
DEFAULT_EXCLUDE = (
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".tox",
    ".mypy_cache",
)
KEYS = (
    "select",
    "extend-select",
    "ignore",
    "fail-on",
    "exclude",
    "extend-exclude",
    "per-file-ignores",
    "default-language",
    "respect-gitignore",
)


class ConfigError(ValueError):
    """A configuration value is invalid (reported as a usage error, never a traceback)."""


def _matches(code: str, patterns: frozenset[str]) -> bool:
    """``TEA`` selects everything, ``TEA3`` a family prefix, ``TEA301`` one code, a slug."""
    slug = codes.REGISTRY[code].slug if code in codes.REGISTRY else ""
    return any(code.startswith(p) or slug == p.lower() for p in patterns)


@dataclass(frozen=True, slots=True)
class Config:
    select: frozenset[str] = field(default_factory=frozenset)  # empty: everything
    ignore: frozenset[str] = field(default_factory=frozenset)
    extend_select: frozenset[str] = field(default_factory=frozenset)
    max_snippet_bytes: int = 1_000_000
    # How unmarked code (no ``language:`` / ``run: {type: ...}``) is read: "auto" decides per
    # snippet (Lua if it compiles as Lua, else Python if it parses as Python), "python" follows
    # TEA's Python engine, "lua" follows TEA's Rust engine.
    default_language: str = "auto"

    def enabled(self, code: str) -> bool:
        if code == "TEA900":
            return True
        if (
            self.select
            and not _matches(code, self.select)
            and not _matches(code, self.extend_select)
        ):
            return False
        return not _matches(code, self.ignore)

    def with_options(self, **changes: Any) -> Config:
        return replace(self, **changes)


def _selector_names() -> list[str]:
    families = {c.code[:4] for c in codes.REGISTRY.values()}
    return ["TEA", *sorted(families), *codes.REGISTRY, *codes.BY_SLUG]


def normalize_codes(
    values: list[str] | tuple[str, ...] | frozenset[str], where: str = ""
) -> frozenset[str]:
    """Codes (``TEA301``), prefixes (``TEA3``, ``TEA`` for all) or slugs, validated.

    ``where`` (``--select``, ``pyproject.toml:4``) prefixes the error message.
    """
    out: set[str] = set()
    for raw in values:
        for part in str(raw).split(","):
            p = part.strip()
            if not p:
                continue
            up = p.upper()
            if up.startswith("TEA") and (up[3:].isdigit() or up == "TEA"):
                if any(code.startswith(up) for code in codes.REGISTRY):
                    out.add(up)
                    continue
            elif codes.lookup(p) is not None:
                out.add(p.lower())
                continue
            prefix = f"{where}: " if where else ""
            hint = did_you_mean(up if up.startswith("TEA") else p, _selector_names())
            raise ConfigError(f"{prefix}unknown code or prefix '{p}'{hint}")
    return frozenset(out)


# ---- configuration files


@dataclass(frozen=True, slots=True)
class FileConfig:
    """One configuration file's settings (or the defaults, ``path=None``)."""

    path: Path | None
    root: Path  # directory that relative patterns are resolved against
    config: Config = field(default_factory=Config)
    fail_on: str | None = None
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    respect_gitignore: bool = True

    def config_for(self, path: Path) -> Config:
        """The checker configuration of one file (``per-file-ignores`` applied)."""
        if not self.per_file_ignores:
            return self.config
        rel = _relative(path, self.root)
        if rel is None:
            return self.config
        extra: set[str] = set()
        for pattern, ignored in self.per_file_ignores:
            if bool(_spec([pattern]).match_file(rel)):
                extra |= ignored
        if not extra:
            return self.config
        return self.config.with_options(ignore=self.config.ignore | extra)

    def excluded(self, path: Path, is_dir: bool) -> bool:
        rel = _relative(path, self.root)
        if rel is None:
            return path.name in self.exclude
        return bool(_spec(self.exclude).match_file(rel + ("/" if is_dir else "")))


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


_SPECS: dict[tuple[str, ...], Any] = {}


def _spec(patterns: tuple[str, ...] | list[str]) -> Any:
    """A gitignore-style matcher (``pathspec``), cached per pattern list."""
    key = tuple(patterns)
    spec = _SPECS.get(key)
    if spec is None:
        import pathspec

        spec = _SPECS[key] = pathspec.GitIgnoreSpec.from_lines(key)
    return spec


def line_of(text: str, key: str, table: str | None) -> int:
    """1-based line where ``key`` is set in ``table`` (``None``: top level), best effort."""
    lines = text.splitlines()
    start = 0
    if table is not None:
        header = re.compile(r"^\s*\[\s*tool\s*\.\s*[\"']?tea-lsp[\"']?\s*\]")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
    assign = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for i in range(start, len(lines)):
        if i > start and lines[i].lstrip().startswith("[") and table is None:
            break
        if assign.match(lines[i]):
            return i + 1
    return start + 1


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_config_table(
    table: dict[str, Any], path: Path | None = None, text: str = "", pyproject: bool = False
) -> FileConfig:
    """Validate one configuration table; errors name the file and line."""
    name = display_path(path) if path is not None else "configuration"
    section = "[tool.tea-lsp]" if pyproject else ""

    def where(key: str) -> str:
        if path is None:
            return name
        return f"{name}:{line_of(text, key, 'tool' if pyproject else None)}"

    def fail(key: str, expected: str) -> ConfigError:
        what = f"'{key}'" + (f" in {section}" if section else "")
        got = show_value(table[key])
        return ConfigError(f"{where(key)}: {what} must be {expected}, got {got}")

    for key in table:
        if key not in KEYS:
            dashed = key.replace("_", "-")
            hint = f"; did you mean '{dashed}'?" if dashed in KEYS else ""
            hint = (
                hint
                or did_you_mean(key, KEYS)
                or ("; did you mean 'select'?" if key == "tool" else "")
            )
            if key == "tool" and not pyproject:
                hint = "; in tea-lsp.toml the keys are written at the top level"
            in_section = f" in {section}" if section else ""
            raise ConfigError(f"{where(key)}: unknown key '{key}'{in_section}{hint}")
    root = path.parent if path is not None else Path.cwd()
    cfg = Config()
    changes: dict[str, Any] = {}
    for key, attr in (("select", "select"), ("ignore", "ignore"), ("extend-select", "")):
        if key in table:
            if not _is_strings(table[key]):
                raise fail(key, 'a list of codes, e.g. ["TEA3", "TEA201"]')
            chosen = normalize_codes(table[key], where(key))
            changes[attr or "extend_select"] = chosen
    if "default-language" in table:
        value = table["default-language"]
        if value not in DEFAULT_LANGUAGES:
            raise fail("default-language", "one of 'auto', 'python', 'lua'")
        changes["default_language"] = value
    cfg = replace(cfg, **changes)
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise fail("fail-on", "one of 'error', 'warning', 'info', 'hint'")
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    if "exclude" in table:
        if not _is_strings(table["exclude"]):
            raise fail("exclude", "a list of gitignore-style patterns")
        exclude = tuple(table["exclude"])
    if "extend-exclude" in table:
        if not _is_strings(table["extend-exclude"]):
            raise fail("extend-exclude", "a list of gitignore-style patterns")
        exclude = (*exclude, *table["extend-exclude"])
    for key in ("exclude", "extend-exclude"):
        for pattern in table.get(key, ()):
            try:
                _spec([pattern])
            except Exception as exc:  # pathspec rejects a malformed pattern
                raise ConfigError(
                    f"{where(key)}: invalid pattern '{pattern}' in '{key}'; "
                    "expected a gitignore-style pattern"
                ) from exc
    per_file: list[tuple[str, frozenset[str]]] = []
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise fail("per-file-ignores", "a table of pattern = [codes]")
        for pattern, listed in value.items():
            if not _is_strings(listed):
                raise fail("per-file-ignores", f"a table of pattern = [codes] ('{pattern}')")
            try:
                _spec([pattern])
            except Exception as exc:
                raise ConfigError(
                    f"{where('per-file-ignores')}: invalid pattern '{pattern}' in "
                    "'per-file-ignores'; expected a gitignore-style pattern"
                ) from exc
            per_file.append((pattern, normalize_codes(listed, where("per-file-ignores"))))
    gitignore = table.get("respect-gitignore", True)
    if not isinstance(gitignore, bool):
        raise fail("respect-gitignore", "true or false")
    return FileConfig(
        path=path,
        root=root,
        config=cfg,
        fail_on=fail_on,
        exclude=exclude,
        per_file_ignores=tuple(per_file),
        respect_gitignore=gitignore,
    )


def read_config_file(path: Path) -> FileConfig | None:
    """A ``tea-lsp.toml`` or ``pyproject.toml`` (``None``: a pyproject without our table)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display_path(path)}: cannot read configuration: {exc}") from exc
    if path.name == "pyproject.toml" and "tea-lsp" not in text:
        return None  # no table of ours, whatever else it holds (and no TOML parser loaded)
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display_path(path)}: invalid TOML: {exc}") from exc
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "tea-lsp" not in tool:
            return None
        table = tool["tea-lsp"]
        if not isinstance(table, dict):
            line = line_of(text, "tea-lsp", None)
            raise ConfigError(f"{display_path(path)}:{line}: [tool.tea-lsp] must be a table")
        return parse_config_table(table, path, text, pyproject=True)
    return parse_config_table(data, path, text, pyproject=False)


def find_config_file(start: Path) -> Path | None:
    """The nearest ``tea-lsp.toml`` or ``pyproject.toml`` with ``[tool.tea-lsp]``."""
    cur = start.resolve()
    if cur.is_file():
        cur = cur.parent
    for d in (cur, *cur.parents):
        own = d / "tea-lsp.toml"
        if own.is_file():
            return own
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                if "tea-lsp" in py.read_text(encoding="utf-8", errors="replace"):
                    return py
            except OSError:
                continue
    return None


class ConfigFinder:
    """Per-directory discovery with a cache (one lookup per directory)."""

    def __init__(self, fixed: Path | None = None, disabled: bool = False) -> None:
        self.fixed = fixed
        self.disabled = disabled
        self._dirs: dict[Path, FileConfig] = {}
        self._files: dict[Path, FileConfig] = {}
        self._default = FileConfig(path=None, root=Path.cwd())

    def _load(self, path: Path | None) -> FileConfig:
        if path is None:
            return self._default
        key = path.resolve()
        got = self._files.get(key)
        if got is None:
            got = read_config_file(path) or self._default
            self._files[key] = got
        return got

    def for_dir(self, directory: Path) -> FileConfig:
        if self.disabled:
            return self._default
        if self.fixed is not None:
            return self._load(self.fixed)
        d = directory.resolve()
        got = self._dirs.get(d)
        if got is None:
            got = self._dirs[d] = self._load(find_config_file(d))
        return got

    def for_file(self, path: Path) -> FileConfig:
        return self.for_dir(path.parent if str(path.parent) else Path("."))


def discover(path: Path) -> Config:
    """The checker configuration of one file from the configuration files around it."""
    found = find_config_file(path.parent)
    if found is None:
        return Config()
    file_config = read_config_file(found)
    return file_config.config_for(path) if file_config is not None else Config()

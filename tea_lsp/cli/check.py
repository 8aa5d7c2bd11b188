"""``tea-lsp check``: collect files, analyse them (in parallel), report, pick the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tea_lsp.analysis import analyze, is_workflow_text
from tea_lsp.cli.render import REPORTERS, FileResult
from tea_lsp.config import (
    Config,
    ConfigError,
    config_from_table,
    find_pyproject,
    load_pyproject,
    normalize_codes,
)
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.safeio import NotRegularFile, read_bytes_limited
from tea_lsp.syntax.text import LineIndex

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}
_PARALLEL_MIN_FILES = 16


class UsageError(Exception):
    pass


def add_check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="check workflow files",
        description="Check TEA workflow files: schema, graph, embedded Lua and templates.",
    )
    p.add_argument("paths", nargs="*", default=["."], help="files, directories, or '-' for stdin")
    p.add_argument("--format", choices=sorted(REPORTERS), default="text", help="output format")
    p.add_argument("--stdin-filename", help="path to report for text read from stdin")
    p.add_argument("--select", action="append", default=[], help="only these codes (or prefixes)")
    p.add_argument("--ignore", action="append", default=[], help="skip these codes (or prefixes)")
    p.add_argument(
        "--fail-on",
        choices=["error", "warning", "info", "hint"],
        default=None,
        help="lowest severity that makes the exit code 1 (default: warning)",
    )
    p.add_argument("--config", type=Path, help="pyproject.toml to read [tool.tea-lsp] from")
    p.add_argument("--no-config", action="store_true", help="ignore pyproject.toml")
    p.add_argument(
        "--workflows-only",
        action="store_true",
        help="skip named files without a top-level 'nodes' key (for pre-commit's YAML file lists)",
    )
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (0: one per core)")
    p.set_defaults(func=check_command)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def collect(paths: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """Yield ``(path, explicit)``; files under directories are filtered to workflows later."""
    for raw in paths:
        if raw == "-":
            yield raw, True
            continue
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for f in sorted(files):
                    fp = Path(root) / f
                    if _is_yaml(fp):
                        yield str(fp), False
        elif p.exists():
            yield raw, True
        else:
            raise UsageError(f"{raw}: no such file or directory")


def _decode(data: bytes) -> tuple[str | None, Diagnostic | None]:
    nul = data.find(b"\x00", 0, 8192)
    if nul >= 0:
        line, col = LineIndex(data[:nul].decode("utf-8", errors="replace")).end()
        return None, Diagnostic(
            "TEA003",
            Severity.ERROR,
            "binary file (NUL byte); a workflow must be UTF-8 YAML text",
            Span(line, col, line, col + 1),
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8", errors="replace")
        lines = LineIndex(prefix)
        line, col = lines.end()
        return None, Diagnostic(
            "TEA003",
            Severity.ERROR,
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            Span(line, col, line, col + 1),
        )


def check_one(
    path: str, explicit: bool, config: Config, text: str | None = None
) -> FileResult | None:
    """Analyse one file; ``None`` for a non-workflow YAML file found in a directory."""
    if text is None:
        try:
            data = read_bytes_limited(path)
        except OSError as exc:
            if isinstance(exc, NotRegularFile) and not explicit:
                return None  # a FIFO, device or socket found in a directory: skipped
            reason = exc.strerror or str(exc)
            diag = Diagnostic(
                "TEA003", Severity.ERROR, f"cannot read file: {reason.lower()}", Span(0, 0, 0, 0)
            )
            return FileResult(path, [diag], None)
        decoded, problem = _decode(data)
        if problem is not None:
            return FileResult(path, [problem], None) if explicit or b"nodes" in data else None
        assert decoded is not None
        text = decoded
    if not explicit and not is_workflow_text(text):
        return None
    try:
        analysis = analyze(text, path, config)
    except Exception as exc:  # pragma: no cover - analyze() never raises on user input
        diag = Diagnostic(
            "TEA900",
            Severity.ERROR,
            f"internal error: {type(exc).__name__}: {exc}",
            Span(0, 0, 0, 0),
        )
        return FileResult(path, [diag], None)
    return FileResult(path, analysis.diagnostics, analysis.lines)


def _check_job(job: tuple[str, bool, Config]) -> FileResult | None:
    return check_one(*job)


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config()
    if not args.no_config:
        pyproject = args.config or find_pyproject(Path.cwd())
        if args.config is not None and not args.config.is_file():
            raise UsageError(f"{args.config}: no such file")
        if pyproject is not None:
            cfg = config_from_table(load_pyproject(pyproject), cfg)
    if args.select:
        cfg = cfg.with_options(select=normalize_codes(args.select))
    if args.ignore:
        cfg = cfg.with_options(ignore=cfg.ignore | normalize_codes(args.ignore))
    return cfg


def run_checks(jobs: list[tuple[str, bool]], config: Config, workers: int) -> list[FileResult]:
    files = [j for j in jobs if j[0] != "-"]
    out: list[FileResult | None]
    if workers > 1 and len(files) >= _PARALLEL_MIN_FILES:
        ctx = get_context("fork") if sys.platform.startswith("linux") else get_context()
        chunks = max(1, len(files) // (workers * 4))
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            out = list(pool.map(_check_job, [(p, e, config) for p, e in files], chunksize=chunks))
    else:
        out = [check_one(p, e, config) for p, e in files]
    return [r for r in out if r is not None]


def check_command(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
        jobs = [(p, e and not args.workflows_only) for p, e in collect(args.paths)]
    except (UsageError, ConfigError) as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fail_on = Severity.parse(args.fail_on or "warning")
    workers = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    results: list[FileResult] = []
    if any(p == "-" for p, _ in jobs):
        data = sys.stdin.buffer.read()
        name = args.stdin_filename or "<stdin>"
        text, problem = _decode(data)
        if problem is not None:
            results.append(FileResult(name, [problem], None))
        else:
            r = check_one(name, True, config, text)
            if r is not None:
                results.append(r)
    results.extend(run_checks(jobs, config, workers))
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    if args.color == "auto" and os.environ.get("NO_COLOR"):
        colour = False
    REPORTERS[args.format](results, sys.stdout, colour)
    diags = [d for r in results for d in r.diagnostics]
    if any(d.code == "TEA900" for d in diags):
        return EXIT_INTERNAL
    if any(d.severity <= fail_on for d in diags):
        return EXIT_PROBLEMS
    return EXIT_OK

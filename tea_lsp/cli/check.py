"""``tea-lsp check``: collect files, analyse them (in parallel), report, pick the exit code.

Exit codes: 0 clean (also when no workflow was found: a warning says so on stderr, as ruff
does), 1 problems at or above ``fail-on`` (or, with ``--diff``, files that would change),
2 usage or configuration error, 3 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tea_lsp.cli.render import REPORTERS, FileResult
from tea_lsp.config import (
    DEFAULT_LANGUAGES,
    SEVERITIES,
    Config,
    ConfigError,
    ConfigFinder,
    FileConfig,
    normalize_codes,
)
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.safeio import NotRegularFile, read_bytes_limited
from tea_lsp.syntax.text import LineIndex

if TYPE_CHECKING:
    from tea_lsp.analysis import Analysis
    from tea_lsp.cli.cache import ResultCache

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_PARALLEL_MIN_FILES = 16


class UsageError(Exception):
    pass


def analyze(text: str, path: str, config: Config) -> Analysis:
    """``tea_lsp.analysis.analyze``, imported on first use (``--version`` and ``explain`` stay
    light: the checks import Lua, Jinja and the schema validator)."""
    from tea_lsp.analysis import analyze as _analyze

    return _analyze(text, path, config)


def is_workflow_text(text: str) -> bool:
    from tea_lsp.analysis import is_workflow_text as _is_workflow_text

    return _is_workflow_text(text)


def add_check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="check workflow files",
        description="Check TEA workflow files: schema, graph, embedded Lua and templates.",
    )
    p.add_argument("paths", nargs="*", default=["."], help="files, directories, or '-' for stdin")
    p.add_argument("--format", choices=sorted(REPORTERS), default="text", help="output format")
    p.add_argument("--stdin-filename", help="path to report for text read from stdin")
    p.add_argument(
        "--select", action="append", default=[], help="only these codes, prefixes or slugs"
    )
    p.add_argument(
        "--extend-select", action="append", default=[], help="add codes to the selection"
    )
    p.add_argument("--ignore", action="append", default=[], help="skip these codes (or prefixes)")
    p.add_argument(
        "--fail-on",
        choices=list(SEVERITIES),
        default=None,
        help="lowest severity that makes the exit code 1 (default: warning)",
    )
    p.add_argument(
        "--default-language",
        choices=list(DEFAULT_LANGUAGES),
        default=None,
        help="how code without 'language:' is read (default: auto)",
    )
    p.add_argument(
        "--config", type=Path, help="tea-lsp.toml or pyproject.toml to use for every file"
    )
    p.add_argument(
        "--no-config", action="store_true", help="ignore tea-lsp.toml and pyproject.toml files"
    )
    p.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply 'exclude' to files named on the command line too (pre-commit)",
    )
    p.add_argument(
        "--workflows-only",
        action="store_true",
        help="skip named files without a top-level 'nodes' key (for pre-commit's YAML file lists)",
    )
    p.add_argument("--fix", action="store_true", help="apply the safe fixes and write the files")
    p.add_argument(
        "--diff", action="store_true", help="print the safe fixes as a diff; change nothing"
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="analyse every file, reading and writing no cached result",
    )
    p.add_argument(
        "--cache-dir",
        help="where results are cached (default: $TEA_LSP_CACHE_DIR or ./.tea-lsp-cache)",
    )
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (0: one per core)")
    p.set_defaults(func=check_command)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


class _GitIgnore:
    """``.gitignore`` files of a directory and its parents up to the repository root."""

    def __init__(self) -> None:
        self._specs: dict[Path, Any] = {}

    def _spec(self, directory: Path) -> Any:
        if directory not in self._specs:
            spec = None
            f = directory / ".gitignore"
            if f.is_file():
                import pathspec

                try:
                    lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
                    spec = pathspec.GitIgnoreSpec.from_lines(lines)
                except OSError:
                    spec = None
            self._specs[directory] = spec
        return self._specs[directory]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        path = path.resolve()
        for d in path.parents:
            spec = self._spec(d)
            if spec is not None:
                rel = path.relative_to(d).as_posix() + ("/" if is_dir else "")
                if spec.match_file(rel):
                    return True
            if (d / ".git").exists():
                break
        return False


def collect(
    paths: Sequence[str], finder: ConfigFinder | None = None, force_exclude: bool = False
) -> Iterator[tuple[str, bool]]:
    """Yield ``(path, explicit)``; files under directories are filtered to workflows later.

    Directory walks skip ``exclude`` patterns (of the configuration that applies there),
    hidden directories and what ``.gitignore`` files ignore.
    """
    finder = finder or ConfigFinder(disabled=True)
    git = _GitIgnore()

    def skipped(p: Path, is_dir: bool) -> bool:
        fc = finder.for_dir(p.parent if str(p.parent) else Path("."))
        if fc.excluded(p, is_dir):
            return True
        return fc.respect_gitignore and git.ignored(p, is_dir)

    for raw in paths:
        if raw == "-":
            yield raw, True
            continue
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                base = Path(root)
                dirs[:] = sorted(
                    d for d in dirs if not d.startswith(".") and not skipped(base / d, is_dir=True)
                )
                for f in sorted(files):
                    fp = base / f
                    if _is_yaml(fp) and not skipped(fp, is_dir=False):
                        yield str(fp), False
        elif p.exists():
            if force_exclude and skipped(p, is_dir=False):
                continue
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
    path: str,
    explicit: bool,
    config: Config,
    text: str | None = None,
    cache: ResultCache | None = None,
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
    key = ""
    if cache is not None:
        key = cache.key(f"{int(explicit)}{path}", text, config)
        hit = cache.get(key)
        if isinstance(hit, list):
            return FileResult(path, hit, LineIndex(text))
        if hit:
            return None  # remembered as not a workflow
    if not explicit and not is_workflow_text(text):
        if cache is not None:
            cache.put(key, None)
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
    if cache is not None:
        cache.put(key, analysis.diagnostics)
    return FileResult(path, analysis.diagnostics, analysis.lines)


def _check_job(job: tuple[str, bool, Config, ResultCache | None]) -> FileResult | None:
    path, explicit, config, cache = job
    return check_one(path, explicit, config, cache=cache)


class _Overrides:
    """Command-line options applied over each file's configuration."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.select = normalize_codes(args.select, "--select") if args.select else None
        self.extend_select = (
            normalize_codes(args.extend_select, "--extend-select") if args.extend_select else None
        )
        self.ignore = normalize_codes(args.ignore, "--ignore") if args.ignore else None
        self.fail_on: str | None = args.fail_on
        self.default_language: str | None = args.default_language

    def apply(self, fc: FileConfig, path: Path) -> tuple[Config, Severity]:
        cfg = fc.config_for(path)
        if self.select is not None:
            cfg = cfg.with_options(select=self.select)
        if self.extend_select is not None:
            cfg = cfg.with_options(extend_select=cfg.extend_select | self.extend_select)
        if self.ignore is not None:
            cfg = cfg.with_options(ignore=cfg.ignore | self.ignore)
        if self.default_language is not None:
            cfg = cfg.with_options(default_language=self.default_language)
        return cfg, Severity.parse(self.fail_on or fc.fail_on or "warning")


def make_finder(args: argparse.Namespace) -> ConfigFinder:
    if args.config is not None and not args.no_config:
        if not args.config.is_file():
            raise UsageError(f"{args.config}: no such file")
        finder = ConfigFinder(fixed=args.config)
        finder.for_dir(Path("."))  # validate it now: a broken file is a usage error
        return finder
    return ConfigFinder(disabled=args.no_config)


def run_checks(
    jobs: list[tuple[str, bool, Config]], workers: int, cache: ResultCache | None = None
) -> list[FileResult]:
    files = [(p, e, c, cache) for p, e, c in jobs if p != "-"]
    out: list[FileResult | None]
    if workers > 1 and len(files) >= _PARALLEL_MIN_FILES:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        ctx = get_context("fork") if sys.platform.startswith("linux") else get_context()
        chunks = max(1, len(files) // (workers * 4))
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            out = list(pool.map(_check_job, files, chunksize=chunks))
    else:
        out = [_check_job(job) for job in files]
    return [r for r in out if r is not None]


def check_command(args: argparse.Namespace) -> int:
    if args.fix and args.diff:
        print("tea-lsp: error: --fix and --diff cannot be used together", file=sys.stderr)
        return EXIT_USAGE
    if args.fix and "-" in args.paths:
        print("tea-lsp: error: --fix cannot rewrite stdin; use --diff", file=sys.stderr)
        return EXIT_USAGE
    fail_on: dict[str, Severity] = {}
    try:
        overrides = _Overrides(args)
        finder = make_finder(args)
        jobs: list[tuple[str, bool, Config]] = []
        for p, explicit in collect(args.paths, finder, args.force_exclude):
            key = (args.stdin_filename or "<stdin>") if p == "-" else p
            named = Path(key)
            where = named if p != "-" or args.stdin_filename else Path("stdin")
            cfg, fail_on[key] = overrides.apply(finder.for_file(where), named)
            jobs.append((p, explicit and not args.workflows_only, cfg))
    except (UsageError, ConfigError) as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    workers = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    cache = None
    if not args.no_cache:
        from tea_lsp.cli.cache import ResultCache

        cache = ResultCache.open(args.cache_dir)
    results: list[FileResult] = []
    stdin_text: str | None = None
    for p, _, cfg in jobs:
        if p != "-":
            continue
        data = sys.stdin.buffer.read()
        name = args.stdin_filename or "<stdin>"
        text, problem = _decode(data)
        if problem is not None:
            results.append(FileResult(name, [problem], None))
        else:
            stdin_text = text
            r = check_one(name, True, cfg, text, cache)
            if r is not None:
                results.append(r)
    results.extend(run_checks(jobs, workers, cache))
    if args.fix or args.diff:
        from tea_lsp.cli.fix import fix_results

        configs = {("<stdin>" if p == "-" else p): c for p, _, c in jobs}
        if args.stdin_filename:
            configs[args.stdin_filename] = configs.get("<stdin>", Config())
        outcome = fix_results(results, configs, write=args.fix, stdin_text=stdin_text)
        if args.diff:
            sys.stdout.write(outcome.diff)
            n, files = outcome.fixed, outcome.files
            if n:
                plural = "" if n == 1 else "s"
                in_files = f"{files} file" + ("" if files == 1 else "s")
                print(f"Would fix {n} problem{plural} in {in_files}.", file=sys.stderr)
            else:
                print("No fixes available.", file=sys.stderr)
            return EXIT_PROBLEMS if n else EXIT_OK
        results = outcome.results
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    if args.color == "auto" and os.environ.get("NO_COLOR"):
        colour = False
    if not results:
        shown = ", ".join(f"'{p}'" for p in args.paths)
        print(f"tea-lsp: warning: no workflow files found in {shown}", file=sys.stderr)
    reporter = REPORTERS[args.format]
    if args.fix and args.format == "text":
        from tea_lsp.cli.render import render_text

        render_text(results, sys.stdout, colour, fixed=outcome.fixed)
    else:
        reporter(results, sys.stdout, colour)
    code = EXIT_OK
    for r in results:
        threshold = fail_on.get(r.path, Severity.WARNING)
        for d in r.diagnostics:
            if d.code == "TEA900":
                return EXIT_INTERNAL
            if d.severity <= threshold:
                code = EXIT_PROBLEMS
    return code

"""``tea-lsp`` entry point: parse arguments, dispatch to a subcommand, map exit codes.

Start-up matters (editors and pre-commit start ``tea-lsp`` often): this module and the
argument parsers import nothing heavy. Each command imports what it needs when it runs
(``check``: the checks, Lua, Jinja, the schema validator; ``run``: the engine and rich;
``serve``: pygls). ``--version`` is answered before any parser is built.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from tea_lsp import __version__


def _explain(args: argparse.Namespace) -> int:
    from tea_lsp import codes

    if not args.code:
        for c in codes.REGISTRY.values():
            print(f"{c.code}  {c.slug:<34} {c.severity.label:<8} {c.summary}")
        return 0
    found = codes.lookup(args.code)
    if found is None:
        print(f"tea-lsp: error: unknown code '{args.code}'", file=sys.stderr)
        return 2
    print(found.explain(), end="")
    print(f"\nDocs: {found.url}\nWorkflow format: {codes.FORMAT_URL}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tea-lsp",
        description="Checker, runner and language server for TEA workflow files.",
    )
    parser.add_argument("--version", action="version", version=f"tea-lsp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from tea_lsp.cli.check import add_check_parser

    add_check_parser(sub)
    _add_commands(sub)
    p = sub.add_parser("explain", help="show the documentation of a diagnostic code")
    p.add_argument("code", nargs="?", help="TEA### code or slug; omit to list all codes")
    p.set_defaults(func=_explain)
    return parser


def _add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tea_lsp.cli.clean import add_clean_parser
    from tea_lsp.cli.graph import add_graph_parser
    from tea_lsp.cli.report import add_report_parser
    from tea_lsp.cli.run import add_run_parser
    from tea_lsp.cli.serve import add_serve_parser

    add_run_parser(sub)
    add_serve_parser(sub)
    add_graph_parser(sub)
    add_report_parser(sub)
    add_clean_parser(sub)


def main(argv: Sequence[str] | None = None) -> int:
    return _main(argv)[0]


def entry() -> NoReturn:
    """The ``tea-lsp`` console script and ``python -m tea_lsp``: ``main()``, then exit.

    After ``check``, the process leaves with ``os._exit`` once stdout and stderr are flushed,
    as mypy does: tearing down the interpreter would free every object the checked files
    left (a 5 MB workflow leaves ~1.5M, in cycles such as a node and its snippets: ~0.5 s of
    collection) only to exit. ``check`` has written its output and its cache files by then,
    and leaves no thread or child process behind. Other commands exit normally.
    """
    code, command = _main(None)
    if command == "check":
        from contextlib import suppress

        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):  # a closed pipe or stream: nothing more to say
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def _main(argv: Sequence[str] | None) -> tuple[int, str | None]:
    """The exit code and the command that ran (``None`` when none did)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:
        print(f"tea-lsp {__version__}")
        return 0, None
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0), None
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2, None
    command: str = args.command
    try:
        return int(args.func(args)), command
    except KeyboardInterrupt:
        return 130, command
    except BrokenPipeError:
        return 0, command
    except Exception as exc:  # a bug in tea-lsp: say so, exit 3, no traceback
        print(f"tea-lsp: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3, command

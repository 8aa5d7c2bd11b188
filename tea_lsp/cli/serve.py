"""``tea-lsp serve``: the language server, on stdio (default) or ``--tcp HOST:PORT``."""

from __future__ import annotations

import argparse
import sys


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="start the language server (stdio by default)",
        description="Start the tea-lsp language server. Editors start it on stdio; "
        "--tcp HOST:PORT listens on a socket, for debugging.",
    )
    p.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead")
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="what the server logs to stderr (default: WARNING)",
    )
    p.add_argument("--log-file", metavar="PATH", help="log to this file instead of stderr")
    p.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from tea_lsp.lsp.server import parse_hostport, serve

    if args.tcp:
        try:
            parse_hostport(args.tcp)
        except ValueError as exc:
            print(f"tea-lsp: error: --tcp: {exc}", file=sys.stderr)
            return 2
    from tea_lsp.engine.signals import exit_on_stop_signals

    exit_on_stop_signals()  # SIGTERM / SIGHUP: stop the run workers and remove temp folders
    return serve(tcp=args.tcp, log_level=args.log_level, log_file=args.log_file)

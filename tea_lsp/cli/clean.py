"""``tea-lsp clean``: remove the result cache of ``tea-lsp check``.

Only a folder that carries the cache's own ``CACHEDIR.TAG`` is removed, so a mistyped
``--cache-dir`` never deletes anything else. Exit codes: 0 removed (or nothing to remove),
2 the folder is not a tea-lsp cache or cannot be removed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_USAGE = 0, 2


def add_clean_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "clean",
        help="remove the result cache of 'check'",
        description="Remove the result cache that 'tea-lsp check' keeps (default: "
        "$TEA_LSP_CACHE_DIR or ./.tea-lsp-cache).",
    )
    p.add_argument("--cache-dir", help="the cache folder to remove")
    p.set_defaults(func=clean_command)


def clean_command(args: argparse.Namespace) -> int:
    import shutil

    from tea_lsp.cli.cache import CACHE_DIR_ENV, DEFAULT_CACHE_DIR, is_cache_folder

    folder = Path(args.cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)
    if not folder.exists():
        print(f"No cache at '{folder}'.")
        return EXIT_OK
    if not is_cache_folder(folder):
        print(
            f"tea-lsp: error: '{folder}' is not a tea-lsp cache (no CACHEDIR.TAG of ours); "
            "nothing removed",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        print(f"tea-lsp: error: cannot remove '{folder}': {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Removed the cache at '{folder}'.")
    return EXIT_OK

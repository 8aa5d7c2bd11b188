"""``python -m tea_lsp`` entry point."""

from tea_lsp.cli.main import entry

entry()

"""Command-line front-end: ``tea-lsp check | run | serve | graph | report | explain | clean``."""

"""Command-line front-end: ``tea-lsp check | run | serve | explain``."""

"""tea-lsp: checker, runner and language server for TEA workflow files."""

__version__ = "0.1.0"

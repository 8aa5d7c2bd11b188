"""Python node code, as TEA's Python engine runs it.

``runtime`` runs a node's code in a worker process with TEA's contract (never in the CLI's or
the language server's process). ``check`` is the static part used by the checker: it parses a
snippet the way the engine compiles it (Jinja masked, wrapped in a function when it contains
``return``) and reports syntax errors, names, state keys and returns with positions inside the
snippet; it never executes user code.
"""

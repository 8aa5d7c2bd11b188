"""``python -m tea_lsp.lsp``: start the language server (stdio, or ``--tcp HOST:PORT``)."""

from tea_lsp.lsp.server import main

raise SystemExit(main())

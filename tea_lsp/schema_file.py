"""The workflow JSON schema shipped with the package.

``schemas/workflow.schema.json`` is the one schema; ``tea_lsp/data/workflow.schema.json`` is
a symlink to it in the source tree and a plain copy inside the wheel.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://tea-lsp.dev/schemas/workflow.schema.json"
SCHEMA_PATH: Path = Path(__file__).resolve().parent / "data" / "workflow.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    """The parsed workflow schema (cached: callers must not mutate it)."""
    text = resources.files("tea_lsp.data").joinpath("workflow.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema

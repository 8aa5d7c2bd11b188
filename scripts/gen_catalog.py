"""Regenerate ``tea_lsp/catalog/actions.json`` from a TEA checkout and tea-lsp's built-ins.

Usage: ``.venv/bin/python scripts/gen_catalog.py PATH_TO_TEA_CHECKOUT [--out FILE] [--check]``

What is read from the checkout is only *names*: every action name registered by the Python
engine (``registry["name"] = ...`` under ``python/src/the_edge_agent``) and by the Rust engine
(``registry.register("name", handler)`` under ``rust/src/actions``, test modules excluded).
Argument schemas are tea-lsp's own: those of its built-in actions (from
``tea_lsp.engine.actions.builtin``) and the hand-written ones below for the most used TEA actions.
``--check`` exits 1 when the committed file differs from what would be generated.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tea_lsp.engine.actions.builtin import BUILTINS, TEST_ACTIONS  # noqa: E402

DEFAULT_OUT = ROOT / "tea_lsp" / "catalog" / "actions.json"

_PY_REGISTER = re.compile(r"""registry\[(["'])([A-Za-z0-9_.]+)\1\]\s*=(?!=)""")
_RS_REGISTER = re.compile(r"""\bregistry\s*\.\s*register\(\s*"([A-Za-z0-9_.]+)"\s*,""")


def _open(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An argument schema that also accepts arguments it does not list (TEA passes extra
    ``with:`` keys on to the action, which ignores or forwards them)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "boolean"}
_OBJ = {"type": "object"}
_LLM = {
    "model": _STR,
    "messages": {"type": "array", "items": {"type": "object"}},
    "prompt": _STR,
    "system": _STR,
    "temperature": _NUM,
    "max_tokens": _INT,
    "provider": _STR,
    "api_base": _STR,
    "deployment": _STR,
    "timeout": _NUM,
    "max_retries": _INT,
    "base_delay": _NUM,
    "max_delay": _NUM,
    "shell_provider": _STR,
    "opik_trace": _BOOL,
    "opik_project_name": _STR,
}

# Our own schemas for the TEA actions real workflows use most (``model`` of the llm actions is
# optional: ``settings.llm`` supplies defaults).
UPSTREAM_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "llm.call": ("call a language model; result: {content, usage, ...}", _open(_LLM)),
    "llm.stream": ("call a language model, streaming its answer", _open(_LLM)),
    "retry.loop": (
        "run a validation action, calling the node `correct` and retrying while it fails",
        _open(
            {
                "validate": _STR,
                "validate_args": _OBJ,
                "correct": _STR,
                "max_retries": _INT,
                "retry_delay": {"type": "number", "minimum": 0},
            },
            ["validate"],
        ),
    ),
    "graph.store_entity": (
        "store an entity in the graph memory",
        _open(
            {
                "entity_id": _STR,
                "entity_type": _STR,
                "properties": _OBJ,
                "text": _STR,
                "embed": _BOOL,
            },
            ["entity_id", "entity_type"],
        ),
    ),
    "graph.store_relation": (
        "store a relation between two entities in the graph memory",
        _open(
            {
                "from_entity": _STR,
                "to_entity": _STR,
                "relation_type": _STR,
                "properties": _OBJ,
            },
            ["from_entity", "to_entity", "relation_type"],
        ),
    ),
    "llamaextract.extract": (
        "extract structured data from a document with LlamaExtract",
        _open(
            {
                "file": _STR,
                "schema": _OBJ,
                "agent_id": _STR,
                "agent_name": _STR,
                "mode": _STR,
                "timeout": _NUM,
                "max_retries": _INT,
            },
            ["file"],
        ),
    ),
    "web.search": (
        "search the web",
        _open({"query": _STR, "num_results": _INT, "model": _STR, "timeout": _NUM}, ["query"]),
    ),
    "web.ai_scrape": (
        "scrape a page and extract what a prompt describes",
        _open(
            {
                "url": _STR,
                "prompt": _STR,
                "output_schema": _OBJ,
                "schema": _OBJ,
                "timeout": _NUM,
                "max_retries": _INT,
            },
            ["url", "prompt"],
        ),
    ),
}

# Action arguments whose value is the name of a node of the same workflow.
NODE_ARGUMENTS: dict[str, list[str]] = {"retry.loop": ["correct"]}
# Action arguments whose value is the name of another action.
ACTION_ARGUMENTS: dict[str, list[str]] = {"retry.loop": ["validate"]}


def python_names(tea: Path) -> set[str]:
    src = tea / "python" / "src" / "the_edge_agent"
    names: set[str] = set()
    for path in sorted(src.rglob("*.py")):
        names.update(m.group(2) for m in _PY_REGISTER.finditer(path.read_text("utf-8")))
    return names


def rust_names(tea: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted((tea / "rust" / "src" / "actions").rglob("*.rs")):
        text = path.read_text("utf-8").split("#[cfg(test)]", 1)[0]
        names.update(_RS_REGISTER.findall(text))
    return names


def tea_version(tea: Path) -> str:
    init = tea / "python" / "src" / "the_edge_agent" / "__init__.py"
    if init.is_file():
        m = re.search(r'(?m)^__version__\s*=\s*"([^"]+)"', init.read_text("utf-8"))
        if m:
            return m.group(1)
    try:
        out = subprocess.run(
            ["git", "-C", str(tea), "describe", "--tags", "--always"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(tea: Path) -> dict[str, Any]:
    py, rs = python_names(tea), rust_names(tea)
    if not py:
        raise SystemExit(f"no Python engine actions found under {tea}; is it a TEA checkout?")
    actions: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return actions.setdefault(name, {"engines": []})

    for spec in BUILTINS:
        e = entry(spec.name)
        e["engines"].append("tea-lsp")
        e["summary"] = spec.summary
        e["schema"] = json.loads(json.dumps(spec.schema))
    for spec in TEST_ACTIONS:
        e = entry(spec.name)
        e["engines"].append("tea-lsp")
        e["summary"] = spec.summary
        e["schema"] = json.loads(json.dumps(spec.schema))
        e["test_only"] = True
    for engine, names in (("python", py), ("rust", rs)):
        for name in names:
            entry(name)["engines"].append(engine)
    for e in actions.values():
        e["engines"] = sorted(set(e["engines"]), key=("tea-lsp", "python", "rust").index)
    for name, (summary, schema) in UPSTREAM_SCHEMAS.items():
        if name not in actions:
            raise SystemExit(f"a schema is written for '{name}', which no engine registers")
        e = actions[name]
        if "schema" not in e:  # tea-lsp's own action keeps its own schema
            e["summary"] = summary
            e["schema"] = schema
    for name, args in NODE_ARGUMENTS.items():
        if name in actions:
            actions[name]["node_arguments"] = args
    for name, args in ACTION_ARGUMENTS.items():
        if name in actions:
            actions[name]["action_arguments"] = args
    return {
        "source": f"TEA {tea_version(tea)}: action names of its Python and Rust engines",
        "generator": "scripts/gen_catalog.py",
        "actions": {name: actions[name] for name in sorted(actions)},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("tea", type=Path, help="a checkout of the TEA repository")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="fail when the file is out of date")
    args = ap.parse_args()
    data = build(args.tea)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        current = args.out.read_text("utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/gen_catalog.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    counts = {
        k: sum(k in a["engines"] for a in data["actions"].values())
        for k in ("python", "rust", "tea-lsp")
    }
    print(f"wrote {args.out}: {len(data['actions'])} actions {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

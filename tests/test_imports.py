"""The layering rules of ARCHITECTURE.md, enforced on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "tea_lsp"

# module prefix -> third-party roots it alone may import
EXCLUSIVE = {
    "lupa": ("tea_lsp.langs.lua",),
    "jinja2": ("tea_lsp.langs.jinja",),
    "pygls": ("tea_lsp.lsp",),
    "lsprotocol": ("tea_lsp.lsp",),
}
# package -> tea_lsp packages it must not import
FORBIDDEN = {
    "tea_lsp.syntax": (
        "tea_lsp.model",
        "tea_lsp.checks",
        "tea_lsp.engine",
        "tea_lsp.cli",
        "tea_lsp.lsp",
        "tea_lsp.analysis",
        "tea_lsp.langs",
    ),
    "tea_lsp.model": (
        "tea_lsp.checks",
        "tea_lsp.engine",
        "tea_lsp.cli",
        "tea_lsp.lsp",
        "tea_lsp.analysis",
        "tea_lsp.langs",
    ),
    "tea_lsp.langs": ("tea_lsp.checks", "tea_lsp.engine", "tea_lsp.cli", "tea_lsp.lsp"),
    "tea_lsp.graph": (
        "tea_lsp.checks",
        "tea_lsp.engine",
        "tea_lsp.cli",
        "tea_lsp.lsp",
        "tea_lsp.analysis",
        "tea_lsp.langs",
        "tea_lsp.report",
    ),
    "tea_lsp.report": ("tea_lsp.cli", "tea_lsp.lsp", "tea_lsp.engine"),
    "tea_lsp.catalog": (
        "tea_lsp.syntax",
        "tea_lsp.model",
        "tea_lsp.checks",
        "tea_lsp.engine",
        "tea_lsp.cli",
        "tea_lsp.lsp",
        "tea_lsp.analysis",
        "tea_lsp.langs",
    ),
    "tea_lsp.checks": ("tea_lsp.cli", "tea_lsp.lsp", "tea_lsp.engine"),
    "tea_lsp.engine": ("tea_lsp.cli", "tea_lsp.lsp"),
    "tea_lsp.analysis": ("tea_lsp.cli", "tea_lsp.lsp", "tea_lsp.engine"),
    "tea_lsp.diagnostics": ("tea_lsp.",),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_layering(path: Path) -> None:
    mod = _module_name(path)
    for imported in _imports(path):
        root = imported.split(".")[0]
        if root in EXCLUSIVE:
            allowed = EXCLUSIVE[root]
            assert any(mod == a or mod.startswith(a + ".") for a in allowed), (
                f"{mod} imports {imported}; only {allowed} may"
            )
        for pkg, banned in FORBIDDEN.items():
            if mod == pkg or mod.startswith(pkg + "."):
                for b in banned:
                    assert not (imported == b.rstrip(".") or imported.startswith(b)), (
                        f"{mod} must not import {imported}"
                    )

"""The documentation in the repository cannot drift: every schema key is in docs/format.md,
docs/rules/ is generated from the registry and current, and every link we print exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from tea_lsp import codes
from tests.conftest import ROOT

FORMAT = (ROOT / "docs" / "format.md").read_text(encoding="utf-8")


def _properties(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            found.update(schema["properties"])
        for value in schema.values():
            found |= _properties(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _properties(value)
    return found


def test_every_schema_key_is_documented_in_format_md() -> None:
    schema = json.loads((ROOT / "schemas" / "workflow.schema.json").read_text(encoding="utf-8"))
    keys = _properties(schema)
    assert len(keys) > 50
    assert sorted(k for k in keys if f"`{k}`" not in FORMAT) == []


def test_rule_pages_are_generated_and_current() -> None:
    r = subprocess.run(
        [sys.executable, "docs/gen_rules.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (r.returncode, r.stdout) == (0, "")
    pages = {p.stem for p in (ROOT / "docs" / "rules").glob("TEA*.md")}
    assert pages == set(codes.REGISTRY)


def _local(url: str) -> str:
    prefix = codes.REPOSITORY_URL + "/blob/main/"
    assert url.startswith(prefix)
    return url[len(prefix) :]


def test_links_point_at_files_that_exist() -> None:
    for info in codes.REGISTRY.values():
        assert (ROOT / _local(info.url)).is_file(), info.url
    assert (ROOT / _local(codes.FORMAT_URL)).is_file()


def test_readme_links_exist_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/format.md" in readme
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" in target:
            continue
        assert not target.startswith(".."), target
        assert (ROOT / target).exists(), target
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", FORMAT):
        assert (ROOT / "docs" / target).resolve().exists(), target

"""The workflow JSON schema: valid, documented, shipped, accepting real files, rejecting typos."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tea_lsp.schema_file import SCHEMA_ID, SCHEMA_PATH, load_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "workflow.schema.json"
OK_DIR = ROOT / "tests" / "fixtures" / "ok"
OK_FIXTURES = sorted(OK_DIR.glob("*.yaml"))


def _check_jsonschema() -> str:
    exe = Path(sys.executable).parent / "check-jsonschema"
    if exe.exists():
        return str(exe)
    found = shutil.which("check-jsonschema")
    if found is None:
        pytest.fail("check-jsonschema is not installed (pip install -e '.[test]')")
    return found


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


def _errors(doc: Any) -> list[tuple[str, str, str]]:
    """(json path, failing keyword, message) of every error, sorted."""
    return sorted((e.json_path, str(e.validator), e.message) for e in _validator().iter_errors(doc))


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the file itself


def test_schema_passes_the_metaschema_check() -> None:
    proc = subprocess.run(
        [_check_jsonschema(), "--check-metaschema", str(SCHEMA_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


def test_check_jsonschema_accepts_every_ok_fixture_with_the_schema_unchanged() -> None:
    proc = subprocess.run(
        [_check_jsonschema(), "--schemafile", str(SCHEMA_FILE), *map(str, OK_FIXTURES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


def test_check_jsonschema_reports_a_typo_with_the_schema_unchanged(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: w\nnodes:\n  - name: a\n    rnu: return {}\n", encoding="utf-8")
    proc = subprocess.run(
        [_check_jsonschema(), "--schemafile", str(SCHEMA_FILE), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "'rnu' was unexpected" in proc.stdout


def test_schema_identity() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID == "https://tea-lsp.dev/schemas/workflow.schema.json"
    assert schema["required"] == ["nodes"]
    assert schema["additionalProperties"] is False


def test_packaged_copy_equals_the_schema_file() -> None:
    packaged = resources.files("tea_lsp.data").joinpath("workflow.schema.json").read_bytes()
    assert packaged == SCHEMA_FILE.read_bytes()
    assert SCHEMA_PATH.read_bytes() == SCHEMA_FILE.read_bytes()
    assert load_schema() == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_load_schema_is_cached() -> None:
    assert load_schema() is load_schema()


def _subschemas(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object reachable from ``node`` (not descending into snippets)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("defaultSnippets", "enum", "const", "required"):
                continue
            if key in ("properties", "$defs", "patternProperties"):
                for name, sub in value.items():
                    yield from _subschemas(sub, f"{path}/{key}/{name}")
            elif isinstance(value, dict):
                yield from _subschemas(value, f"{path}/{key}")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    yield from _subschemas(item, f"{path}/{key}/{i}")


def test_every_property_and_definition_is_documented() -> None:
    undocumented: list[str] = []
    count = 0
    for path, sub in _subschemas(load_schema(), "#"):
        parts = path.split("/")
        if len(parts) >= 2 and parts[-2] in ("properties", "$defs"):
            count += 1
            for key in ("description", "markdownDescription"):
                text = sub.get(key)
                if not isinstance(text, str) or not text.strip():
                    undocumented.append(f"{path} lacks {key}")
    assert undocumented == []
    assert count > 100


def test_snippets_for_a_node_and_an_edge() -> None:
    defs = load_schema()["$defs"]
    node_labels = [s["label"] for s in defs["node"]["defaultSnippets"]]
    edge_labels = [s["label"] for s in defs["edge"]["defaultSnippets"]]
    assert node_labels == ["Lua node", "Action node", "Fan-in node"]
    assert edge_labels == ["Edge", "Parallel fan-out"]
    for snippet in (*defs["node"]["defaultSnippets"], *defs["edge"]["defaultSnippets"]):
        assert snippet["description"]
        assert isinstance(snippet["body"], dict)


def test_definitions() -> None:
    assert sorted(load_schema()["$defs"]) == [
        "actionSpec",
        "condition",
        "config",
        "edge",
        "edgeCondition",
        "goto",
        "gotoRule",
        "importSpec",
        "luaSettings",
        "memorySize",
        "node",
        "nodeList",
        "nodeName",
        "nodeRef",
        "parallelSettings",
        "positiveSeconds",
        "runSpec",
        "settings",
        "stateType",
        "stepList",
    ]


# ---------------------------------------------------------------- ok fixtures


def test_there_are_enough_ok_fixtures() -> None:
    assert len(OK_FIXTURES) >= 6


@pytest.mark.parametrize("path", OK_FIXTURES, ids=[p.name for p in OK_FIXTURES])
def test_ok_fixture_validates(path: Path) -> None:
    assert _errors(_load(path)) == []


def test_modeline_fixture_points_at_the_schema() -> None:
    prefix = "# yaml-language-server: $schema="
    modelines = [
        (p, line[len(prefix) :].strip())
        for p in OK_FIXTURES
        for line in p.read_text(encoding="utf-8").splitlines()[:1]
        if line.startswith(prefix)
    ]
    assert modelines, "no ok fixture carries a yaml-language-server modeline"
    for path, target in modelines:
        assert (path.parent / target).resolve() == SCHEMA_FILE.resolve()


# ---------------------------------------------------------------- accepted shapes

BASE: dict[str, Any] = {"name": "w", "nodes": [{"name": "a", "run": "return {}"}]}


def _with(**top: Any) -> dict[str, Any]:
    return {**BASE, **top}


@pytest.mark.parametrize(
    "doc",
    [
        _with(settings={"llm": {"model": "m"}, "custom_feature": {"x": 1}, "trace_sink": "x"}),
        _with(settings={"lua": {"max_memory": "512KB"}, "parallel": {"strategy": "thread"}}),
        _with(settings={"lua": {"max_memory": 1048576, "timeout": 0.5}}),
        _with(settings={"lua": {"max_memory": "1GB"}, "parallel": {"max_workers": 1}}),
        _with(state_schema={"a": "str", "b": "integer", "c": "any", "d": "object"}),
        _with(edges=[{"from": "a", "to": "b", "type": "parallel", "fan_in": "j"}]),
        _with(edges=[{"from": "a", "to": ["b", "c"], "parallel": True, "fan_in": "j"}]),
        _with(edges=[{"from": "a", "parallel": ["b", "c"]}]),
        _with(edges=[{"to": "a", "type": "entry"}, {"from": "a", "type": "finish"}]),
        _with(edges=[{"from": "a", "to": "b", "condition": True, "when": False}]),
        _with(edges=[{"from": "a", "to": "b", "condition": {"type": "expression", "value": "x"}}]),
        _with(edges=[{"from": "a", "targets": {"yes": "b", "no": "__end__"}}]),
        _with(
            nodes=[
                {"name": "a", "run": {"type": "expression", "value": "1", "output_key": "k"}},
                {"name": "b", "script": "return {}", "goto": "__end__"},
                {"name": "c", "goto": [{"if": "state.x", "to": "a"}, {"if": True, "to": "b"}]},
                {"name": "d", "uses": "json.parse", "with": {"text": "{}"}, "output": "p"},
                {"name": "e", "action": "file.read", "with": {"path": "x"}, "output_key": "p"},
                {"name": "f", "output": {"k": "{{ result }}"}, "uses": "json.stringify"},
                {"name": "g", "fan_in": True, "interrupt": "before", "retry": 3},
                {"name": "h", "steps": [{"name": "h1", "steps": [{"name": "h2"}]}]},
            ]
        ),
        _with(
            nodes=[
                {
                    "name": "dp",
                    "type": "dynamic_parallel",
                    "items": "{{ state.xs }}",
                    "fan_in": "join",
                    "action": {"uses": "json.parse", "with": {"text": "{{ state.x }}"}},
                    "max_concurrency": 1,
                },
                {"name": "join", "fan_in": True},
            ]
        ),
        _with(imports=[{"path": "./a.py", "namespace": "a"}], error_policy="continue"),
    ],
    ids=lambda d: json.dumps(d, sort_keys=True)[:60],
)
def test_permissive_shapes_are_accepted(doc: dict[str, Any]) -> None:
    assert _errors(doc) == []


# ---------------------------------------------------------------- rejected shapes


def test_unknown_top_level_key() -> None:
    assert _errors(_with(nodez=[])) == [
        (
            "$",
            "additionalProperties",
            "Additional properties are not allowed ('nodez' was unexpected)",
        )
    ]


def test_missing_nodes() -> None:
    assert _errors({"name": "w"}) == [("$", "required", "'nodes' is a required property")]


def test_empty_nodes() -> None:
    assert _errors({"nodes": []}) == [("$.nodes", "minItems", "[] should be non-empty")]


def test_node_without_name() -> None:
    assert _errors({"nodes": [{"run": "return {}"}]}) == [
        ("$.nodes[0]", "required", "'name' is a required property")
    ]


def test_blank_node_name() -> None:
    assert _errors({"nodes": [{"name": "  "}]}) == [
        ("$.nodes[0].name", "pattern", "'  ' does not match '\\\\S'")
    ]


def test_unknown_node_key() -> None:
    assert _errors({"nodes": [{"name": "a", "rnu": "return {}"}]}) == [
        (
            "$.nodes[0]",
            "additionalProperties",
            "Additional properties are not allowed ('rnu' was unexpected)",
        )
    ]


def test_unknown_key_in_a_nested_step() -> None:
    doc = {"nodes": [{"name": "a", "steps": [{"name": "b", "uzes": "json.parse"}]}]}
    assert _errors(doc) == [
        (
            "$.nodes[0].steps[0]",
            "additionalProperties",
            "Additional properties are not allowed ('uzes' was unexpected)",
        )
    ]


def test_bad_parallel_strategy() -> None:
    assert _errors(_with(settings={"parallel": {"strategy": "distributed"}})) == [
        (
            "$.settings.parallel.strategy",
            "enum",
            "'distributed' is not one of ['process', 'thread', 'remote', 'dask']",
        )
    ]


def test_typo_in_settings_lua_and_parallel() -> None:
    doc = _with(settings={"lua": {"timout": 3}, "parallel": {"max_branches": 2}})
    assert _errors(doc) == [
        (
            "$.settings.lua",
            "additionalProperties",
            "Additional properties are not allowed ('timout' was unexpected)",
        ),
        (
            "$.settings.parallel",
            "additionalProperties",
            "Additional properties are not allowed ('max_branches' was unexpected)",
        ),
    ]


def test_while_loop_max_iterations_above_1000() -> None:
    node = {
        "name": "loop",
        "type": "while_loop",
        "condition": "state.n < 3",
        "max_iterations": 5000,
        "body": [{"name": "step", "run": "return {}"}],
    }
    assert _errors({"nodes": [node]}) == [
        ("$.nodes[0].max_iterations", "maximum", "5000 is greater than the maximum of 1000")
    ]


def test_while_loop_without_its_parts() -> None:
    assert _errors({"nodes": [{"name": "loop", "type": "while_loop"}]}) == [
        ("$.nodes[0]", "required", "'body' is a required property"),
        ("$.nodes[0]", "required", "'condition' is a required property"),
        ("$.nodes[0]", "required", "'max_iterations' is a required property"),
    ]


def test_dynamic_parallel_without_items() -> None:
    doc = {"nodes": [{"name": "dp", "type": "dynamic_parallel", "steps": [{"name": "s"}]}]}
    assert _errors(doc) == [("$.nodes[0]", "required", "'items' is a required property")]


def test_unknown_node_type_and_language() -> None:
    doc = {"nodes": [{"name": "a", "type": "loop", "language": "rust"}]}
    assert _errors(doc) == [
        ("$.nodes[0].language", "enum", "'rust' is not one of ['lua', 'python', 'prolog']"),
        ("$.nodes[0].type", "enum", "'loop' is not one of ['while_loop', 'dynamic_parallel']"),
    ]


def test_goto_rule_without_target_or_with_a_typo() -> None:
    doc = {"nodes": [{"name": "a", "goto": [{"if": "x"}, {"to": "a", "iff": "y"}]}]}
    assert _errors(doc) == [
        ("$.nodes[0].goto[0]", "required", "'to' is a required property"),
        (
            "$.nodes[0].goto[1]",
            "additionalProperties",
            "Additional properties are not allowed ('iff' was unexpected)",
        ),
    ]


def test_edge_problems() -> None:
    doc = _with(edges=[{"to": "a"}, {"from": "a", "to": "b", "type": "paralel"}, {"form": "a"}])
    assert _errors(doc) == [
        ("$.edges[0]", "required", "'from' is a required property"),
        (
            "$.edges[1].type",
            "enum",
            "'paralel' is not one of ['normal', 'parallel', 'entry', 'finish']",
        ),
        (
            "$.edges[2]",
            "additionalProperties",
            "Additional properties are not allowed ('form' was unexpected)",
        ),
        ("$.edges[2]", "required", "'from' is a required property"),
    ]


def test_bad_sizes_counts_and_timeouts() -> None:
    doc = _with(
        settings={
            "lua": {"max_memory": "lots", "timeout": 0},
            "parallel": {"max_parallel_branches": 0, "lua_timeout": -1},
        }
    )
    assert [(p, v) for p, v, _ in _errors(doc)] == [
        ("$.settings.lua.max_memory", "pattern"),
        ("$.settings.lua.timeout", "exclusiveMinimum"),
        ("$.settings.parallel.lua_timeout", "exclusiveMinimum"),
        ("$.settings.parallel.max_parallel_branches", "minimum"),
    ]


def test_unknown_state_type() -> None:
    assert [(p, v) for p, v, _ in _errors(_with(state_schema={"x": "text"}))] == [
        ("$.state_schema.x", "anyOf")
    ]
    # TEA's Python engine also accepts a mapping describing the key.
    assert _errors(_with(state_schema={"x": {"type": "array", "description": "d"}})) == []

"""Walk the workflow JSON schema along a YAML path: descriptions and allowed keys.

A path is a list of mapping keys (``str``) and sequence indexes (``int``). Local ``$ref``,
``allOf``/``anyOf``/``oneOf`` and ``if``/``then``/``else`` are followed, so the keys of every
alternative are offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tea_lsp.schema_file import load_schema

Schema = Mapping[str, Any]
_COMBINERS = ("allOf", "anyOf", "oneOf")


def _deref(root: Schema, s: Schema, depth: int = 0) -> Schema:
    ref = s.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/") or depth > 20:
        return s
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or part not in target:
            return s
        target = target[part]
    if not isinstance(target, Mapping):
        return s
    # Keywords next to $ref (a local description) win over the target's.
    merged = dict(_deref(root, target, depth + 1))
    merged.update({k: v for k, v in s.items() if k != "$ref"})
    return merged


def expand(root: Schema, s: Schema, depth: int = 0) -> list[Schema]:
    """``s`` and every schema it combines with (dereferenced)."""
    s = _deref(root, s)
    out = [s]
    if depth > 10:
        return out
    for key in _COMBINERS:
        for sub in s.get(key, ()) or ():
            if isinstance(sub, Mapping):
                out.extend(expand(root, sub, depth + 1))
    for key in ("then", "else"):
        sub = s.get(key)
        if isinstance(sub, Mapping):
            out.extend(expand(root, sub, depth + 1))
    return out


def schemas_at(path: list[str | int], root: Schema | None = None) -> list[Schema]:
    """Every schema that may describe the value at ``path``."""
    root = root if root is not None else load_schema()
    current: list[Schema] = [root]
    for step in path:
        nxt: list[Schema] = []
        for s in (x for c in current for x in expand(root, c)):
            if isinstance(step, str):
                props = s.get("properties")
                if isinstance(props, Mapping) and isinstance(props.get(step), Mapping):
                    nxt.append(props[step])
                    continue
                extra = s.get("additionalProperties")
                if isinstance(extra, Mapping):
                    nxt.append(extra)
            else:
                items = s.get("items")
                if isinstance(items, Mapping):
                    nxt.append(items)
        current = nxt
        if not current:
            break
    return current


def description(s: Schema, root: Schema | None = None) -> str | None:
    root = root if root is not None else load_schema()
    for cand in expand(root, s):
        text = cand.get("markdownDescription") or cand.get("description")
        if isinstance(text, str) and text.strip():
            return text
    return None


def key_doc(path: list[str | int]) -> str | None:
    """The description of the key at the end of ``path``."""
    for s in schemas_at(path):
        text = description(s)
        if text:
            return text
    return None


def properties(path: list[str | int]) -> dict[str, Schema]:
    """Keys allowed in the mapping at ``path``, with their schemas (first definition wins)."""
    root = load_schema()
    out: dict[str, Schema] = {}
    for s in schemas_at(path, root):
        for cand in expand(root, s):
            props = cand.get("properties")
            if isinstance(props, Mapping):
                for k, v in props.items():
                    if isinstance(v, Mapping) and k not in out:
                        out[k] = v
    # Richer entries (with a description) replace bare ones from if/then branches.
    for s in schemas_at(path, root):
        for cand in expand(root, s):
            props = cand.get("properties")
            if isinstance(props, Mapping):
                for k, v in props.items():
                    if isinstance(v, Mapping) and description(out[k], root) is None:
                        out[k] = v
    return out


def enum_values(path: list[str | int]) -> list[Any]:
    root = load_schema()
    values: list[Any] = []
    for s in schemas_at(path, root):
        for cand in expand(root, s):
            for v in cand.get("enum", ()) or ():
                if v not in values:
                    values.append(v)
            if "const" in cand and cand["const"] not in values:
                values.append(cand["const"])
    return values


def types_of(s: Schema, root: Schema | None = None) -> set[str]:
    root = root if root is not None else load_schema()
    out: set[str] = set()
    for cand in expand(root, s):
        t = cand.get("type")
        if isinstance(t, str):
            out.add(t)
        elif isinstance(t, list):
            out.update(x for x in t if isinstance(x, str))
    return out

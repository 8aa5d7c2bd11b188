"""Which documents the server works on: workflow YAML only.

A YAML document is a workflow when its path matches one of the ``tea.files`` globs, when it
carries a ``# yaml-language-server: $schema=`` modeline naming our schema, or when it has a
top-level ``nodes:`` key. A modeline naming another schema wins over ``nodes:``. Anything
else gets no diagnostics and no answers from the server.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote, urlparse

from tea_lsp.analysis import is_workflow_text
from tea_lsp.schema_file import SCHEMA_ID

_MODELINE = re.compile(r"^#\s*yaml-language-server\s*:\s*\$schema=(\S+)", re.MULTILINE)
_YAML_LANGS = frozenset({"yaml", "yml"})
_SCHEMA_BASENAME = "workflow.schema.json"


def uri_to_path(uri: str) -> str:
    """A file system path for ``file:`` URIs; the URI itself otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    path = unquote(parsed.path)
    if re.match(r"^/[A-Za-z]:", path):  # file:///C:/x → C:/x
        path = path[1:]
    return path


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob: ``**`` any directories, ``*`` and ``?`` within one segment,
    ``{a,b}`` alternatives, ``[abc]`` classes."""
    i, out, depth = 0, [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "{":
            out.append("(?:")
            depth += 1
        elif ch == "}" and depth:
            out.append(")")
            depth -= 1
        elif ch == "," and depth:
            out.append("|")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.extend(")" * depth)
    return re.compile("".join(out) + r"\Z")


def matches_glob(path: str, patterns: tuple[str, ...], roots: tuple[str, ...] = ()) -> bool:
    """Does ``path`` match a pattern, relative to a workspace root or anywhere below?"""
    path = path.replace("\\", "/")
    candidates = [path]
    for root in roots:
        r = root.replace("\\", "/").rstrip("/") + "/"
        if path.startswith(r):
            candidates.append(path[len(r) :])
    for pattern in patterns:
        rx = _glob_regex(pattern.replace("\\", "/"))
        anywhere = not pattern.startswith("/")
        for c in candidates:
            if rx.match(c):
                return True
            if anywhere and rx.search(c) and _suffix_match(rx, c):
                return True
    return False


def _suffix_match(rx: re.Pattern[str], path: str) -> bool:
    """A relative pattern also matches a path below a directory (``*.tea.yaml`` anywhere)."""
    parts = path.split("/")
    return any(rx.match("/".join(parts[k:])) for k in range(1, len(parts)))


def modeline_schema(text: str) -> str | None:
    """The schema named by a ``# yaml-language-server: $schema=`` modeline, if any."""
    head = text[:4096]
    if "yaml-language-server" not in head:
        return None
    m = _MODELINE.search(head)
    return m.group(1) if m else None


def names_our_schema(url: str) -> bool:
    return url == SCHEMA_ID or url.rstrip("/").rsplit("/", 1)[-1] == _SCHEMA_BASENAME


def is_yaml(uri: str, language_id: str) -> bool:
    if language_id.lower() in _YAML_LANGS:
        return True
    return uri_to_path(uri).lower().endswith((".yaml", ".yml"))


def is_workflow(
    uri: str, language_id: str, text: str, files: tuple[str, ...], roots: tuple[str, ...] = ()
) -> bool:
    """Is this document a workflow the server should check?"""
    path = uri_to_path(uri)
    if matches_glob(path, files, roots):
        return True
    if not is_yaml(uri, language_id):
        return False
    schema = modeline_schema(text)
    if schema is not None:
        return names_our_schema(schema)
    return is_workflow_text(text)

"""``tea/graph``: the workflow's routing graph for an editor to draw (a custom request).

Params: ``{"textDocument": {"uri": URI}}``. Result (``null`` when the document is not open
or is not a workflow)::

    {"uri": URI, "version": int,
     "dot": str,        # Graphviz DOT (node ids n0, n1, ...; SVG groups get id "tea-<id>")
     "mermaid": str,    # the same graph as a Mermaid flowchart
     "nodes": [{"id": "n1", "name": "setup",
                "kind": "node" | "start" | "end" | "fan_in" | "dynamic" | "loop" | "steps"
                        | "missing",
                "range": Range | null,          # the node's name, in the client's encoding
                "severity": "error" | "warning" | null,
                "cluster": str | null}]}

The graph is built from the document's current analysis (the one diagnostics come from), so
nodes are outlined with the same errors the editor shows. Clients use ``range`` to reveal a
clicked node in the YAML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from tea_lsp.graph import build_graph, to_dot, to_mermaid
from tea_lsp.lsp import convert

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

GRAPH_REQUEST = "tea/graph"


def _uri_of(params: Any) -> str:
    """``params.textDocument.uri``, from a dict or from pygls' attribute object."""
    doc = params.get("textDocument") if isinstance(params, dict) else None
    if doc is None and not isinstance(params, dict):
        doc = getattr(params, "textDocument", None) or getattr(params, "text_document", None)
    uri = doc.get("uri") if isinstance(doc, dict) else getattr(doc, "uri", None)
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams("tea/graph: expected params {'textDocument': {'uri': ...}}")
    return uri


def register(server: TeaLanguageServer) -> None:
    @server.feature(GRAPH_REQUEST)
    async def graph_request(params: Any) -> dict[str, Any] | None:
        uri = _uri_of(params)
        got = await server.analysis(uri)
        if got is None:
            return None
        snap, analysis = got
        wf = analysis.workflow
        if wf is None:
            return None
        graph = build_graph(wf, analysis.diagnostics)
        lines = analysis.lines
        nodes: list[dict[str, Any]] = []
        for n in graph.nodes:
            rng = None
            if n.span is not None:
                r = convert.to_range(lines, n.span, server.encoding)
                rng = {
                    "start": {"line": r.start.line, "character": r.start.character},
                    "end": {"line": r.end.line, "character": r.end.character},
                }
            nodes.append(
                {
                    "id": n.id,
                    "name": n.name,
                    "kind": n.kind,
                    "range": rng,
                    "severity": n.severity.label if n.severity is not None else None,
                    "cluster": n.cluster,
                }
            )
        return {
            "uri": uri,
            "version": snap.version,
            "dot": to_dot(graph),
            "mermaid": to_mermaid(graph),
            "nodes": nodes,
        }

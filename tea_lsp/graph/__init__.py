"""Workflow graphs: the routing graph of a workflow (pure) and its DOT / Mermaid text."""

from __future__ import annotations

from tea_lsp.graph.build import Cluster, Graph, GraphEdge, GraphNode, build_graph
from tea_lsp.graph.render import OUTCOMES, Status, to_dot, to_mermaid

__all__ = [
    "OUTCOMES",
    "Cluster",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "Status",
    "build_graph",
    "to_dot",
    "to_mermaid",
]

"""``tea-lsp graph FILE``: draw a workflow's routing graph (DOT, Mermaid, SVG, PNG).

DOT and Mermaid are text written by tea-lsp; SVG and PNG are laid out by Graphviz's ``dot``.
Exit codes: 0 written (a workflow with errors is still drawn, its faulty nodes outlined red);
1 the file holds no workflow to draw (its diagnostics are printed); 2 usage error (missing
file, unknown format, Graphviz not installed, cannot write the output).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tea_lsp.cli.common import UsageError, read_workflow

EXIT_OK, EXIT_NO_WORKFLOW, EXIT_USAGE = 0, 1, 2
FORMATS = ("dot", "mermaid", "svg", "png")
_SUFFIXES = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".svg": "svg", ".png": "png"}


def add_graph_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "graph",
        help="draw a workflow's graph (dot, mermaid, svg, png)",
        description="Draw the routing graph of a TEA workflow as the runner walks it: "
        "sequential edges, goto conditions, fan-outs with their branches and fan-in, loops. "
        "Nodes with errors are outlined red. SVG and PNG need Graphviz ('dot').",
    )
    p.add_argument("file", help="the workflow file ('-' for stdin)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o suffix, else dot)",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    p.set_defaults(func=graph_command)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output:
        return _SUFFIXES.get(Path(args.output).suffix.lower(), "dot")
    return "dot"


def graph_command(args: argparse.Namespace) -> int:
    from tea_lsp.analysis import analyze
    from tea_lsp.cli.render import header
    from tea_lsp.graph import build_graph, to_dot, to_mermaid
    from tea_lsp.graph.layout import GraphvizFailed, GraphvizMissing, layout

    fmt = _format(args)
    try:
        text, path = read_workflow(args.file)
        if fmt == "png" and not args.output and sys.stdout.isatty():
            raise UsageError("--format png writes binary data; give -o OUT.png")
    except UsageError as exc:
        print(f"tea-lsp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    analysis = analyze(text, path)
    wf = analysis.workflow
    if wf is None or not wf.nodes:
        for d in analysis.diagnostics:
            print(header(path, d), file=sys.stderr)
        print(f"tea-lsp: error: {path}: no workflow nodes to draw", file=sys.stderr)
        return EXIT_NO_WORKFLOW
    graph = build_graph(wf, analysis.diagnostics)
    data: bytes
    if fmt == "mermaid":
        data = to_mermaid(graph).encode("utf-8")
    else:
        dot = to_dot(graph)
        if fmt == "dot":
            data = dot.encode("utf-8")
        else:
            try:
                data = layout(dot, fmt)
            except (GraphvizMissing, GraphvizFailed) as exc:
                print(f"tea-lsp: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            print(f"tea-lsp: error: -o: {args.output}: {reason}", file=sys.stderr)
            return EXIT_USAGE
    elif fmt == "png":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK

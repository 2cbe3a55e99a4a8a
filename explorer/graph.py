"""Data-flow graphs (graphviz DOT) from an Analysis: the stack as built, and the stack unrolled in time.

Every label is made from numbers and enum names only, never free user text, and the same
architecture always gives the same DOT source (the tests compare it byte for byte).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import nullcontext
from pathlib import Path

import graphviz

from explorer.analysis import Analysis, Diagnostic, Severity, shape_label
from explorer.report import head_title, layer_title
from explorer.spec import CellType

ERROR_RED = "#d62728"
BACKWARD_BLUE = "#1f77b4"
INPUT_COLOR = "#e8f0fe"
OUTPUT_COLOR = "#eeeeee"
_FONT = {"fontname": "Helvetica", "fontsize": "11"}
_CELL_COLORS = {CellType.LSTM: "#fff4e0", CellType.GRU: "#e9f7ef", CellType.RNN: "#f3e8fd"}


def _digraph(name: str) -> graphviz.Digraph:
    graph = graphviz.Digraph(name)
    graph.attr(rankdir="TB", nodesep="0.3", ranksep="0.35", **_FONT)
    graph.attr("node", shape="box", style="rounded,filled", fillcolor="#f7f7f7", **_FONT)
    graph.attr("edge", fontname="Helvetica", fontsize="10")
    return graph


def _wrap(text: str, width: int = 44) -> str:
    return "\\n".join(textwrap.wrap(text, width))


def _note(graph: graphviz.Digraph, name: str, diagnostic: Diagnostic, anchor: str) -> None:
    """The diagnostic beside the node it concerns, on the same rank."""
    color = ERROR_RED if diagnostic.severity is Severity.ERROR else "#b8860b"
    text = _wrap(diagnostic.message) + "\\n\\nFix: " + _wrap(diagnostic.fix)
    with graph.subgraph() as row:
        row.attr(rank="same")
        row.node(anchor)
        row.node(name, text, shape="note", style="filled", fillcolor="#fff5f5", color=color, fontcolor=color)
    graph.edge(anchor, name, style="dotted", color=color, arrowhead="none")


def _layer_nodes(graph: graphviz.Digraph, analysis: Analysis, run: tuple[int, ...]) -> None:
    for i in run:
        layer, info = analysis.architecture.layers[i], analysis.recurrent[i]
        lines = [f"{info.index}  {layer_title(layer)}"]
        if layer.bidirectional:
            lines.append(f"⇄ forward ⊕ backward: 2 × {layer.units} = {layer.output_features}")
        if layer.num_layers > 1:
            lines.append(f"{layer.num_layers} layers stacked inside")
        lines.append(f"params torch {info.params_torch:,} · Keras {info.params_keras:,}")
        graph.node(
            f"layer{info.index}",
            "\\n".join(lines),
            peripheries=str(min(layer.num_layers, 4)),  # internal stacking, seen as stacked outlines
            fillcolor=_CELL_COLORS[layer.type],
        )


def architecture_graph(analysis: Analysis, show_states: bool = False) -> graphviz.Digraph:
    arch = analysis.architecture
    graph = _digraph("architecture")
    graph.node("input", f"Input\\nfeatures={arch.input.features}", shape="oval", fillcolor="#e8f0fe")
    for run in analysis.fused_runs:
        # A fused run is one torch module: drawn as a dashed box around its layers.
        fused = len(run) > 1
        with graph.subgraph(name=f"cluster_run{run[0] + 1}") if fused else nullcontext(graph) as target:
            if fused:
                total = sum(arch.layers[i].num_layers for i in run)
                kind = arch.layers[run[0]].type.value
                target.attr(label=f"one nn.{kind}(num_layers={total})", style="dashed", color="#888888", fontsize="10")
            _layer_nodes(target, analysis, run)
    if analysis.head is not None and arch.head is not None:
        label = f"{analysis.head.index}  {head_title(arch.head)}\\nparams {analysis.head.params_torch:,}"
        graph.node("head", label, fillcolor="#eeeeee")
    graph.node("output", "output", shape="plaintext", style="")
    names = ["input"] + [f"layer{info.index}" for info in analysis.recurrent]
    names += ["head"] if analysis.head is not None else []
    names.append("output")
    _data_edges(graph, analysis, names)
    diagnostics_by_layer: dict[int, list[Diagnostic]] = {}
    for d in analysis.diagnostics:
        diagnostics_by_layer.setdefault(d.layer, []).append(d)
    for number, found in sorted(diagnostics_by_layer.items()):
        anchor = "input" if number == 0 else names[number]
        for n, diagnostic in enumerate(found):
            _note(graph, f"note{number}_{n}", diagnostic, anchor)
    if show_states:
        _final_states(graph, analysis)
    return graph


def _data_edges(graph: graphviz.Digraph, analysis: Analysis, names: list[str]) -> None:
    """The edge into each node, labelled with the shape it carries: dashed where only the last step goes on,
    red where a layer that needs a sequence gets one state."""
    arch = analysis.architecture
    shapes = [analysis.input_shape] + [info.output_shape for info in analysis.layers]
    for k, (source, target_name, shape) in enumerate(zip(names[:-1], names[1:], shapes, strict=True)):
        receiver = analysis.layers[k] if k < len(analysis.layers) else None
        attrs = {"label": " " + shape_label(shape)}
        if 0 < k <= len(arch.layers) and not arch.layers[k - 1].return_sequences:
            attrs.update(label=attrs["label"] + "\\n last step only", style="dashed")
        if receiver is not None and not receiver.input_ok:
            attrs.update(
                color=ERROR_RED, fontcolor=ERROR_RED, penwidth="2.5", label=attrs["label"] + "\\n ✗ needs a sequence"
            )
        graph.edge(source, target_name, **attrs)


def _final_states(graph: graphviz.Digraph, analysis: Analysis) -> None:
    """h_n (and c_n) beside each recurrent layer, on its rank."""
    for info in analysis.recurrent:
        states = [f"{name} {shape_label(shape)}" for name, shape in (("h_n", info.h_n), ("c_n", info.c_n)) if shape]
        name = f"state{info.index}"
        with graph.subgraph() as row:
            row.attr(rank="same")
            row.node(f"layer{info.index}")
            row.node(name, "\\n".join(states), shape="box", style="dashed", fontsize="9", color="#888888")
        graph.edge(f"layer{info.index}", name, style="dotted", arrowhead="none", color="#888888")


def unrolled_graph(analysis: Analysis, steps: int = 3) -> graphviz.Digraph:
    """Each internal layer as a row of cells over time: first `steps` steps, an ellipsis, the last step.

    Horizontal arrows carry the hidden state forward in time (blue ones backward, for a bidirectional
    layer); vertical arrows carry what a layer hands on to the next. A layer without return_sequences
    hands on its last step only (and, bidirectional, the backward state at step 1).
    """
    arch = analysis.architecture
    graph = _digraph("unrolled")
    seq_len = arch.input.seq_len
    shown: list[int | str] = list(range(1, min(steps, seq_len or steps) + 1))
    last = seq_len if seq_len is not None else "T"
    columns = [*shown] + (["…", last] if seq_len is None or seq_len > len(shown) else [])

    def row(prefix: str, label: str, color: str, recurrent: bool = True) -> list[str]:
        return _time_row(graph, columns, prefix, label, color, recurrent)

    below = row("x", "x", INPUT_COLOR, recurrent=False)
    hands_all = True
    for info, layer in zip(analysis.recurrent, arch.layers, strict=True):
        for k in range(1, layer.num_layers + 1):
            label = f"h{info.index}" + (f".{k}" if layer.num_layers > 1 else "") + " t"
            cells = row(f"L{info.index}_{k}", label, _CELL_COLORS[layer.type])
            if layer.bidirectional:
                for a, b in itertools.pairwise(cells):
                    graph.edge(
                        b, a, color=BACKWARD_BLUE, constraint="false", style="dotted" if "gap" in a + b else "solid"
                    )
            _connect(graph, below, cells, hands_all)
            below = cells
            hands_all = True
        hands_all = layer.return_sequences
        if not hands_all:
            # Only the final state moves up: the last step (and the backward direction's step 1).
            below = [below[-1]] + ([below[0]] if layer.bidirectional else [])
    if analysis.head is not None:
        if hands_all:
            _connect(graph, below, row("y", "y t", OUTPUT_COLOR, recurrent=False), True)
        else:
            graph.node("head", "Dense", fillcolor=OUTPUT_COLOR)
            for name in below:
                graph.edge(name, "head", penwidth="2")
    elif not hands_all:
        graph.node("output", "output", shape="plaintext", style="")
        for name in below:
            graph.edge(name, "output", penwidth="2")
    _unrolled_legend(graph, analysis)
    return graph


def _time_row(
    graph: graphviz.Digraph, columns: list[int | str], prefix: str, label: str, color: str, recurrent: bool
) -> list[str]:
    """A row of cells over time. Only a recurrent row's cells pass anything along time (its hidden state):
    inputs x_t and outputs y_t are separate values, kept in order by invisible edges."""
    names = [f"{prefix}_{c if c != '…' else 'gap'}" for c in columns]
    with graph.subgraph() as same:
        same.attr(rank="same")
        for name, c in zip(names, columns, strict=True):
            if c == "…":
                same.node(name, "…", shape="plaintext", style="")
            else:
                same.node(name, f"{label}{c}", fillcolor=color, shape="box")
    for a, b in itertools.pairwise(names):
        graph.edge(a, b, style=("dotted" if "gap" in a + b else "solid") if recurrent else "invis")
    return names


def _unrolled_legend(graph: graphviz.Digraph, analysis: Analysis) -> None:
    """What the marks of the unrolled view mean, below it: cell colours, arrows, dotted gaps, and blue and red
    where the drawing has them."""
    arch = analysis.architecture
    kinds = list(dict.fromkeys(layer.type for layer in arch.layers))
    cells = "".join(f'<td bgcolor="{_CELL_COLORS[cell]}">{cell.value} cell</td>' for cell in kinds)
    lines = ["→ black, along a row: the hidden state carried to the next step"]
    if any(layer.bidirectional for layer in arch.layers):
        lines.append(f'<font color="{BACKWARD_BLUE}">← blue: the backward direction of a bidirectional layer</font>')
    lines += [
        "↑ up: what a layer hands to the layer above (thick: its final state only)",
        "dotted, and …: the steps left out of the drawing",
    ]
    if not all(info.input_ok for info in analysis.recurrent):
        lines.append(f'<font color="{ERROR_RED}">red: a layer that needs a sequence is handed one state</font>')
    span = len(kinds) + 1
    rows = [f'<tr><td bgcolor="{INPUT_COLOR}">x t: input at step t</td>{cells}</tr>']
    rows += [f'<tr><td colspan="{span}" align="left">{line}</td></tr>' for line in lines]
    table = '<table border="0" cellborder="0" cellspacing="2" cellpadding="2">' + "".join(rows) + "</table>"
    with graph.subgraph() as bottom:
        bottom.attr(rank="sink")
        bottom.node("legend", f"<{table}>", shape="plaintext", style="", fontsize="9")


def _connect(graph: graphviz.Digraph, below: list[str], above: list[str], per_step: bool) -> None:
    if per_step:
        for a, b in zip(below, above, strict=True):
            if "gap" not in a:
                graph.edge(a, b)
        return
    # The layer below hands on only a final state, but this one needs a value at every step.
    for name in below:
        graph.edge(name, above[0], color=ERROR_RED, fontcolor=ERROR_RED, penwidth="2.5", label=" ✗ not a sequence")


def dot_binary() -> str | None:
    """The Graphviz program for server-side SVG.

    EXPLORER_DOT names one (a path, or a name on PATH; empty: none, the browser lays graphs out).
    Otherwise graphviz-pure, a pip dependency installed beside this Python, else a system `dot`.
    """
    chosen = os.environ.get("EXPLORER_DOT")
    if chosen is not None:
        return shutil.which(chosen) if chosen else None
    beside_python = Path(sys.executable).parent / "graphviz-pure"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("graphviz-pure") or shutil.which("dot")


def render_svg(dot_source: str, binary: str, timeout_s: float = 10.0) -> bytes:
    result = subprocess.run(
        [binary, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz failed: {result.stderr.decode(errors='replace')[:300]}")
    return result.stdout

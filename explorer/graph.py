"""Data-flow graphs (graphviz DOT) from an Analysis: the stack as built, and the stack unrolled in time.

Every label is made from numbers and enum names only, never free user text, and the same
architecture always gives the same DOT source (the tests compare it byte for byte).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import graphviz

from explorer.analysis import Analysis, Diagnostic, LayerAnalysis, Severity, shape_label
from explorer.layers.base import Layer
from explorer.layers.conv import TimeWindowLayer
from explorer.layers.norm import BatchNorm
from explorer.layers.recurrent import CELL_COLORS, RecurrentLayer
from explorer.shapes import Form

ERROR_RED = "#d62728"
BACKWARD_BLUE = "#1f77b4"
INPUT_COLOR = "#e8f0fe"
OUTPUT_COLOR = "#eeeeee"
_FONT = {"fontname": "Helvetica", "fontsize": "11"}
KEPT_BACK = "?"


@dataclass(frozen=True)
class Hidden:
    """Labels kept back until a lesson's question is answered, by 1-based layer number."""

    output: int | None = None  # the shape on the edge out of this layer
    params: int | None = None  # this layer's parameter counts
    states: int | None = None  # this layer's h_n / c_n


NOTHING_HIDDEN = Hidden()


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


def _channels_first(layer: Layer, info: LayerAnalysis) -> bool:
    """torch computes this layer on (batch, features, time): the graph shows the transposes."""
    return isinstance(layer, (TimeWindowLayer, BatchNorm)) and len(info.input_shape) == 3 and info.input_ok


def _layer_nodes(graph: graphviz.Digraph, analysis: Analysis, run: tuple[int, ...], hidden: Hidden) -> None:
    for i in run:
        layer, info = analysis.architecture.stack[i], analysis.layers[i]
        style = layer.node_style()
        icon = f"{style.icon} " if style.icon else ""
        lines = [f"{info.index}  {icon}{layer.title()}"]
        if isinstance(layer, RecurrentLayer) and layer.bidirectional:
            lines.append(f"⇄ forward ⊕ backward: 2 × {layer.units} = {layer.output_features}")
        if isinstance(layer, RecurrentLayer) and layer.num_layers > 1:
            lines.append(f"{layer.num_layers} layers stacked inside")
        if _channels_first(layer, info):
            lines.append("torch: ⇅ transposed to (batch, features, time) and back")
        if hidden.params == info.index:
            lines.append(f"params torch {KEPT_BACK} · Keras {KEPT_BACK}")
        elif info.params_torch or info.params_keras:
            same = info.params_torch == info.params_keras and not isinstance(layer, RecurrentLayer)
            lines.append(
                f"params {info.params_torch:,}"
                if same
                else f"params torch {info.params_torch:,} · Keras {info.params_keras:,}"
            )
        attributes = {"fillcolor": style.fill, "shape": style.shape}
        if style.dashed:
            attributes["style"] = "rounded,filled,dashed"
        if isinstance(layer, RecurrentLayer):
            attributes["peripheries"] = str(min(layer.num_layers, 4))  # internal stacking, seen as stacked outlines
        graph.node(f"layer{info.index}", "\\n".join(lines), **attributes)


def architecture_graph(
    analysis: Analysis, show_states: bool = False, hidden: Hidden = NOTHING_HIDDEN
) -> graphviz.Digraph:
    arch = analysis.architecture
    graph = _digraph("architecture")
    what = "token ids" if arch.input.tokens else f"features={arch.input.features}"
    graph.node("input", f"Input\\n{what}", shape="oval", fillcolor=INPUT_COLOR)
    for run in analysis.fused_runs:
        # A fused run is one torch module: drawn as a dashed box around its layers.
        fused = len(run) > 1
        with graph.subgraph(name=f"cluster_run{run[0] + 1}") if fused else nullcontext(graph) as target:
            if fused:
                total = sum(arch.stack[i].depth for i in run)
                kind = arch.stack[run[0]].kind
                target.attr(label=f"one nn.{kind}(num_layers={total})", style="dashed", color="#888888", fontsize="10")
            _layer_nodes(target, analysis, run, hidden)
    graph.node("output", "output", shape="plaintext", style="")
    names = ["input"] + [f"layer{info.index}" for info in analysis.layers] + ["output"]
    _data_edges(graph, analysis, names, hidden)
    diagnostics_by_layer: dict[int, list[Diagnostic]] = {}
    for d in analysis.diagnostics:
        diagnostics_by_layer.setdefault(d.layer, []).append(d)
    for number, found in sorted(diagnostics_by_layer.items()):
        anchor = "input" if number == 0 else names[number]
        for n, diagnostic in enumerate(found):
            _note(graph, f"note{number}_{n}", diagnostic, anchor)
    if show_states:
        _final_states(graph, analysis, hidden)
    return graph


_WANTED = {Form.SEQUENCE: "a sequence", Form.VECTOR: "one vector per example", Form.TOKENS: "token ids"}


def _data_edges(graph: graphviz.Digraph, analysis: Analysis, names: list[str], hidden: Hidden) -> None:
    """The edge into each node, labelled with the shape it carries: dashed where a recurrent layer hands on only
    its last step, red where a layer gets a kind of tensor it cannot read."""
    stack = analysis.architecture.stack
    shapes = [analysis.input_shape] + [info.output_shape for info in analysis.layers]
    for k, (source, target_name, shape) in enumerate(zip(names[:-1], names[1:], shapes, strict=True)):
        receiver = analysis.layers[k] if k < len(analysis.layers) else None
        attrs = {"label": " " + (KEPT_BACK if hidden.output == k else shape_label(shape))}
        sender = stack[k - 1] if k > 0 else None
        if isinstance(sender, RecurrentLayer) and not sender.return_sequences:
            suffix = "" if hidden.output == k else "\\n last step only"  # a hint a lesson keeps back too
            attrs.update(label=attrs["label"] + suffix, style="dashed")
        if receiver is not None and not receiver.input_ok:
            wanted = " or ".join(_WANTED[f] for f in sorted(stack[k].ACCEPTS, key=list(Form).index))
            attrs.update(
                color=ERROR_RED, fontcolor=ERROR_RED, penwidth="2.5", label=attrs["label"] + f"\\n ✗ needs {wanted}"
            )
        graph.edge(source, target_name, **attrs)


def _final_states(graph: graphviz.Digraph, analysis: Analysis, hidden: Hidden) -> None:
    """h_n (and c_n) beside each recurrent layer, on its rank."""
    for info in analysis.recurrent:
        kept_back = hidden.states == info.index
        states = [
            f"{name} {KEPT_BACK if kept_back else shape_label(shape)}"
            for name, shape in (("h_n", info.h_n), ("c_n", info.c_n))
            if shape
        ]
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
    hands on its last step only (and, bidirectional, the backward state at step 1). Layers that act on each
    step alone are rows without horizontal arrows; layers that act on one vector are single boxes. The view
    stops, and says so, at a layer that changes the time axis (convolution, pooling, Flatten, RepeatVector).
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
    for info, layer in zip(analysis.layers, arch.stack, strict=True):
        if isinstance(layer, RecurrentLayer):
            below = _recurrent_rows(graph, row, layer, info, below, hands_all)
            hands_all = layer.return_sequences
            continue
        if not hands_all and layer.PER_STEP:  # one vector per example: one box
            graph.node(f"L{info.index}", f"{info.index} {layer.title()}", fillcolor=layer.node_style().fill)
            for name in below:
                graph.edge(name, f"L{info.index}", penwidth="2")
            below = [f"L{info.index}"]
            continue
        if hands_all and layer.PER_STEP:  # a row without arrows along time; the last one is the output y t
            final = info.index == len(arch.stack)
            prefix, label = ("y", "y t") if final else (f"L{info.index}", f"{layer.kind} t")
            cells = row(prefix, label, OUTPUT_COLOR if final else layer.node_style().fill, recurrent=False)
            _connect(graph, below, cells, True)
            below = cells
            continue
        graph.node(
            "stop",
            f"{info.index} {layer.title()} changes the time axis:\\nthe unrolled view stops here",
            shape="note",
            fillcolor="#fafafa",
        )
        for name in below:
            if "gap" not in name:
                graph.edge(name, "stop", style="dashed")
        _unrolled_legend(graph, analysis)
        return graph
    if hands_all and isinstance(arch.stack[-1] if arch.stack else None, RecurrentLayer):
        output = row("y", "y t", OUTPUT_COLOR, recurrent=False)
        _connect(graph, below, output, True)
    elif not hands_all:
        graph.node("output", "output", shape="plaintext", style="")
        for name in below:
            graph.edge(name, "output", penwidth="2")
    _unrolled_legend(graph, analysis)
    return graph


def _recurrent_rows(
    graph: graphviz.Digraph,
    row: Callable[[str, str, str], list[str]],
    layer: RecurrentLayer,
    info: LayerAnalysis,
    below: list[str],
    hands_all: bool,
) -> list[str]:
    """A recurrent layer's rows, one per internal layer; what it hands on (every step, or its final state)."""
    for k in range(1, layer.num_layers + 1):
        label = f"h{info.index}" + (f".{k}" if layer.num_layers > 1 else "") + " t"
        cells = row(f"L{info.index}_{k}", label, CELL_COLORS[layer.type])
        if layer.bidirectional:
            for a, b in itertools.pairwise(cells):
                graph.edge(b, a, color=BACKWARD_BLUE, constraint="false", style="dotted" if "gap" in a + b else "solid")
        _connect(graph, below, cells, hands_all)
        below = cells
        hands_all = True
    if layer.return_sequences:
        return below
    # Only the final state moves up: the last step (and the backward direction's step 1).
    return [below[-1]] + ([below[0]] if layer.bidirectional else [])


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
    recurrent = [layer for layer in arch.stack if isinstance(layer, RecurrentLayer)]
    kinds = list(dict.fromkeys(layer.type for layer in recurrent))
    cells = "".join(f'<td bgcolor="{CELL_COLORS[cell]}">{cell.value} cell</td>' for cell in kinds)
    lines = ["→ black, along a row: the hidden state carried to the next step"]
    if any(layer.bidirectional for layer in recurrent):
        lines.append(f'<font color="{BACKWARD_BLUE}">← blue: the backward direction of a bidirectional layer</font>')
    lines += [
        "↑ up: what a layer hands to the layer above (thick: its final state only)",
        "dotted, and …: the steps left out of the drawing",
    ]
    if not all(info.input_ok for info in analysis.layers):
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


_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')
PX_PER_PT = 4 / 3  # CSS: 1pt = 4/3 px, the unit Graphviz sizes its SVG in


def sized_svg(svg: str, min_label_px: float) -> str:
    """The <svg> element of Graphviz's output, drawn so that its smallest text measures `min_label_px` CSS pixels
    (or at its own size where that is larger). It never shrinks to fit below that: its container scrolls."""
    element = svg[svg.index("<svg") :]
    found = _SVG_SIZE.search(element)
    fonts = [float(size) for size in _FONT_SIZE.findall(element)]
    if found is None or not fonts:
        return element.replace("<svg ", '<svg style="max-width: 100%; height: auto" ', 1)
    scale = max(min_label_px / (min(fonts) * PX_PER_PT), 1.0)
    width_px = float(found[1]) * PX_PER_PT * scale
    # Graphviz's width and height in pt give way to the style; the viewBox keeps the aspect.
    return _SVG_SIZE.sub(f'<svg style="width: {width_px:.0f}px; height: auto"', element, count=1)

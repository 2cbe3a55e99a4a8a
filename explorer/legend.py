"""What every mark in the two graphs means, in words for a first-year student, and where to look for it.

Only the marks the drawing at hand has are listed (a legend of twelve lines for a three-layer stack reads as
noise), and each says where in the graph it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.analysis import Analysis, Severity
from explorer.layers.conv import TimeWindowLayer
from explorer.layers.norm import BatchNorm
from explorer.layers.recurrent import RecurrentLayer


@dataclass(frozen=True)
class LegendEntry:
    mark: str  # what it looks like
    meaning: str  # what it means, and where it shows


def legend(analysis: Analysis, unrolled: bool = False, show_states: bool = False) -> list[LegendEntry]:
    return _unrolled(analysis) if unrolled else _architecture(analysis, show_states)


def _recurrent(analysis: Analysis) -> list[RecurrentLayer]:
    return [layer for layer in analysis.architecture.stack if isinstance(layer, RecurrentLayer)]


def _architecture(analysis: Analysis, show_states: bool) -> list[LegendEntry]:
    stack, recurrent = analysis.architecture.stack, _recurrent(analysis)
    entries = [
        LegendEntry("Oval at the top", "the input: a batch of examples, each a sequence of time steps."),
        LegendEntry(
            "Label on an arrow, (batch=4, time=20, features=64)",
            "the shape of the tensor flowing along that arrow: batch = examples at once, time = steps in each "
            "sequence, features = numbers per step. No time axis means one vector per example.",
        ),
        LegendEntry(
            "Solid arrow",
            "the layer above hands on its output at every time step: a whole sequence (return_sequences on).",
        ),
    ]
    if any(not layer.return_sequences for layer in recurrent):
        entries.append(
            LegendEntry(
                "Dashed arrow, 'last step only'",
                "a recurrent layer without return_sequences hands on only its output at the last step: the time "
                "axis is gone from the label.",
            )
        )
    if not all(info.input_ok for info in analysis.layers):
        entries.append(
            LegendEntry(
                "Thick red arrow, '✗ needs …'",
                "the layer it points to cannot read what it receives (for example a sequence layer given one "
                "vector). The red note beside it, and the Fix button next to the graph, say how to mend it.",
            )
        )
    if recurrent:
        entries.append(
            LegendEntry(
                "Box colour",
                "the cell: orange LSTM, green GRU, violet simple RNN; other kinds of layer have their own pale colour.",
            )
        )
        entries.append(
            LegendEntry(
                "'params torch … · Keras …' in a box",
                "how many numbers the layer learns, counted as each framework does. Recurrent layers differ: "
                "PyTorch keeps two bias vectors per gate, Keras one.",
            )
        )
    if any(layer.num_layers > 1 for layer in recurrent):
        entries.append(
            LegendEntry(
                "Box with stacked outlines, 'N layers stacked inside'",
                "PyTorch's num_layers: one module holding N recurrent layers, each reading the sequence of the one "
                "below. The outlines count them (up to 4).",
            )
        )
    if any(layer.bidirectional for layer in recurrent):
        entries.append(
            LegendEntry(
                "⇄ forward ⊕ backward",
                "bidirectional: a second copy reads the sequence from the end; both outputs are joined, so the "
                "layer hands on 2 × units features.",
            )
        )
    if any(len(run) > 1 for run in analysis.fused_runs):
        entries.append(
            LegendEntry(
                "Dashed frame, 'one nn.LSTM(num_layers=…)'",
                "consecutive layers PyTorch can run as one module: the exported code builds them that way.",
            )
        )
    if any(isinstance(layer, (TimeWindowLayer, BatchNorm)) for layer in stack):
        entries.append(
            LegendEntry(
                "'torch: ⇅ transposed' in a box",
                "PyTorch's Conv1d, pooling and BatchNorm1d read (batch, features, time): the code swaps the last "
                "two axes before the layer and back after it.",
            )
        )
    severities = {d.severity for d in analysis.diagnostics}
    if Severity.ERROR in severities:
        entries.append(LegendEntry("Red note", "an error at the layer it is tied to, and its fix."))
    if severities - {Severity.ERROR}:
        entries.append(LegendEntry("Brown note", "a warning or a remark: the model runs, but read it."))
    if show_states and recurrent:
        entries.append(
            LegendEntry(
                "Grey dashed box beside a layer",
                "its final states as PyTorch returns them: h_n (and c_n for an LSTM), shaped "
                "(num_layers × directions, batch, units).",
            )
        )
    return entries


def _unrolled(analysis: Analysis) -> list[LegendEntry]:
    recurrent = _recurrent(analysis)
    entries = [
        LegendEntry("Columns", "time steps 1, 2, 3, …, the last: the same layer drawn once per step."),
        LegendEntry("Rows", "the layers, input x at the top, each recurrent layer's hidden state h below it."),
        LegendEntry("Arrow to the right", "the hidden state carried from one step to the next: the loop of the RNN."),
        LegendEntry("Arrow down", "what a layer hands to the layer below it in the drawing, step by step."),
        LegendEntry("'…' and dotted arrows", "the steps left out of the drawing."),
    ]
    if any(not layer.return_sequences for layer in recurrent):
        entries.append(
            LegendEntry("Thick arrows from one cell", "a layer without return_sequences hands on its last step only.")
        )
    if any(layer.bidirectional for layer in recurrent):
        entries.append(LegendEntry("Blue arrow to the left", "the backward direction of a bidirectional layer."))
    if not all(info.input_ok for info in analysis.layers):
        entries.append(
            LegendEntry("Red arrow, '✗ not a sequence'", "a layer that needs a sequence is handed one state.")
        )
    return entries

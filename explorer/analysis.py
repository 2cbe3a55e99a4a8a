"""Shapes, parameter counts and diagnostics, from the architecture alone.

Pure Python: no torch import and no forward pass, so it runs on every keystroke in microseconds.
The builder and the tests hold it to what torch and Keras 3 really do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from explorer.spec import Activation, Architecture, CellType, DenseHead, RecurrentLayer

# A plain RNN over this many steps is a textbook case of vanishing gradients.
LONG_SEQUENCE_FOR_PLAIN_RNN = 100


@dataclass(frozen=True)
class Dim:
    """One axis: a name always, a size where the architecture fixes it."""

    name: str
    size: int | None = None

    def label(self) -> str:
        return self.name if self.size is None else f"{self.name}={self.size}"

    def to_json(self) -> int | str:
        return self.name if self.size is None else self.size

    @property
    def fixed(self) -> int:
        """The size of an axis the architecture always fixes (features, units)."""
        assert self.size is not None, f"the {self.name} axis has no size"
        return self.size


Shape = tuple[Dim, ...]


def shape_label(shape: Shape) -> str:
    """`(batch=4, time=20, features=64)`; unknown sizes stay names: `(batch, time, features=64)`."""
    return "(" + ", ".join(d.label() for d in shape) + ")"


def shape_brief(shape: Shape) -> str:
    """`(batch, 20, 64)`: sizes where known; the form of Keras' summary."""
    return "(" + ", ".join(str(d.to_json()) for d in shape) + ")"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class FixAction:
    """A change that repairs a diagnostic: set `changes` on layer `layer` (0-based), the head or the input."""

    layer: int | None  # None: the head, or the input where `target` says so
    changes: tuple[tuple[str, Any], ...]
    target: str = "layer"  # "layer", "head" or "input"

    @classmethod
    def on_head(cls, **changes: Any) -> FixAction:
        return cls(None, tuple(changes.items()), "head")

    @classmethod
    def on_input(cls, **changes: Any) -> FixAction:
        return cls(None, tuple(changes.items()), "input")


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    layer: int  # 1-based as in the messages; 0 is the stack as a whole, len(layers) + 1 the head
    code: str
    message: str
    fix: str
    action: FixAction | None = None


@dataclass(frozen=True)
class LayerAnalysis:
    index: int  # 1-based; the head is len(layers) + 1
    kind: str  # LSTM, GRU, RNN or Dense
    input_shape: Shape
    output_shape: Shape
    params_torch: int
    params_keras: int
    params_formula: str  # how params_torch and params_keras add up, in numbers
    input_ok: bool = True  # False: the edge into this layer carries the wrong rank
    h_n: Shape | None = None
    c_n: Shape | None = None
    fused_run: tuple[int, ...] = ()  # 1-based layers sharing one torch module with this one
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    architecture: Architecture
    input_shape: Shape
    layers: tuple[LayerAnalysis, ...]  # recurrent layers in order, then the head
    diagnostics: tuple[Diagnostic, ...]
    fused_runs: tuple[tuple[int, ...], ...]  # 0-based indices, every layer in exactly one run

    @property
    def recurrent(self) -> tuple[LayerAnalysis, ...]:
        return self.layers[: len(self.architecture.layers)]

    @property
    def head(self) -> LayerAnalysis | None:
        return self.layers[-1] if self.architecture.head is not None else None

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def total_params_torch(self) -> int:
        return sum(layer.params_torch for layer in self.layers)

    @property
    def total_params_keras(self) -> int:
        return sum(layer.params_keras for layer in self.layers)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape


# --- parameter counts ------------------------------------------------------------------------


def _recurrent_params(layer: RecurrentLayer, input_features: int, biases: int) -> int:
    """Per internal layer and direction: input weights, recurrent weights and `biases` bias vectors per gate."""
    units, total = layer.units, 0
    for k in range(layer.num_layers):
        fan_in = input_features if k == 0 else layer.output_features
        total += layer.directions * layer.type.gates * (units * fan_in + units * units + biases * units)
    return total


def params_torch(layer: RecurrentLayer, input_features: int) -> int:
    """torch keeps weight_ih, weight_hh, bias_ih and bias_hh per internal layer and direction."""
    return _recurrent_params(layer, input_features, biases=2)


def params_keras(layer: RecurrentLayer, input_features: int) -> int:
    """Keras 3 keeps one bias per gate block, except GRU whose default reset_after=True keeps two.

    num_layers becomes that many Keras layers (see codegen), so the count is theirs summed.
    """
    return _recurrent_params(layer, input_features, biases=2 if layer.type is CellType.GRU else 1)


def dense_params(input_features: int, units: int) -> int:
    return (input_features + 1) * units


_GATE_NAMES = {CellType.LSTM: "4 gates (i, f, g, o)", CellType.GRU: "3 gates (r, z, n)"}  # a plain RNN has one


def params_formula(layer: RecurrentLayer, input_features: int) -> str:
    """How the count adds up, with b the bias vectors per gate: the one term where PyTorch and Keras part."""
    units = layer.units
    fan_ins = [input_features] + [layer.output_features] * (layer.num_layers - 1)
    terms = " + ".join(f"({units}×{fan_in} + {units}×{units} + b×{units})" for fan_in in fan_ins)
    if len(fan_ins) > 1:  # internal layers past the first read the one below: units × directions features
        terms = f"[{terms}]"
    if layer.type in _GATE_NAMES:
        terms = f"{_GATE_NAMES[layer.type]} × {terms}"
    if layer.directions == 2:
        terms = f"2 directions × {terms}"
    torch_count = params_torch(layer, input_features)
    if layer.type is CellType.GRU:  # Keras' default reset_after=True keeps a second bias, like torch
        return f"{terms}; b = 2 in both (bias_ih and bias_hh; Keras' GRU with reset_after=True): {torch_count:,}"
    keras_count = params_keras(layer, input_features)
    return f"{terms}; PyTorch b = 2 (bias_ih and bias_hh): {torch_count:,}; Keras b = 1: {keras_count:,}"


# --- fusion ----------------------------------------------------------------------------------


def can_fuse(first: RecurrentLayer, second: RecurrentLayer) -> bool:
    """Two layers are one torch module with num_layers summed when nothing observable changes:
    same cell, width and directions, the first hands on its sequence, and no dropout anywhere
    (a fused module would apply its dropout at the seam too, where the separate form has none)."""
    return (
        first.return_sequences
        and (first.type, first.units, first.bidirectional) == (second.type, second.units, second.bidirectional)
        and first.effective_dropout == 0.0
        and second.effective_dropout == 0.0
    )


def fused_runs(arch: Architecture) -> tuple[tuple[int, ...], ...]:
    """Partition the layers (0-based) into runs that can share one module."""
    runs: list[list[int]] = []
    for i, layer in enumerate(arch.layers):
        if runs and can_fuse(arch.layers[i - 1], layer):
            runs[-1].append(i)
        else:
            runs.append([i])
    return tuple(tuple(run) for run in runs)


# --- the analysis ----------------------------------------------------------------------------


def layer_name(arch: Architecture, index: int) -> str:
    """`layer 2 (GRU)` for 0-based index 1."""
    return f"layer {index + 1} ({arch.layers[index].type.value})"


def short_layer_names(arch: Architecture) -> list[str]:
    """`1 LSTM`, `2 GRU`: the layers' names on charts and in gradient reports."""
    return [f"{i + 1} {layer.type.value}" for i, layer in enumerate(arch.layers)]


def analyze(arch: Architecture) -> Analysis:
    batch = Dim("batch", arch.input.batch)
    input_shape: Shape = (batch, Dim("time", arch.input.seq_len), Dim("features", arch.input.features))
    runs = fused_runs(arch)
    run_of = {i: run for run in runs for i in run}
    diagnostics: list[Diagnostic] = []
    results: list[LayerAnalysis] = []
    if not arch.layers:
        diagnostics.append(_empty_stack(arch, input_shape))
    current = input_shape
    for i in range(len(arch.layers)):
        info = _recurrent_layer(arch, i, current, run_of[i])
        if not info.input_ok:
            diagnostics.append(_needs_sequence(arch, i, current))
        diagnostics.extend(_layer_warnings(arch, i))
        results.append(info)
        current = info.output_shape
    if arch.head is not None:
        results.append(_dense_head(arch.head, len(arch.layers) + 1, current))
        diagnostics.extend(_head_warnings(arch.head, len(arch.layers) + 1))
    return Analysis(arch, input_shape, tuple(results), tuple(diagnostics), runs)


def _empty_stack(arch: Architecture, input_shape: Shape) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        0,
        "empty-stack",
        f"The stack has no recurrent layer: the input {shape_label(input_shape)} goes straight "
        + ("to the Dense head." if arch.head else "to the output."),
        "Add an LSTM, GRU or RNN layer.",
    )


def _recurrent_layer(arch: Architecture, i: int, received: Shape, run: tuple[int, ...]) -> LayerAnalysis:
    """Layer i (0-based) on the shape it receives, also when that shape is wrong (the rest still draws)."""
    layer, batch, time = arch.layers[i], received[0], Dim("time", arch.input.seq_len)
    features = received[-1].fixed  # every feature axis is sized: only batch and time may be open
    out_features = Dim("features", layer.output_features)
    output: Shape = (batch, time, out_features) if layer.return_sequences else (batch, out_features)
    notes = [
        "hands on every time step" if layer.return_sequences else _last_step_note(layer, arch.input.seq_len is None)
    ]
    if layer.bidirectional:
        notes.append(f"bidirectional: forward ⊕ backward = 2 × {layer.units} = {layer.output_features} features")
    if layer.num_layers > 1:
        dropout = f", dropout {layer.dropout:g} between them" if layer.dropout else ""
        notes.append(f"{layer.num_layers} {layer.type.value} layers stacked inside one module{dropout}")
    if len(run) > 1:
        total = sum(arch.layers[j].num_layers for j in run)
        notes.append(f"fused: layers {run[0] + 1}–{run[-1] + 1} run as one nn.{layer.type.value}(num_layers={total})")
    state: Shape = (Dim("layers*directions", layer.num_layers * layer.directions), batch, Dim("units", layer.units))
    return LayerAnalysis(
        index=i + 1,
        kind=layer.type.value,
        input_shape=received,
        output_shape=output,
        params_torch=params_torch(layer, features),
        params_keras=params_keras(layer, features),
        params_formula=params_formula(layer, features),
        input_ok=len(received) == 3,
        h_n=state,
        c_n=state if layer.type is CellType.LSTM else None,
        fused_run=tuple(j + 1 for j in run) if len(run) > 1 else (),
        notes=tuple(notes),
    )


def _dense_head(head: DenseHead, index: int, received: Shape) -> LayerAnalysis:
    features = received[-1].fixed
    count = dense_params(features, head.units)
    notes = []
    if len(received) == 3:
        notes.append("applied at every time step, as Keras' Dense on a 3-D input")
    if head.activation is not None:
        notes.append(f"{head.activation.value} over the last axis")
    return LayerAnalysis(
        index=index,
        kind="Dense",
        input_shape=received,
        output_shape=(*received[:-1], Dim("features", head.units)),
        params_torch=count,
        params_keras=count,
        params_formula=f"{features}×{head.units} weights + {head.units} biases, in both: {count:,}",
        notes=tuple(notes),
    )


def _head_warnings(head: DenseHead, index: int) -> list[Diagnostic]:
    if head.activation is Activation.SOFTMAX and head.units == 1:
        return [
            Diagnostic(
                Severity.WARNING,
                index,
                "softmax-one-unit",
                "The Dense head has 1 unit with softmax: a softmax over one value is always 1.0, "
                "so the output never changes and the model cannot learn.",
                "Use sigmoid for one binary output, or give the head one unit per class (2 or more).",
                FixAction.on_head(activation=Activation.SIGMOID),
            )
        ]
    return []


def _last_step_note(layer: RecurrentLayer, variable_length: bool) -> str:
    if layer.bidirectional:
        return (
            "hands on only its final states: forward at the last step ⊕ backward at step 0 "
            "(h_n[-2] ⊕ h_n[-1], not output[:, -1])"
        )
    if variable_length:
        return "hands on only the last valid step of each sequence (h_n[-1] of the packed sequence)"
    return "hands on only its last time step (output[:, -1] = h_n[-1])"


def _needs_sequence(arch: Architecture, index: int, received: Shape) -> Diagnostic:
    """The most repeated Keras complaint: 'expected ndim=3, found ndim=2'."""
    prev = index - 1
    wanted = (received[0], Dim("time", arch.input.seq_len), received[1])
    name, prev_name = layer_name(arch, index), layer_name(arch, prev)
    return Diagnostic(
        Severity.ERROR,
        index + 1,
        "needs-sequence",
        f"{name} needs a sequence {shape_label(wanted)} but {prev_name} returns only its last state "
        f"{shape_label(received)} (in Keras: 'expected ndim=3, found ndim=2').",
        f"Set return_sequences=True on layer {prev + 1}.",
        FixAction(prev, (("return_sequences", True),)),
    )


def _layer_warnings(arch: Architecture, index: int) -> list[Diagnostic]:
    layer, name, found = arch.layers[index], layer_name(arch, index), []
    if layer.dropout > 0 and layer.num_layers == 1:
        found.append(
            Diagnostic(
                Severity.WARNING,
                index + 1,
                "dropout-ignored",
                f"{name} has dropout={layer.dropout:g} with num_layers=1: torch applies this dropout only "
                "between the layers inside one module, so here it does nothing (torch warns).",
                f"Set num_layers to 2 or more on layer {index + 1}, or set its dropout to 0.",
                FixAction(index, (("dropout", 0.0),)),
            )
        )
    seq_len = arch.input.seq_len
    if layer.type is CellType.RNN and seq_len is not None and seq_len >= LONG_SEQUENCE_FOR_PLAIN_RNN:
        found.append(
            Diagnostic(
                Severity.WARNING,
                index + 1,
                "plain-rnn-long-sequence",
                f"{name} is a plain RNN over {seq_len} time steps: its gradients vanish over long "
                "sequences, so it struggles to learn anything that spans more than a few dozen steps.",
                f"Use an LSTM or GRU for layer {index + 1}.",
                FixAction(index, (("type", CellType.LSTM),)),
            )
        )
    return found


class ArchitectureInvalid(ValueError):
    """Raised where a valid architecture is needed (building, export); lists the errors and fixes."""


def require_valid(arch: Architecture, purpose: str) -> Analysis:
    analysis = analyze(arch)
    if not analysis.valid:
        problems = "; ".join(f"{d.message} Fix: {d.fix}" for d in analysis.errors)
        raise ArchitectureInvalid(f"cannot {purpose} this architecture: {problems}")
    return analysis


def apply_fix(arch: Architecture, action: FixAction) -> Architecture:
    changes = dict(action.changes)
    if action.target == "input":
        return replace(arch, input=replace(arch.input, **changes))
    if action.target == "head":
        # A missing head is created whole: the fix then names every field it needs.
        head = replace(arch.head, **changes) if arch.head is not None else DenseHead(**changes)
        return replace(arch, head=head)
    assert action.layer is not None  # a layer's fix names its layer
    return arch.with_layer(action.layer, **changes)

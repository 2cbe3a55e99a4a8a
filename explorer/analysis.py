"""Shapes, parameter counts and diagnostics, from the architecture alone.

Pure Python: no torch import and no forward pass, so it runs on every keystroke in microseconds.
It walks the stack and asks each layer's kind (explorer/layers) what it makes of the shape it receives;
what concerns two layers at once (a layer handed the wrong kind of tensor, and the fix that fits) is here.
The builder and the tests hold it to what torch and Keras 3 really do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from explorer.findings import Diagnostic as Diagnostic
from explorer.findings import FixAction as FixAction
from explorer.findings import Severity as Severity
from explorer.layers.base import Layer
from explorer.layers.embedding import Embedding
from explorer.layers.recurrent import RecurrentLayer, can_fuse
from explorer.layers.reshape import Flatten, GlobalAvgPool1D, GlobalPool1D, RepeatVector
from explorer.shapes import Dim as Dim
from explorer.shapes import Form, Shape, form
from explorer.shapes import shape_brief as shape_brief
from explorer.shapes import shape_label as shape_label
from explorer.spec import Architecture, Dense


@dataclass(frozen=True)
class LayerAnalysis:
    index: int  # 1-based; the head is len(layers) + 1
    kind: str  # the canonical type: LSTM, GRU, RNN, Dense, Conv1D, ...
    input_shape: Shape  # what the layer receives (wrong where input_ok is False)
    output_shape: Shape
    params_torch: int
    params_keras: int
    params_formula: str  # how params_torch and params_keras add up, in numbers
    input_ok: bool = True  # False: the edge into this layer carries the wrong kind of tensor
    h_n: Shape | None = None
    c_n: Shape | None = None
    fused_run: tuple[int, ...] = ()  # 1-based layers sharing one torch module with this one
    notes: tuple[str, ...] = ()
    lengths: bool = False  # a padded batch's lengths still describe the output's time axis


@dataclass(frozen=True)
class Analysis:
    architecture: Architecture
    input_shape: Shape
    layers: tuple[LayerAnalysis, ...]  # every layer in order, then the head
    diagnostics: tuple[Diagnostic, ...]
    fused_runs: tuple[tuple[int, ...], ...]  # 0-based indices into the stack, every layer in exactly one run

    @property
    def recurrent(self) -> tuple[LayerAnalysis, ...]:
        """The recurrent layers' analyses, in order."""
        return tuple(info for info in self.layers if info.h_n is not None)

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


# --- fusion ----------------------------------------------------------------------------------


def fused_runs(arch: Architecture) -> tuple[tuple[int, ...], ...]:
    """Partition the stack (0-based) into runs that can share one module: consecutive recurrent layers that
    can fuse; every other layer is a run of its own."""
    runs: list[list[int]] = []
    stack = arch.stack
    for i, layer in enumerate(stack):
        previous = stack[i - 1] if i else None
        if (
            runs
            and isinstance(layer, RecurrentLayer)
            and isinstance(previous, RecurrentLayer)
            and can_fuse(previous, layer)
        ):
            runs[-1].append(i)
        else:
            runs.append([i])
    return tuple(tuple(run) for run in runs)


# --- the analysis ----------------------------------------------------------------------------


def layer_name(arch: Architecture, index: int) -> str:
    """`layer 2 (GRU)` for 0-based index 1."""
    return f"layer {index + 1} ({arch.stack[index].kind})"


def short_layer_names(arch: Architecture) -> list[str]:
    """`1 LSTM`, `2 GRU`: the layers' names on charts and in gradient reports (the head's too)."""
    return [f"{i + 1} {layer.kind}" for i, layer in enumerate(arch.stack)]


def input_shape(arch: Architecture) -> Shape:
    batch, time = Dim("batch", arch.input.batch), Dim("time", arch.input.seq_len)
    if arch.input.tokens:
        return (batch, time)
    return (batch, time, Dim("features", arch.input.features))


def analyze(arch: Architecture) -> Analysis:
    start = input_shape(arch)
    runs = fused_runs(arch)
    run_of = {i: run for run in runs for i in run}
    diagnostics: list[Diagnostic] = []
    results: list[LayerAnalysis] = []
    if not arch.layers:
        diagnostics.append(_empty_stack(arch, start))
    current, lengths = start, arch.input.seq_len is None
    for i, layer in enumerate(arch.stack):
        ok = form(current) in layer.ACCEPTS
        received = current if ok else _as_accepted(current, layer, arch)
        if not ok:
            diagnostics.append(_wrong_input(arch, i, current, results))
        inferred = layer.infer(received, lengths)
        diagnostics.extend(layer.warnings(i, received, lengths))
        run = run_of[i]
        notes = inferred.notes
        if len(run) > 1:
            first = arch.stack[run[0]]
            assert isinstance(first, RecurrentLayer)
            total = sum(arch.stack[j].depth for j in run)
            notes += (f"fused: layers {run[0] + 1}–{run[-1] + 1} run as one nn.{first.kind}(num_layers={total})",)
        lengths = lengths and inferred.keeps_lengths
        results.append(
            LayerAnalysis(
                index=i + 1,
                kind=layer.kind,
                input_shape=current,
                output_shape=inferred.output_shape,
                params_torch=inferred.params_torch,
                params_keras=inferred.params_keras,
                params_formula=inferred.params_formula,
                input_ok=ok,
                h_n=inferred.h_n,
                c_n=inferred.c_n,
                fused_run=tuple(j + 1 for j in run) if len(run) > 1 else (),
                notes=notes,
                lengths=lengths,
            )
        )
        current = inferred.output_shape
    return Analysis(arch, start, tuple(results), tuple(diagnostics), runs)


def _as_accepted(received: Shape, layer: Layer, arch: Architecture) -> Shape:
    """The shape a layer would have wanted, so that a wrongly fed layer is still analysed (and the rest drawn)."""
    batch = received[0]
    time = received[1] if form(received) is not Form.VECTOR else Dim("time", arch.input.seq_len)
    width = received[-1] if form(received) is not Form.TOKENS else Dim("features", 1)
    if Form.SEQUENCE in layer.ACCEPTS:
        return (batch, time, width)
    if Form.VECTOR in layer.ACCEPTS:
        return (batch, width)
    return (batch, time)


def _empty_stack(arch: Architecture, start: Shape) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        0,
        "empty-stack",
        f"The stack has no layer: the input {shape_label(start)} goes straight "
        + ("to the Dense head." if arch.head else "to the output."),
        "Add an LSTM, GRU or RNN layer.",
    )


def _wrong_input(arch: Architecture, index: int, received: Shape, before: list[LayerAnalysis]) -> Diagnostic:
    """Layer `index` (0-based) is handed a kind of tensor it cannot read: say which, and the fix that fits."""
    layer, got = arch.stack[index], form(received)
    name = layer_name(arch, index)
    if Form.TOKENS in layer.ACCEPTS:
        return _embedding_misplaced(arch, index, received)
    if got is Form.TOKENS:
        return Diagnostic(
            Severity.ERROR,
            index + 1,
            "tokens-need-embedding",
            f"The input is token ids {shape_label(received)}, but {name} needs real-valued features: "
            "integer ids go through an Embedding first, which turns each id into a learned vector.",
            "Put an Embedding in front of the stack (vocabulary 1000, 32 dimensions; set them to your data's).",
            FixAction.insert(0, Embedding(vocab=1000, dim=32)),
        )
    if got is Form.VECTOR:
        return _needs_sequence(arch, index, received, before)
    return _needs_vector(arch, index, received)


def _embedding_misplaced(arch: Architecture, index: int, received: Shape) -> Diagnostic:
    name = layer_name(arch, index)
    if index > 0:
        return Diagnostic(
            Severity.ERROR,
            index + 1,
            "embedding-not-first",
            f"{name} reads token ids, so it must be the first layer; here it gets {shape_label(received)} "
            f"from {layer_name(arch, index - 1)}.",
            f"Move layer {index + 1} to the front of the stack.",
            FixAction.move(index, 0),
        )
    return Diagnostic(
        Severity.ERROR,
        index + 1,
        "embedding-needs-tokens",
        f"{name} reads token ids (batch, time), but the input is real-valued features {shape_label(received)} "
        "(in torch: 'Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int').",
        "Set the input to token ids.",
        FixAction.on_input(tokens=True, features=None),
    )


def _needs_sequence(arch: Architecture, index: int, received: Shape, before: list[LayerAnalysis]) -> Diagnostic:
    """The most repeated Keras complaint: 'expected ndim=3, found ndim=2'. The fix goes to the layer that ended
    the time axis: return_sequences on a recurrent layer (or a RepeatVector before a decoder), or the pooling
    moved after this layer."""
    layer, name = arch.stack[index], layer_name(arch, index)
    wanted = (received[0], Dim("time", arch.input.seq_len), received[-1])
    ender = next(j for j in range(index - 1, -1, -1) if form(before[j].input_shape) is Form.SEQUENCE)
    ender_layer, ender_name = arch.stack[ender], layer_name(arch, ender)
    message = f"{name} needs a sequence {shape_label(wanted)} but "
    if ender == index - 1:
        what = "its last state" if isinstance(ender_layer, RecurrentLayer) else "one vector per example"
        message += f"{ender_name} returns only {what} {shape_label(received)}"
    else:
        message += f"it gets {shape_label(received)}: {ender_name} ended the time axis"
    message += " (in Keras: 'expected ndim=3, found ndim=2')."
    if isinstance(ender_layer, RecurrentLayer):
        decoder = isinstance(layer, RecurrentLayer) and layer.return_sequences and ender == index - 1
        if decoder:  # an encoder's summary read by a decoder that makes a sequence: the encoder–decoder pattern
            steps = arch.input.seq_len or 20
            return Diagnostic(
                Severity.ERROR,
                index + 1,
                "needs-sequence",
                message + f" {ender_name} reads like an encoder, and {name} like a decoder.",
                f"Put a RepeatVector({steps}) before layer {index + 1} (an encoder–decoder), or set "
                f"return_sequences=True on layer {ender + 1}.",
                FixAction.insert(index, RepeatVector(n=steps)),
            )
        return Diagnostic(
            Severity.ERROR,
            index + 1,
            "needs-sequence",
            message,
            f"Set return_sequences=True on layer {ender + 1}.",
            FixAction(ender, (("return_sequences", True),)),
        )
    if isinstance(ender_layer, (GlobalPool1D, Flatten)):
        if len(layer.infer(wanted, False).output_shape) == 2:  # this layer sums the sequence up itself
            return Diagnostic(
                Severity.ERROR,
                index + 1,
                "needs-sequence",
                message,
                f"Remove layer {ender + 1} ({ender_layer.kind}): layer {index + 1} sums the sequence up itself.",
                FixAction.remove(ender),
            )
        return Diagnostic(
            Severity.ERROR,
            index + 1,
            "needs-sequence",
            message,
            f"Move layer {ender + 1} ({ender_layer.kind}) after layer {index + 1}, so that it sums up its sequence.",
            FixAction.move(ender, index),
        )
    return Diagnostic(Severity.ERROR, index + 1, "needs-sequence", message, f"Remove layer {index + 1}.")


def _needs_vector(arch: Architecture, index: int, received: Shape) -> Diagnostic:
    """A RepeatVector handed a sequence: it repeats one vector per example."""
    name, previous = layer_name(arch, index), arch.stack[index - 1] if index else None
    message = (
        f"{name} repeats one vector per example (batch, features) but gets a sequence {shape_label(received)} "
        "(in Keras: 'expected ndim=2, found ndim=3')."
    )
    if isinstance(previous, RecurrentLayer) and previous.return_sequences:
        return Diagnostic(
            Severity.ERROR,
            index + 1,
            "needs-vector",
            message,
            f"Set return_sequences=False on layer {index}, so that it hands on its final state.",
            FixAction(index - 1, (("return_sequences", False),)),
        )
    return Diagnostic(
        Severity.ERROR,
        index + 1,
        "needs-vector",
        message,
        f"Put a GlobalAvgPool1D before layer {index + 1} to sum the sequence up.",
        FixAction.insert(index, GlobalAvgPool1D()),
    )


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
    on_head = action.target == "head" or (action.layer == len(arch.layers) and arch.head is not None)
    if on_head:
        # A missing head is created whole: the fix then names every field it needs.
        head = replace(arch.head, **changes) if arch.head is not None else Dense(**changes)
        return replace(arch, head=head)
    assert action.layer is not None  # every other fix names its layer
    layers = list(arch.layers)
    if action.target == "insert":
        layers.insert(action.layer, action.new_layer)
    elif action.target == "remove":
        del layers[action.layer]
    elif action.target == "move":
        assert action.to is not None
        layers.insert(action.to, layers.pop(action.layer))
    else:
        return arch.with_layer(action.layer, **changes)
    return replace(arch, layers=tuple(layers))

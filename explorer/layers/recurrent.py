"""LSTM, GRU and simple RNN layers: Keras' return_sequences, bidirectional, torch's num_layers and dropout."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from explorer.findings import Diagnostic, FixAction, Severity
from explorer.layers.base import BoolField, ChoiceField, Group, Inferred, IntField, Layer, NodeStyle, RateField, rule
from explorer.shapes import Dim, Form, Shape, shape_label

if TYPE_CHECKING:
    from torch import nn

# A plain RNN over this many steps is a textbook case of vanishing gradients.
LONG_SEQUENCE_FOR_PLAIN_RNN = 100


class CellType(str, Enum):
    LSTM = "LSTM"
    GRU = "GRU"
    RNN = "RNN"  # Elman (Keras' SimpleRNN)

    @property
    def gates(self) -> int:
        """Weight blocks per cell: LSTM has input/forget/cell/output, GRU reset/update/new."""
        return _GATES[self.value]


_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


class CellActivation(str, Enum):
    TANH = "tanh"
    RELU = "relu"


class LastStep(str, Enum):
    """What a layer without return_sequences hands on."""

    STATE = "state"  # the final state: Keras, and h_n in torch
    OUTPUT = "output"  # torch's output[:, -1] idiom


CELL_COLORS = {CellType.LSTM: "#fff4e0", CellType.GRU: "#e9f7ef", CellType.RNN: "#f3e8fd"}
_KERAS_CELLS = {CellType.LSTM: "LSTM", CellType.GRU: "GRU", CellType.RNN: "SimpleRNN"}
_GATE_NAMES = {CellType.LSTM: "4 gates (i, f, g, o)", CellType.GRU: "3 gates (r, z, n)"}  # a plain RNN has one


@dataclass(frozen=True)
class RecurrentLayer(Layer):
    KIND: ClassVar[str] = "recurrent"  # files name the cell instead: LSTM, GRU or RNN (see `kind`)
    GROUP: ClassVar[Group] = Group.RECURRENT
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.SEQUENCE})
    SUMMARY: ClassVar[str] = "reads a sequence step by step, carrying a hidden state"

    type: CellType
    units: int = rule(
        IntField(1, "max_units", help="size of the hidden state: the features this layer hands on (on its out-arrow)")
    )
    return_sequences: bool = rule(
        BoolField(
            help="on: hand on the output at every time step (graph: a solid arrow with a time axis); off: only the "
            "last one, Keras' default (graph: a dashed arrow, 'last step only', no time axis)"
        ),
        False,
    )
    bidirectional: bool = rule(
        BoolField(
            help="a second copy reads the sequence backwards; the outputs are joined: 2 × units features (graph: "
            "'⇄ forward ⊕ backward' in the box, features doubled on the out-arrow)"
        ),
        False,
    )
    dropout: float = rule(
        RateField(
            help="torch's dropout between the layers stacked inside (num_layers > 1), while training only: no "
            "weights, no change of shape"
        ),
        0.0,
    )
    num_layers: int = rule(
        IntField(
            1,
            "max_num_layers",
            help="torch's num_layers: layers stacked in one module, each reading the one below's sequence (graph: "
            "stacked outlines round the box)",
        ),
        1,
    )
    activation: CellActivation = rule(
        ChoiceField(CellActivation, help="the cell's activation; relu exists in torch only for the simple RNN"),
        CellActivation.TANH,
    )
    bias: bool = rule(BoolField(help="bias vectors in every gate"), True)
    input_dropout: float = rule(RateField(help="Keras' dropout= on the inputs, inside the cell (Keras only)"), 0.0)
    recurrent_dropout: float = rule(RateField(help="Keras' recurrent_dropout= on the state (Keras only)"), 0.0)
    last_step: LastStep = rule(
        ChoiceField(LastStep, help="without return_sequences: the final state (Keras), or torch's output[:, -1]"),
        LastStep.STATE,
    )

    ADVANCED: ClassVar[frozenset[str]] = frozenset(
        {"activation", "bias", "input_dropout", "recurrent_dropout", "last_step"}
    )

    @property
    def kind(self) -> str:
        return self.type.value

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        """As wide as the recurrent layer before it (or 32), and hands on the last step, as in Keras (an LSTM;
        the registry sets the cell)."""
        return cls(CellType.LSTM, previous.units if isinstance(previous, RecurrentLayer) else 32)

    def node_style(self) -> NodeStyle:
        return NodeStyle("box", CELL_COLORS[self.type])

    @property
    def depth(self) -> int:
        return self.num_layers

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_features(self) -> int:
        return self.units * self.directions

    @property
    def effective_dropout(self) -> float:
        """torch ignores dropout when there is no second internal layer to apply it before."""
        return self.dropout if self.num_layers > 1 else 0.0

    @property
    def torch_exact(self) -> bool:
        """torch's modules have no relu LSTM/GRU and no in-cell dropout: the torch model leaves those out."""
        relu = self.activation is CellActivation.RELU and self.type is not CellType.RNN
        return not relu and not self.input_dropout and not self.recurrent_dropout

    def options(self) -> list[str]:
        """`return_sequences`, `bidirectional`, `num_layers=2`, ...: the options that are on."""
        options = []
        if self.return_sequences:
            options.append("return_sequences")
        if self.bidirectional:
            options.append("bidirectional")
        if self.num_layers > 1:
            options.append(f"num_layers={self.num_layers}")
        if self.dropout:
            options.append(f"dropout={self.dropout:g}")
        if self.activation is not CellActivation.TANH:
            options.append(self.activation.value)
        if not self.bias:
            options.append("no bias")
        if self.input_dropout:
            options.append(f"input_dropout={self.input_dropout:g}")
        if self.recurrent_dropout:
            options.append(f"recurrent_dropout={self.recurrent_dropout:g}")
        if self.last_step is LastStep.OUTPUT and not self.return_sequences:
            options.append("output[:, -1]")
        return options

    def brief(self) -> str:
        return f"{self.type.value}{self.units}"

    def title(self) -> str:
        return f"{self.type.value}({', '.join([str(self.units), *self.options()])})"

    # --- parameters ------------------------------------------------------------------------

    def _params(self, input_features: int, biases: int) -> int:
        """Per internal layer and direction: input weights, recurrent weights and `biases` bias vectors per gate."""
        units, total = self.units, 0
        for k in range(self.num_layers):
            fan_in = input_features if k == 0 else self.output_features
            total += self.directions * self.type.gates * (units * fan_in + units * units + biases * units)
        return total

    def params_torch(self, input_features: int) -> int:
        """torch keeps weight_ih, weight_hh, bias_ih and bias_hh per internal layer and direction."""
        return self._params(input_features, biases=2 if self.bias else 0)

    def params_keras(self, input_features: int) -> int:
        """Keras 3 keeps one bias per gate block, except GRU whose default reset_after=True keeps two.
        num_layers becomes that many Keras layers (see keras_layers), so the count is theirs summed."""
        return self._params(input_features, biases=(2 if self.type is CellType.GRU else 1) if self.bias else 0)

    def params_formula(self, input_features: int) -> str:
        """How the count adds up, with b the bias vectors per gate: the one term where PyTorch and Keras part."""
        units = self.units
        fan_ins = [input_features] + [self.output_features] * (self.num_layers - 1)
        bias = " + b×{units}" if self.bias else ""
        terms = " + ".join(f"({units}×{fan_in} + {units}×{units}{bias.format(units=units)})" for fan_in in fan_ins)
        if len(fan_ins) > 1:  # internal layers past the first read the one below: units × directions features
            terms = f"[{terms}]"
        if self.type in _GATE_NAMES:
            terms = f"{_GATE_NAMES[self.type]} × {terms}"
        if self.directions == 2:
            terms = f"2 directions × {terms}"
        torch_count = self.params_torch(input_features)
        if not self.bias:
            return f"{terms}, no bias vectors, in both: {torch_count:,}"
        if self.type is CellType.GRU:  # Keras' default reset_after=True keeps a second bias, like torch
            return f"{terms}; b = 2 in both (bias_ih and bias_hh; Keras' GRU with reset_after=True): {torch_count:,}"
        keras_count = self.params_keras(input_features)
        return f"{terms}; PyTorch b = 2 (bias_ih and bias_hh): {torch_count:,}; Keras b = 1: {keras_count:,}"

    # --- shapes ----------------------------------------------------------------------------

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        batch, time = received[0], received[1]
        features = received[-1].fixed
        out = Dim("features", self.output_features)
        output: Shape = (batch, time, out) if self.return_sequences else (batch, out)
        notes = ["hands on every time step" if self.return_sequences else self._last_step_note(lengths)]
        if self.bidirectional:
            notes.append(f"bidirectional: forward ⊕ backward = 2 × {self.units} = {self.output_features} features")
        if self.num_layers > 1:
            dropout = f", dropout {self.dropout:g} between them" if self.dropout else ""
            notes.append(f"{self.num_layers} {self.type.value} layers stacked inside one module{dropout}")
        if not self.torch_exact:
            notes.append("the torch model " + self._torch_leaves_out())
        state: Shape = (Dim("layers*directions", self.num_layers * self.directions), batch, Dim("units", self.units))
        return Inferred(
            output_shape=output,
            params_torch=self.params_torch(features),
            params_keras=self.params_keras(features),
            params_formula=self.params_formula(features),
            notes=tuple(notes),
            h_n=state,
            c_n=state if self.type is CellType.LSTM else None,
            keeps_lengths=self.return_sequences,
        )

    def _last_step_note(self, lengths: bool) -> str:
        if self.last_step is LastStep.OUTPUT:
            if self.bidirectional:
                return "hands on output[:, -1]: forward at the last step ⊕ backward after one step only"
            if lengths:
                return "hands on output[:, -1]: the last padded position, zeros for shorter sequences"
            return "hands on only its last time step (output[:, -1] = h_n[-1])"
        if self.bidirectional:
            return (
                "hands on only its final states: forward at the last step ⊕ backward at step 0 "
                "(h_n[-2] ⊕ h_n[-1], not output[:, -1])"
            )
        if lengths:
            return "hands on only the last valid step of each sequence (h_n[-1] of the packed sequence)"
        return "hands on only its last time step (output[:, -1] = h_n[-1])"

    def _torch_leaves_out(self) -> str:
        missing = []
        if self.activation is CellActivation.RELU and self.type is not CellType.RNN:
            missing.append(f"uses tanh: torch's nn.{self.type.value} has no relu option")
        dropouts = [f"{name}={getattr(self, name):g}" for name in ("input_dropout", "recurrent_dropout")]
        dropouts = [d for d in dropouts if not d.endswith("=0")]
        if dropouts:
            missing.append(f"leaves out {' and '.join(dropouts)}: torch's modules have no in-cell dropout")
        return "; ".join(missing) + " (the Keras code keeps it)"

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        name, number, found = f"layer {index + 1} ({self.kind})", index + 1, []
        if self.dropout > 0 and self.num_layers == 1:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    number,
                    "dropout-ignored",
                    f"{name} has dropout={self.dropout:g} with num_layers=1: torch applies this dropout only "
                    "between the layers inside one module, so here it does nothing (torch warns).",
                    f"Set num_layers to 2 or more on layer {number}, or set its dropout to 0.",
                    FixAction(index, (("dropout", 0.0),)),
                )
            )
        seq_len = received[1].size if len(received) == 3 else None
        if self.type is CellType.RNN and seq_len is not None and seq_len >= LONG_SEQUENCE_FOR_PLAIN_RNN:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    number,
                    "plain-rnn-long-sequence",
                    f"{name} is a plain RNN over {seq_len} time steps: its gradients vanish over long "
                    "sequences, so it struggles to learn anything that spans more than a few dozen steps.",
                    f"Use an LSTM or GRU for layer {number}.",
                    FixAction(index, (("type", CellType.LSTM),)),
                )
            )
        if self.activation is CellActivation.RELU and self.type is not CellType.RNN:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    number,
                    "relu-cell-not-in-torch",
                    f"{name} uses relu, which Keras allows but torch's nn.{self.type.value} does not (only nn.RNN "
                    "has nonlinearity='relu'): the torch model and the PyTorch code use tanh, the Keras code relu.",
                    f"Use tanh on layer {number}, or a simple RNN for a relu cell in both.",
                    FixAction(index, (("activation", CellActivation.TANH),)),
                )
            )
        if self.input_dropout or self.recurrent_dropout:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    number,
                    "cell-dropout-not-in-torch",
                    f"{name} has Keras' in-cell dropout (input_dropout={self.input_dropout:g}, "
                    f"recurrent_dropout={self.recurrent_dropout:g}); torch's modules have none, so the torch model "
                    "and the PyTorch code train without it (the Keras code keeps it). torch's own dropout= is "
                    "another thing: between the layers stacked inside one module.",
                    f"Put a Dropout layer after layer {number} (both frameworks have it), or keep it for Keras only.",
                    FixAction(index, (("input_dropout", 0.0), ("recurrent_dropout", 0.0))),
                )
            )
        if self.last_step is LastStep.OUTPUT and not self.return_sequences and (self.bidirectional or lengths):
            why = (
                "the backward half of output[:, -1] has read only the last step, while its final state has read "
                "the whole sequence"
                if self.bidirectional
                else "in a padded batch output[:, -1] is the padding's position (zeros), not each sequence's "
                "last valid step"
            )
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    number,
                    "last-step-output-differs",
                    f"{name} hands on output[:, -1], which differs from its final state here: {why}.",
                    f"Hand on the final state on layer {number} (h_n, as Keras does).",
                    FixAction(index, (("last_step", LastStep.STATE),)),
                )
            )
        return found

    # --- torch -----------------------------------------------------------------------------

    def torch_module(self, received: Shape) -> nn.Module:
        return self.torch_block(received[-1].fixed, self.num_layers, self)

    def torch_block(self, input_features: int, num_layers: int, last: RecurrentLayer) -> nn.Module:
        """The module of this layer, or of a fused run of `num_layers` internal layers ending in `last`."""
        from torch import nn

        from explorer.layers.stages import RecurrentBlock

        module = {CellType.LSTM: nn.LSTM, CellType.GRU: nn.GRU, CellType.RNN: nn.RNN}[self.type]
        extra = {"nonlinearity": self.activation.value} if self.type is CellType.RNN else {}
        rnn = module(
            input_features,
            self.units,
            num_layers=num_layers,
            bias=self.bias,
            bidirectional=self.bidirectional,
            dropout=self.effective_dropout,  # a fused run of several layers has none (see can_fuse)
            batch_first=True,
            **extra,
        )
        return RecurrentBlock(rnn, last.return_sequences, last.last_step is LastStep.OUTPUT)

    def torch_constructor(self, input_features: int) -> str:
        args = [str(input_features), str(self.units)]
        if self.num_layers > 1:
            args.append(f"num_layers={self.num_layers}")
        if self.effective_dropout:
            args.append(f"dropout={self.dropout:g}")
        if self.type is CellType.RNN and self.activation is CellActivation.RELU:
            args.append('nonlinearity="relu"')
        if not self.bias:
            args.append("bias=False")
        if self.bidirectional:
            args.append("bidirectional=True")
        args.append("batch_first=True")
        return f"nn.{self.type.value}({', '.join(args)})"

    def torch_init(self, received: Shape) -> str:
        line = self.torch_constructor(received[-1].fixed)
        left_out = []
        if self.dropout and not self.effective_dropout:
            left_out.append(f"dropout={self.dropout:g} left out: torch ignores it with num_layers=1")
        if not self.torch_exact:
            left_out.append(self._torch_leaves_out())
        return line + ("  # " + "; ".join(left_out) if left_out else "")

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        out = shape_label(output)
        sequence = shape_label((*received[:-1], Dim("features", self.output_features)))
        # Unidirectional and unpadded, the final state is output[:, -1]: written as the tutorial writes it.
        plain_last = not self.bidirectional and not lengths
        wants_sequence = self.return_sequences or self.last_step is LastStep.OUTPUT or plain_last
        state = "(h_n, c_n)" if self.type is CellType.LSTM else "h_n"
        lines = []
        source = "x"
        if lengths:
            lines += ["steps = x.size(1)"] if wants_sequence else []
            source = "pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)"
        if wants_sequence:
            lines.append(f"x, _ = {module}({source})" + ("" if lengths else f"  # {sequence}"))
            if lengths:
                lines.append(f"x = pad_packed_sequence(x, batch_first=True, total_length=steps)[0]  # {sequence}")
            if self.last_step is LastStep.OUTPUT and not self.return_sequences:
                lines.append(f"x = x[:, -1, :]  # {out}: output[:, -1], the last position")
            elif not self.return_sequences:
                lines.append(f"x = x[:, -1, :]  # {out}: the last step (= h_n[-1], the final state)")
            return lines
        lines.append(f"_, {state} = {module}({source})  # h_n: {shape_label(self._h_n(received))}")
        if self.bidirectional:
            lines.append("# final states: forward at the last (valid) step ⊕ backward at step 0, not output[:, -1]")
            lines.append(f"x = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # {out}")
        else:
            lines.append(f"x = h_n[-1]  # {out}: each sequence's last valid step")
        return lines

    def _h_n(self, received: Shape) -> Shape:
        return (Dim("layers*directions", self.num_layers * self.directions), received[0], Dim("units", self.units))

    # --- Keras -----------------------------------------------------------------------------

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        entries = []
        options = []
        if self.activation is not CellActivation.TANH:
            options.append(f'activation="{self.activation.value}"')
        if not self.bias:
            options.append("use_bias=False")
        if self.input_dropout:
            options.append(f"dropout={self.input_dropout:g}")
        if self.recurrent_dropout:
            options.append(f"recurrent_dropout={self.recurrent_dropout:g}")
        take_output = self.last_step is LastStep.OUTPUT and not self.return_sequences
        for k in range(self.num_layers):
            last_inside = k == self.num_layers - 1
            returns = self.return_sequences or take_output or not last_inside
            args = [str(self.units), *options] + (["return_sequences=True"] if returns else [])
            cell = f"layers.{_KERAS_CELLS[self.type]}({', '.join(args)})"
            if self.bidirectional:
                cell = f"layers.Bidirectional({cell})"
            if last_inside and self.num_layers > 1:
                cell += f"  # num_layers={self.num_layers} in torch: {self.num_layers} Keras layers"
            entries.append(cell)
            if not last_inside and self.effective_dropout:
                entries.append(f"layers.Dropout({self.dropout:g})  # torch's dropout between internal layers")
        if take_output:
            entries.append("layers.Lambda(lambda x: x[:, -1, :])  # torch's output[:, -1]")
        return entries

    def differences(self) -> list[str]:
        return [] if self.torch_exact else [f"{self.kind}: the PyTorch code {self._torch_leaves_out()}"]


def can_fuse(first: RecurrentLayer, second: RecurrentLayer) -> bool:
    """Two layers are one torch module with num_layers summed when nothing observable changes: same cell, width,
    directions and options, the first hands on its sequence, and no dropout anywhere (a fused module would apply
    its dropout at the seam too, where the separate form has none)."""

    def module_options(layer: RecurrentLayer) -> tuple[object, ...]:
        return layer.type, layer.units, layer.bidirectional, layer.activation, layer.bias

    return (
        first.return_sequences
        and module_options(first) == module_options(second)
        and first.effective_dropout == 0.0
        and second.effective_dropout == 0.0
    )

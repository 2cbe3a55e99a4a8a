"""Dense (Keras' Dense, torch's Linear), Activation and Dropout: layers that act on the last axis alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from explorer.findings import Diagnostic, FixAction, Severity
from explorer.layers.base import (
    Activation,
    BoolField,
    ChoiceField,
    Group,
    Inferred,
    IntField,
    Layer,
    NodeStyle,
    RateField,
    rule,
)
from explorer.shapes import Dim, Shape, shape_label

if TYPE_CHECKING:
    from torch import nn


def softmax_over_one(index: int, name: str, activation: Activation | None, width: int) -> list[Diagnostic]:
    if activation is not Activation.SOFTMAX or width != 1:
        return []
    return [
        Diagnostic(
            Severity.WARNING,
            index + 1,
            "softmax-one-unit",
            f"{name} applies softmax over 1 unit: a softmax over one value is always 1.0, "
            "so the output never changes and the model cannot learn.",
            "Use sigmoid for one binary output, or give the layer one unit per class (2 or more).",
            FixAction(index, (("activation", Activation.SIGMOID),)),
        )
    ]


def _activation_lines(activation: Activation | None, output: Shape) -> list[str]:
    return [] if activation is None else [f"x = {activation.torch_expr('x')}  # {shape_label(output)}"]


def keras_activation(activation: Activation | None) -> tuple[str, list[str]]:
    """The `activation=` argument of a Keras layer and the layers after it: Keras 3's leaky_relu string has
    slope 0.2, so torch's 0.01 is a LeakyReLU layer of its own."""
    if activation is None:
        return "", []
    if activation is Activation.LEAKY_RELU:
        return "", ["layers.LeakyReLU(negative_slope=0.01)  # torch's default slope (Keras' is 0.2)"]
    return f'activation="{activation.value}"', []


@dataclass(frozen=True)
class Dense(Layer):
    KIND: ClassVar[str] = "Dense"
    NODE: ClassVar[NodeStyle] = NodeStyle("box", "#eeeeee", "▤")
    PER_STEP: ClassVar[bool] = True
    ALIASES: ClassVar[tuple[str, ...]] = ("Linear", "TimeDistributed")
    GROUP: ClassVar[Group] = Group.DENSE
    SUMMARY: ClassVar[str] = "every output is a weighted sum of all inputs (at every step of a sequence)"

    units: int = rule(IntField(1, "max_units", help="outputs: one per class, value or hidden unit"))
    activation: Activation | None = rule(ChoiceField(Activation, optional=True, help="applied to the outputs"), None)
    bias: bool = rule(BoolField(help="a bias per output"), True)

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(32)

    def brief(self) -> str:
        return f"Dense{self.units}"

    def title(self) -> str:
        options = [str(self.units)] + ([self.activation.value] if self.activation else [])
        return f"Dense({', '.join(options + ([] if self.bias else ['no bias']))})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        width = received[-1].fixed
        count = (width + (1 if self.bias else 0)) * self.units
        notes = []
        if len(received) == 3:
            notes.append("applied at every time step (Keras' Dense on a 3-D input, torch's Linear)")
        if self.activation is not None:
            notes.append(
                f"{self.activation.value} {'over the last axis' if self.activation.over_last_axis else 'on each value'}"
            )
        bias = f" + {self.units} biases" if self.bias else ", no biases"
        return Inferred(
            output_shape=(*received[:-1], Dim("features", self.units)),
            params_torch=count,
            params_keras=count,
            params_formula=f"{width}×{self.units} weights{bias}, in both: {count:,}",
            notes=tuple(notes),
        )

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        return softmax_over_one(index, f"layer {index + 1} (Dense)", self.activation, self.units)

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import PerStep

        return PerStep(nn.Linear(received[-1].fixed, self.units, bias=self.bias), self.activation)

    def torch_init(self, received: Shape) -> str:
        return f"nn.Linear({received[-1].fixed}, {self.units}{'' if self.bias else ', bias=False'})"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        per_step = ": at every time step" if len(received) == 3 else ""
        return [f"x = {module}(x)  # {shape_label(output)}{per_step}", *_activation_lines(self.activation, output)]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        argument, after = keras_activation(self.activation)
        args = [str(self.units)] + ([argument] if argument else []) + ([] if self.bias else ["use_bias=False"])
        return [f"layers.Dense({', '.join(args)})", *after]


@dataclass(frozen=True)
class ActivationLayer(Layer):
    KIND: ClassVar[str] = "Activation"
    NODE: ClassVar[NodeStyle] = NodeStyle("ellipse", "#fafafa", "ƒ")
    PER_STEP: ClassVar[bool] = True
    ALIASES: ClassVar[tuple[str, ...]] = ()
    GROUP: ClassVar[Group] = Group.DENSE
    SUMMARY: ClassVar[str] = "applies a function to every value; no parameters"

    activation: Activation = rule(ChoiceField(Activation, help="the function"))

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(Activation.RELU)

    def title(self) -> str:
        return f"Activation({self.activation.value})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        return Inferred(output_shape=received)

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        return softmax_over_one(index, f"layer {index + 1} (Activation)", self.activation, received[-1].fixed)

    def torch_module(self, received: Shape) -> nn.Module:
        from explorer.layers.stages import PerStep

        return PerStep(None, self.activation)

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return _activation_lines(self.activation, output)

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        _, after = keras_activation(self.activation)
        return after or [f'layers.Activation("{self.activation.value}")']


@dataclass(frozen=True)
class Dropout(Layer):
    KIND: ClassVar[str] = "Dropout"
    NODE: ClassVar[NodeStyle] = NodeStyle("box", "#ffffff", "⋯", dashed=True)
    PER_STEP: ClassVar[bool] = True
    ALIASES: ClassVar[tuple[str, ...]] = ()
    GROUP: ClassVar[Group] = Group.REGULARISATION
    SUMMARY: ClassVar[str] = "while training, zeroes a random share of the values (rate); off when evaluating"

    rate: float = rule(RateField(help="the share of values zeroed while training"))

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(0.2)

    def title(self) -> str:
        return f"Dropout({self.rate:g})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        return Inferred(output_shape=received, notes=(f"training only: zeroes {self.rate:.0%} of the values",))

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import PerStep

        return PerStep(nn.Dropout(self.rate))

    def torch_init(self, received: Shape) -> str:
        return f"nn.Dropout({self.rate:g})"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return [f"x = {module}(x)"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        return [f"layers.Dropout({self.rate:g})"]

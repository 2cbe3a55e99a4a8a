"""Layers that change what the axes are: global pooling and Flatten end the time axis, RepeatVector makes one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from explorer.findings import Diagnostic, FixAction, Severity
from explorer.layers.base import Group, Inferred, IntField, Layer, NodeStyle, rule
from explorer.shapes import Dim, Form, Shape, shape_label

if TYPE_CHECKING:
    from torch import nn


class GlobalPool1D(Layer):
    """The mean or the maximum over all (valid) time steps."""

    GROUP: ClassVar[Group] = Group.CONVOLUTION
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.SEQUENCE})
    MAXIMUM: ClassVar[bool]
    KERAS_NAME: ClassVar[str]

    def title(self) -> str:
        return self.kind

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        what = "maximum" if self.MAXIMUM else "mean"
        valid = " over each sequence's valid steps" if lengths else " over all time steps"
        return Inferred(
            output_shape=(received[0], received[2]), notes=(f"the {what} of each feature{valid}",), keeps_lengths=False
        )

    def torch_module(self, received: Shape) -> nn.Module:
        from explorer.layers.stages import GlobalPool

        return GlobalPool(self.MAXIMUM)

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        out = shape_label(output)
        if not lengths:
            return [f"x = x.{'amax' if self.MAXIMUM else 'mean'}(dim=1)  # {out}"]
        lines = [
            "valid = (torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None].to(x.device))[..., None]"
        ]
        if self.MAXIMUM:
            return [*lines, f'x = x.masked_fill(~valid, float("-inf")).amax(dim=1)  # {out}: valid steps only']
        return [*lines, f"x = (x * valid).sum(dim=1) / valid.sum(dim=1)  # {out}: valid steps only"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        note = (
            "  # Keras' max pooling ignores the mask: padding counts"
            if self.MAXIMUM and received[1].size is None
            else ""
        )
        return [f"layers.{self.KERAS_NAME}(){note}"]


@dataclass(frozen=True)
class GlobalAvgPool1D(GlobalPool1D):
    KIND: ClassVar[str] = "GlobalAvgPool1D"
    NODE: ClassVar[NodeStyle] = NodeStyle("invhouse", "#d7dcf5", "Σ")
    ALIASES: ClassVar[tuple[str, ...]] = ("GlobalAveragePooling1D", "GlobalAvgPooling1D", "AdaptiveAvgPool1d")
    SUMMARY: ClassVar[str] = "averages over time: one vector per sequence"
    MAXIMUM: ClassVar[bool] = False
    KERAS_NAME: ClassVar[str] = "GlobalAveragePooling1D"


@dataclass(frozen=True)
class GlobalMaxPool1D(GlobalPool1D):
    KIND: ClassVar[str] = "GlobalMaxPool1D"
    NODE: ClassVar[NodeStyle] = NodeStyle("invhouse", "#d7dcf5", "⊤")
    ALIASES: ClassVar[tuple[str, ...]] = ("GlobalMaxPooling1D", "GlobalMaxPool1d", "AdaptiveMaxPool1d")
    SUMMARY: ClassVar[str] = "keeps each feature's largest value over time: one vector per sequence"
    MAXIMUM: ClassVar[bool] = True
    KERAS_NAME: ClassVar[str] = "GlobalMaxPooling1D"


@dataclass(frozen=True)
class Flatten(Layer):
    KIND: ClassVar[str] = "Flatten"
    NODE: ClassVar[NodeStyle] = NodeStyle("parallelogram", "#f1f8e9", "▬")
    GROUP: ClassVar[Group] = Group.RESHAPE
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.SEQUENCE})
    SUMMARY: ClassVar[str] = "lays all time steps side by side: one long vector (needs a fixed length)"

    def title(self) -> str:
        return "Flatten"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        time, width = received[1].size, received[2].fixed
        if time is None:  # an error (see warnings); the layers after it are analysed as if it were one step
            note = "needs a fixed time axis: the layers after it are counted as if it had one step"
            return Inferred(output_shape=(received[0], received[2]), notes=(note,), keeps_lengths=False)
        note = f"{time} steps × {width} features side by side"
        return Inferred(output_shape=(received[0], Dim("features", time * width)), notes=(note,), keeps_lengths=False)

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        if received[1].size is not None:
            return []
        return [
            Diagnostic(
                Severity.ERROR,
                index + 1,
                "flatten-variable-length",
                f"layer {index + 1} (Flatten) lays the time steps side by side, but the input's length varies: "
                "the number of features after it would change from batch to batch, and no Dense weight matrix "
                "fits that.",
                f"Give the input a fixed length, or replace layer {index + 1} by GlobalAvgPool1D.",
                FixAction.on_input(seq_len=20),
            )
        ]

    def torch_module(self, received: Shape) -> nn.Module:
        from explorer.layers.stages import Flatten as FlattenStage

        return FlattenStage()

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return [f"x = x.flatten(1)  # {shape_label(output)}"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        return ["layers.Flatten()"]


@dataclass(frozen=True)
class RepeatVector(Layer):
    KIND: ClassVar[str] = "RepeatVector"
    NODE: ClassVar[NodeStyle] = NodeStyle("trapezium", "#f1f8e9", "⧉")
    GROUP: ClassVar[Group] = Group.RESHAPE
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.VECTOR})
    SUMMARY: ClassVar[str] = "repeats one vector n times: a sequence again (encoder–decoder)"

    n: int = rule(IntField(1, "max_seq_len", help="how many time steps to make"))

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(10)

    def title(self) -> str:
        return f"RepeatVector({self.n})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        return Inferred(
            output_shape=(received[0], Dim("time", self.n), received[-1]),
            notes=(f"the same vector at each of {self.n} steps",),
            keeps_lengths=False,
        )

    def torch_module(self, received: Shape) -> nn.Module:
        from explorer.layers.stages import RepeatVector as RepeatStage

        return RepeatStage(self.n)

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return [f"x = x.unsqueeze(1).repeat(1, {self.n}, 1)  # {shape_label(output)}"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        return [f"layers.RepeatVector({self.n})"]

"""LayerNorm and BatchNorm over the features, with the epsilon and momentum that make torch and Keras agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from explorer.layers.base import Group, Inferred, Layer, NodeStyle
from explorer.shapes import Shape, shape_label

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LayerNorm(Layer):
    KIND: ClassVar[str] = "LayerNorm"
    NODE: ClassVar[NodeStyle] = NodeStyle("hexagon", "#fffde7", "μσ")
    PER_STEP: ClassVar[bool] = True
    ALIASES: ClassVar[tuple[str, ...]] = ("LayerNormalization",)
    GROUP: ClassVar[Group] = Group.NORMALISATION
    SUMMARY: ClassVar[str] = "rescales each step's features to mean 0, variance 1, then a learned scale and shift"

    def title(self) -> str:
        return "LayerNorm"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        width = received[-1].fixed
        return Inferred(
            output_shape=received,
            params_torch=2 * width,
            params_keras=2 * width,
            params_formula=f"scale and shift, 2×{width}, in both: {2 * width:,}",
            notes=("normalises over the features of each step",),
        )

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import PerStep

        return PerStep(nn.LayerNorm(received[-1].fixed))

    def torch_init(self, received: Shape) -> str:
        return f"nn.LayerNorm({received[-1].fixed})"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return [f"x = {module}(x)"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        return ["layers.LayerNormalization(epsilon=1e-5)  # torch's epsilon"]


@dataclass(frozen=True)
class BatchNorm(Layer):
    KIND: ClassVar[str] = "BatchNorm"
    NODE: ClassVar[NodeStyle] = NodeStyle("hexagon", "#fff8e1", "μσ")
    PER_STEP: ClassVar[bool] = True
    ALIASES: ClassVar[tuple[str, ...]] = ("BatchNormalization", "BatchNorm1d")
    GROUP: ClassVar[Group] = Group.NORMALISATION
    SUMMARY: ClassVar[str] = "rescales each feature by its mean and variance over the batch (running ones to evaluate)"

    def title(self) -> str:
        return "BatchNorm"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        width = received[-1].fixed
        notes = ["normalises each feature over the batch" + (" and the time steps" if len(received) == 3 else "")]
        if len(received) == 3:
            notes.append("torch's BatchNorm1d reads (batch, features, time): transposed in and out")
        return Inferred(
            output_shape=received,
            params_torch=2 * width,
            params_keras=4 * width,
            params_formula=(
                f"scale and shift, 2×{width}: {2 * width:,}; Keras also counts the moving mean and variance "
                f"(torch keeps them as buffers, not parameters): 4×{width} = {4 * width:,}"
            ),
            notes=tuple(notes),
        )

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import ChannelsFirst, PerStep

        norm = nn.BatchNorm1d(received[-1].fixed)
        return ChannelsFirst(norm, keeps_lengths=True) if len(received) == 3 else PerStep(norm)

    def torch_init(self, received: Shape) -> str:
        return f"nn.BatchNorm1d({received[-1].fixed})"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        if len(received) == 2:
            return [f"x = {module}(x)"]
        flipped = (received[0], received[2], received[1])
        return [
            f"x = {module}(x.transpose(1, 2)).transpose(1, 2)  # BatchNorm1d on {shape_label(flipped)}: channels first"
        ]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        return ["layers.BatchNormalization(epsilon=1e-5, momentum=0.9)  # torch's epsilon and momentum"]

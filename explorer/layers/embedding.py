"""Embedding: token ids in, a learned vector per id out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from explorer.layers.base import BoolField, Group, Inferred, IntField, Layer, NodeStyle, rule
from explorer.shapes import Dim, Form, Shape, shape_label

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Embedding(Layer):
    KIND: ClassVar[str] = "Embedding"
    NODE: ClassVar[NodeStyle] = NodeStyle("box", "#e3f2fd", "▦")
    PER_STEP: ClassVar[bool] = True
    GROUP: ClassVar[Group] = Group.DENSE
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.TOKENS})
    SUMMARY: ClassVar[str] = "turns each token id into a learned vector of dim numbers"

    vocab: int = rule(IntField(1, "max_units", help="how many different token ids (0 to vocab - 1)"))
    dim: int = rule(IntField(1, "max_features", help="the length of each token's vector"))
    padding_idx: int | None = rule(
        IntField(0, "max_units", optional=True, help="torch's padding_idx: this id's vector stays zero (torch only)"),
        None,
    )
    mask_zero: bool = rule(
        BoolField(help="Keras' mask_zero: later layers skip the steps with id 0 (Keras only)"), False
    )

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(1000, 32)

    def conflicts(self) -> list[str]:
        if self.padding_idx is not None and self.padding_idx >= self.vocab:
            return [f"padding_idx must be below vocab ({self.vocab}), received {self.padding_idx}"]
        return []

    def title(self) -> str:
        return f"Embedding({self.vocab}, {self.dim})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        count = self.vocab * self.dim
        notes = [f"one learned vector of {self.dim} per token id"]
        notes += [f"torch: id {self.padding_idx} maps to zeros"] if self.padding_idx is not None else []
        notes += ["Keras: steps with id 0 are masked"] if self.mask_zero else []
        return Inferred(
            output_shape=(received[0], received[1], Dim("features", self.dim)),
            params_torch=count,
            params_keras=count,
            params_formula=f"{self.vocab}×{self.dim}, in both: {count:,}",
            notes=tuple(notes),
        )

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import PerStep

        return PerStep(nn.Embedding(self.vocab, self.dim, padding_idx=self.padding_idx))

    def torch_init(self, received: Shape) -> str:
        padding = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        note = "  # Keras' mask_zero has no torch option: lengths do that here" if self.mask_zero else ""
        return f"nn.Embedding({self.vocab}, {self.dim}{padding}){note}"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        return [f"x = {module}(x)  # {shape_label(output)}"]

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        variable = received[1].size is None
        args = [str(self.vocab), str(self.dim)]
        if self.mask_zero or variable:
            args.append("mask_zero=True")
        line = f"layers.Embedding({', '.join(args)})"
        notes = []
        if variable and not self.mask_zero:
            notes.append("mask_zero: id 0 is the padding, as the lengths say in torch")
        if self.padding_idx is not None:
            notes.append(f"torch's padding_idx={self.padding_idx} has no Keras option")
        return [line + ("  # " + "; ".join(notes) if notes else "")]

    def differences(self) -> list[str]:
        found = []
        if self.padding_idx is not None:
            found.append(f"Embedding: padding_idx={self.padding_idx} is torch's only; the Keras code leaves it out")
        if self.mask_zero:
            found.append("Embedding: mask_zero is Keras' only; the PyTorch code leaves it out")
        return found

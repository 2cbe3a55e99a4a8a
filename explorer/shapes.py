"""Tensor shapes with named axes: `(batch=4, time=20, features=64)`, sizes where the architecture fixes them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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


class Form(str, Enum):
    """What a tensor between two layers holds, which decides the layers that can read it."""

    TOKENS = "token ids (batch, time)"
    SEQUENCE = "a sequence (batch, time, features)"
    VECTOR = "one vector per example (batch, features)"


def form(shape: Shape) -> Form:
    if len(shape) == 3:
        return Form.SEQUENCE
    return Form.TOKENS if shape[-1].name == "time" else Form.VECTOR


def shape_label(shape: Shape) -> str:
    """`(batch=4, time=20, features=64)`; unknown sizes stay names: `(batch, time, features=64)`."""
    return "(" + ", ".join(d.label() for d in shape) + ")"


def shape_brief(shape: Shape) -> str:
    """`(batch, 20, 64)`: sizes where known; the form of Keras' summary."""
    return "(" + ", ".join(str(d.to_json()) for d in shape) + ")"

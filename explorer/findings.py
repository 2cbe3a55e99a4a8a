"""Diagnostics: what cannot work (or will surprise), in plain words, with a fix a button can apply."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class FixAction:
    """A change that repairs a diagnostic, applied by `analysis.apply_fix`.

    target "layer": set `changes` on layer `layer` (0-based); "head": on the head (created if missing);
    "input": on the input; "insert": put `new_layer` in at position `layer`; "remove": take layer `layer` out;
    "move": move layer `layer` to position `to`.
    """

    layer: int | None
    changes: tuple[tuple[str, Any], ...] = ()
    target: str = "layer"
    new_layer: Any = None  # a layer spec, for "insert"
    to: int | None = None  # for "move"

    @classmethod
    def on_head(cls, **changes: Any) -> FixAction:
        return cls(None, tuple(changes.items()), "head")

    @classmethod
    def on_input(cls, **changes: Any) -> FixAction:
        return cls(None, tuple(changes.items()), "input")

    @classmethod
    def insert(cls, position: int, layer: Any) -> FixAction:
        return cls(position, target="insert", new_layer=layer)

    @classmethod
    def remove(cls, index: int) -> FixAction:
        return cls(index, target="remove")

    @classmethod
    def move(cls, index: int, to: int) -> FixAction:
        return cls(index, target="move", to=to)


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    layer: int  # 1-based as in the messages; 0 is the stack as a whole (or its input)
    code: str
    message: str
    fix: str
    action: FixAction | None = None

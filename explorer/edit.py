"""Edits of the layer stack as pure functions: each returns a new Architecture, checked against the limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from explorer.spec import (
    DEFAULT_LIMITS,
    Architecture,
    CellType,
    Limits,
    RecurrentLayer,
    architecture_from_dict,
    architecture_to_dict,
)

T = TypeVar("T")


def inserted(items: tuple[T, ...], index: int, item: T) -> tuple[T, ...]:
    return (*items[:index], item, *items[index:])


def removed(items: tuple[T, ...], index: int) -> tuple[T, ...]:
    return (*items[:index], *items[index + 1 :])


def moved(items: tuple[T, ...], index: int, delta: int) -> tuple[T, ...]:
    """Swap item `index` with its neighbour `delta` away; unchanged at either end."""
    other = index + delta
    if not 0 <= other < len(items):
        return items
    swapped = list(items)
    swapped[index], swapped[other] = swapped[other], swapped[index]
    return tuple(swapped)


def new_layer(cell: CellType, previous: RecurrentLayer | None) -> RecurrentLayer:
    """A new layer is as wide as the one before it (or 32), and hands on the last step, as in Keras."""
    return RecurrentLayer(cell, previous.units if previous else 32)


def validated(arch: Architecture, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    """Send an edited architecture through the same parser as files and links: widgets get no shortcut."""
    return architecture_from_dict(architecture_to_dict(arch), limits)


def add_layer(arch: Architecture, index: int, cell: CellType) -> Architecture:
    previous = arch.layers[index - 1] if index > 0 else None
    return replace(arch, layers=inserted(arch.layers, index, new_layer(cell, previous)))


def set_field(arch: Architecture, index: int, name: str, value: Any) -> Architecture:
    return arch.with_layer(index, **{name: value})

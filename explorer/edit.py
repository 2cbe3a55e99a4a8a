"""Edits of the layer stack as pure functions: each returns a new Architecture, checked against the limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from explorer.layers.registry import new_layer
from explorer.spec import DEFAULT_LIMITS, Architecture, Limits, architecture_from_dict, architecture_to_dict

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


def validated(arch: Architecture, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    """Send an edited architecture through the same parser as files and links: widgets get no shortcut."""
    return architecture_from_dict(architecture_to_dict(arch), limits)


def add_layer(arch: Architecture, index: int, kind: str) -> Architecture:
    """Insert a new layer of `kind` (a type name: LSTM, Conv1D, ...) at `index`."""
    previous = arch.layers[index - 1] if index > 0 else None
    return replace(arch, layers=inserted(arch.layers, index, new_layer(kind, previous)))


def set_field(arch: Architecture, index: int, name: str, value: Any) -> Architecture:
    return arch.with_layer(index, **{name: value})

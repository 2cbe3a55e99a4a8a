"""Edits of the layer stack as pure functions: each returns a new Architecture, checked against the limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from explorer.layers.base import Layer
from explorer.layers.recurrent import CellType, RecurrentLayer
from explorer.layers.registry import new_layer
from explorer.shapes import Form
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
    """Insert a new layer of `kind` (a type name: LSTM, Conv1D, ...) at `index`, keeping a working stack working."""
    return add_layer_explained(arch, index, kind)[0]


def _hands_on_vector(layer: Layer) -> bool:
    return isinstance(layer, RecurrentLayer) and not layer.return_sequences


def add_layer_explained(arch: Architecture, index: int, kind: str) -> tuple[Architecture, str]:
    """The stack with the new layer, and in words what changed. Where a recurrent layer next to the new one must
    hand on its sequence for the stack to work (the new layer before a recurrent one, or the one before the new
    layer), return_sequences is switched on: what a user adding a layer means, and said."""
    previous = arch.layers[index - 1] if index > 0 else None
    grown = replace(arch, layers=inserted(arch.layers, index, new_layer(kind, previous)))
    stack, new = grown.stack, grown.layers[index]
    following = stack[index + 1] if index + 1 < len(stack) else None
    changed = []
    if _hands_on_vector(new) and following is not None and {Form.SEQUENCE} == following.ACCEPTS:
        grown, changed = grown.with_layer(index, return_sequences=True), [index]
    if previous is not None and _hands_on_vector(previous) and {Form.SEQUENCE} == new.ACCEPTS:
        grown, changed = grown.with_layer(index - 1, return_sequences=True), [index - 1, *changed]
    added = f"Added {grown.layers[index].kind} as layer {index + 1}."
    notes = [
        f" Layer {i + 1} now hands on its whole sequence (return_sequences), so that the layer after it gets one."
        for i in changed
    ]
    return grown, added + "".join(notes)


def set_field(arch: Architecture, index: int, name: str, value: Any) -> Architecture:
    return arch.with_layer(index, **{name: value})


def with_cell(arch: Architecture, cell: CellType) -> Architecture:
    """The stack with every recurrent layer's cell made `cell`, all else kept: the arms of a cell comparison."""
    changed = tuple(replace(layer, type=cell) if isinstance(layer, RecurrentLayer) else layer for layer in arch.layers)
    return replace(arch, layers=changed)

"""Every layer kind, by its canonical name and its Keras and PyTorch aliases: the only place that lists them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from explorer.layers.base import Layer
from explorer.layers.conv import AvgPool1D, Conv1D, MaxPool1D
from explorer.layers.dense import ActivationLayer, Dense, Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm, LayerNorm
from explorer.layers.recurrent import CellType, RecurrentLayer
from explorer.layers.reshape import Flatten, GlobalAvgPool1D, GlobalMaxPool1D, RepeatVector

KINDS: tuple[type[Layer], ...] = (
    RecurrentLayer,
    Embedding,
    Dense,
    ActivationLayer,
    Dropout,
    Conv1D,
    MaxPool1D,
    AvgPool1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    LayerNorm,
    BatchNorm,
    Flatten,
    RepeatVector,
)

# The recurrent kind is one class with three canonical names: its `type` is the cell.
_RECURRENT_NAMES = {"LSTM": CellType.LSTM, "GRU": CellType.GRU, "RNN": CellType.RNN, "SIMPLERNN": CellType.RNN}


def _names() -> dict[str, tuple[type[Layer], dict[str, Any]]]:
    names: dict[str, tuple[type[Layer], dict[str, Any]]] = {
        name: (RecurrentLayer, {"type": cell}) for name, cell in _RECURRENT_NAMES.items()
    }
    for kind in KINDS:
        if kind is RecurrentLayer:
            continue
        for name in (kind.KIND, *kind.ALIASES):
            names[name.upper()] = (kind, {})
    return names


BY_NAME = _names()

# The canonical names, in the order the editor's picker and the messages list them.
CANONICAL = [cell.value for cell in CellType] + [kind.KIND for kind in KINDS if kind is not RecurrentLayer]


def canonical_kind(name: str) -> tuple[type[Layer], dict[str, Any]]:
    return BY_NAME[name.upper()]


def new_layer(name: str, previous: Layer | None) -> Layer:
    """A new layer of the kind called `name` (any alias), as the editor adds it after `previous`."""
    kind, fixed = canonical_kind(name)
    return replace(kind.new(previous), **fixed)

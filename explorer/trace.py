"""Trace a model on the user's own machine: import their module (this runs their code, like torchinfo and
torchview; the CLI only, never the page), run one forward pass with hooks on its modules, and report every
module call as a summary row: the explorer's kinds with both frameworks' counts, anything else by its class name
with its real shapes.

Rows follow the explorer's conventions: shapes channels last ((batch, time, features), as the summary writes
them, where torch's Conv1d, pooling and BatchNorm1d see (batch, features, time)), and a recurrent module's output
is what reached the next module (its sequence, or the last step the code took of it). Operations written as
functions in `forward` (`x.flatten(1)`, `x.amax(1)`) are not modules and have no row.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer.layers.base import Activation, Layer
from explorer.layers.conv import AvgPool1D, Conv1D, MaxPool1D, Padding
from explorer.layers.dense import ActivationLayer, Dense, Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm, LayerNorm
from explorer.layers.recurrent import CellActivation, CellType, RecurrentLayer
from explorer.layers.reshape import Flatten, GlobalAvgPool1D, GlobalMaxPool1D
from explorer.shapes import Dim, Shape

_CHANNELS_FIRST = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)
_ACTIVATIONS = {nn.ReLU: Activation.RELU, nn.Tanh: Activation.TANH, nn.Sigmoid: Activation.SIGMOID,
                nn.GELU: Activation.GELU, nn.ELU: Activation.ELU, nn.SELU: Activation.SELU,
                nn.Softmax: Activation.SOFTMAX, nn.LogSoftmax: Activation.LOG_SOFTMAX,
                nn.LeakyReLU: Activation.LEAKY_RELU}  # fmt: skip

_WITHOUT_FIELDS: dict[type, Layer] = {
    nn.BatchNorm1d: BatchNorm(),
    nn.LayerNorm: LayerNorm(),
    nn.Flatten: Flatten(),
    nn.AdaptiveAvgPool1d: GlobalAvgPool1D(),
    nn.AdaptiveMaxPool1d: GlobalMaxPool1D(),
}


class TraceError(ValueError):
    """The module cannot be loaded, has no such model, or its forward pass fails: one message for the user."""


@dataclass
class _Call:
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def _layer(module: nn.Module) -> Layer | None:
    """The catalogue's kind for a torch module, where it has one."""
    if isinstance(module, nn.RNNBase) and module.mode in ("LSTM", "GRU", "RNN_TANH", "RNN_RELU"):
        cell = CellType(module.mode.split("_")[0])
        activation = CellActivation.RELU if module.mode == "RNN_RELU" else CellActivation.TANH
        return RecurrentLayer(cell, module.hidden_size, False, module.bidirectional, module.dropout,
                              module.num_layers, activation, module.bias)  # fmt: skip
    if isinstance(module, nn.Linear):
        return Dense(module.out_features, None, module.bias is not None)
    if isinstance(module, nn.Embedding):
        return Embedding(module.num_embeddings, module.embedding_dim, module.padding_idx)
    if isinstance(module, nn.Conv1d) and isinstance(module.kernel_size[0], int):
        padding = Padding.VALID if module.padding in (0, (0,), "valid") else Padding.SAME
        return Conv1D(module.out_channels, module.kernel_size[0], module.stride[0], padding, module.dilation[0], None,
                      module.bias is not None)  # fmt: skip
    if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)):
        size = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        stride = module.stride if isinstance(module.stride, int) else module.stride[0]
        kind = MaxPool1D if isinstance(module, nn.MaxPool1d) else AvgPool1D
        return kind(size, stride if stride != size else None)
    if type(module) in _WITHOUT_FIELDS:
        return _WITHOUT_FIELDS[type(module)]
    if isinstance(module, nn.Dropout):
        return Dropout(module.p)
    if type(module) in _ACTIVATIONS:
        return ActivationLayer(_ACTIVATIONS[type(module)])
    return None


def _named(shape: tuple[int, ...], tokens: bool = False) -> Shape:
    """A traced shape in the explorer's named axes: (batch, time, features), (batch, features), or token ids."""
    names = {3: ("batch", "time", "features"), 2: ("batch", "time") if tokens else ("batch", "features")}
    axes = names.get(len(shape), tuple(f"axis{i}" for i in range(len(shape))))
    return tuple(Dim(name, size) for name, size in zip(axes, shape, strict=True))


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value:
        return _first_tensor(value[0])
    return None  # a PackedSequence, or no tensor at all


def load_model(path: Path, name: str) -> nn.Module:
    """The model `name` of the module at `path`: a class (made with no arguments), a function, or an instance."""
    if not path.is_file():
        raise TraceError(f"cannot read {path}: no such file")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise TraceError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)  # the user's own code, on their own machine
    except Exception as exc:
        raise TraceError(f"{path} failed when run: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    found = getattr(module, name, None)
    if found is None:
        raise TraceError(f"{path} has no {name!r}")
    try:
        model = found() if callable(found) and not isinstance(found, nn.Module) else found
    except Exception as exc:
        raise TraceError(
            f"{name}() failed: {type(exc).__name__}: {exc} (it must be callable with no arguments)"
        ) from None
    if not isinstance(model, nn.Module):
        raise TraceError(f"{name} is not a torch nn.Module (a Keras model cannot be traced here; use import)")
    return model


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """One forward pass on a random input of `input_shape`; the object `summary --json` prints, for its modules."""
    leaves = [m for m in model.modules() if not list(m.children()) or isinstance(m, nn.RNNBase)]
    first = leaves[0] if leaves else None
    if isinstance(first, nn.Embedding):
        x = torch.randint(0, first.num_embeddings, input_shape)
    else:
        x = torch.randn(input_shape)
    calls: list[_Call] = []

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        received, made = _first_tensor(inputs), _first_tensor(output)
        if received is not None and made is not None:
            calls.append(_Call(module, tuple(received.shape), tuple(made.shape)))

    handles = [m.register_forward_hook(hook) for m in leaves]
    arguments: list[Any] = [x]
    required = [p for p in inspect.signature(model.forward).parameters.values() if p.default is p.empty]
    if len(required) > 1 and len(input_shape) >= 2:  # (x, lengths): every sequence full length
        arguments.append(torch.full((input_shape[0],), input_shape[1], dtype=torch.long))
    model.eval()
    try:
        with torch.no_grad():
            output = _first_tensor(model(*arguments))
    except Exception as exc:
        raise TraceError(f"the forward pass failed: {type(exc).__name__}: {exc}") from None
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for n, call in enumerate(calls):
        received, made = call.input_shape, call.output_shape
        if isinstance(call.module, _CHANNELS_FIRST) and len(received) == 3:
            received, made = (received[0], received[2], received[1]), (made[0], made[2], made[1])
            if isinstance(call.module, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
                made = (made[0], made[2])
        if isinstance(call.module, nn.RNNBase):
            handed = (
                calls[n + 1].input_shape
                if n + 1 < len(calls)
                else (tuple(output.shape) if output is not None else made)
            )
            made = handed if len(handed) in (2, 3) else made
        layer = _layer(call.module)
        params_torch = sum(p.numel() for p in call.module.parameters())
        row: dict[str, Any] = {
            "index": n + 1,
            "type": layer.kind if layer is not None else type(call.module).__name__,
            "input_shape": list(received),
            "output_shape": list(made),
            "params_torch": params_torch,
            "params_keras": None,
            "params_formula": None,
            "h_n": None,
            "c_n": None,
            "fused_with": [],
            "notes": ["traced"],
        }
        if layer is not None:
            inferred = layer.infer(_named(received, tokens=isinstance(layer, Embedding)), False)
            row |= {"params_keras": inferred.params_keras, "params_formula": inferred.params_formula}
            if inferred.h_n is not None:
                row["h_n"] = [d.to_json() for d in inferred.h_n]
                row["c_n"] = None if inferred.c_n is None else [d.to_json() for d in inferred.c_n]
        rows.append(row)
    keras_counts = [row["params_keras"] for row in rows]
    return {
        "valid": True,
        "diagnostics": [],
        "layers": rows,
        "total_params_torch": sum(p.numel() for p in model.parameters()),
        "total_params_keras": None if None in keras_counts else sum(keras_counts),
    }


def trace_text(traced: dict[str, Any]) -> str:
    """The traced rows as a table, like `summary`'s."""
    header = ("#", "Layer", "Input shape", "Output shape", "Params torch", "Params Keras")
    table = [header]
    for row in traced["layers"]:
        keras = "" if row["params_keras"] is None else f"{row['params_keras']:,}"
        shapes = [f"({', '.join(str(v) for v in row[key])})" for key in ("input_shape", "output_shape")]
        table.append((str(row["index"]), row["type"], *shapes, f"{row['params_torch']:,}", keras))
    keras_total = traced["total_params_keras"]
    total = (
        "",
        "Total",
        "",
        "",
        f"{traced['total_params_torch']:,}",
        "" if keras_total is None else f"{keras_total:,}",
    )
    table.append(total)
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in table]  # fmt: skip
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])

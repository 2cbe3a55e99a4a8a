"""What a trained recurrent layer does at each step: its state and its gates, recomputed from its own weights.

torch's fused kernels hand back every step's output h_t, but of an LSTM's cell state only the last step's c_n,
and no gate at all. Here each step of a module's top internal layer is computed by the cell's equations, in
torch's gate order and with its two bias vectors, in both directions; the tests hold the results to torch's own
outputs and final states. Evaluation only: no dropout between internal layers, no gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from explorer.build import StackedRNN, parse_parameter_name
from explorer.layers.stages import RecurrentBlock
from explorer.spec import CellType

# What the page can show of each cell, key → label; gates lie in (0, 1), states do not.
VIEWS = {
    CellType.LSTM: {
        "h": "hidden state h_t",
        "c": "cell state c_t",
        "f": "forget gate f_t",
        "i": "input gate i_t",
        "o": "output gate o_t",
    },
    CellType.GRU: {"h": "hidden state h_t", "z": "update gate z_t", "r": "reset gate r_t"},
    CellType.RNN: {"h": "hidden state h_t"},
}
GATES = frozenset("fiozr")


def _lstm(
    projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
) -> dict[str, torch.Tensor]:
    i, f, g, o = (projected + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return {"h": o * torch.tanh(c), "c": c, "f": f, "i": i, "o": o}


def _gru(
    projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
) -> dict[str, torch.Tensor]:
    x_r, x_z, x_n = projected.chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # torch applies the reset gate after the recurrent product
    return {"h": (1 - z) * n + z * h, "z": z, "r": r}


def _rnn(
    projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
) -> dict[str, torch.Tensor]:
    return {"h": torch.tanh(projected + h @ w_hh.T + b_hh)}


def _relu_rnn(
    projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
) -> dict[str, torch.Tensor]:
    return {"h": torch.relu(projected + h @ w_hh.T + b_hh)}


def _step(rnn: nn.RNNBase) -> Callable[..., dict[str, Tensor]]:
    if isinstance(rnn, nn.RNN) and rnn.nonlinearity == "relu":
        return _relu_rnn
    return {nn.LSTM: _lstm, nn.GRU: _gru, nn.RNN: _rnn}[type(rnn)]


def _below_top(rnn: nn.RNNBase) -> nn.Module:
    """The module's internal layers but the top one, as one module with the same weights: torch runs them."""
    top = rnn.num_layers - 1
    same_kind = cast(Callable[..., nn.RNNBase], type(rnn))  # nn.LSTM, nn.GRU or nn.RNN
    extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    below = same_kind(
        rnn.input_size,
        rnn.hidden_size,
        num_layers=top,
        bias=rnn.bias,
        bidirectional=rnn.bidirectional,
        batch_first=True,
        **extra,
    )
    below.load_state_dict({name: p for name, p in rnn.state_dict().items() if parse_parameter_name(name).layer < top})
    return below.to(next(rnn.parameters())).eval()


def steps(rnn: nn.RNNBase, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every step of a module's top internal layer, (batch, time, units × directions) per key of VIEWS; the
    backward direction runs from the last step to the first. x: (batch, time, features), unpadded.

    Only the top layer's recurrence is stepped in Python: the layers below run in torch, and every step's
    input projection is one matrix product, so a long sequence costs time steps × directions small products."""
    step, top, order = _step(rnn), rnn.num_layers - 1, range(x.size(1))
    with torch.no_grad():
        if top:
            x, _ = _below_top(rnn)(x)
        directions = []
        for suffix in [f"_l{top}", f"_l{top}_reverse"][: 2 if rnn.bidirectional else 1]:
            w_ih, w_hh = getattr(rnn, f"weight_ih{suffix}"), getattr(rnn, f"weight_hh{suffix}")
            blocks = w_hh.size(0)  # gates × units
            no_bias = x.new_zeros(blocks)
            b_ih, b_hh = (getattr(rnn, f"{name}{suffix}") if rnn.bias else no_bias for name in ("bias_ih", "bias_hh"))
            projected = x @ w_ih.T + b_ih
            h = c = x.new_zeros(x.size(0), rnn.hidden_size)
            backward = suffix.endswith("reverse")
            seen: dict[str, list[torch.Tensor]] = {}  # in the order computed
            for t in reversed(order) if backward else order:
                values = step(projected[:, t], h, c, w_hh, b_hh)
                h, c = values["h"], values.get("c", c)
                for key, value in values.items():
                    seen.setdefault(key, []).append(value)
            directions.append({key: torch.stack(v[::-1] if backward else v, dim=1) for key, v in seen.items()})
    return {key: torch.cat([d[key] for d in directions], dim=-1) for key in directions[0]}


def layer_steps(model: StackedRNN, x: torch.Tensor, layer: int) -> dict[str, torch.Tensor]:
    """`steps` of the recurrent layer `layer` (0-based in the stack) of a model, fed by the layers below it, also
    inside a fused run. x: (batch, time, features) or token ids (batch, time), unpadded: for one sample of a
    variable-length batch, its valid steps."""
    twin = model.unfused_twin(x.device)
    with torch.no_grad():
        for stage in twin.stage_list:
            if stage.layers == (layer,):
                assert isinstance(stage, RecurrentBlock), f"layer {layer + 1} is not a recurrent layer"
                return steps(stage.rnn, x)
            x, _ = stage(x, None)
    raise ValueError(f"the model has no layer {layer + 1}")


# What the page sends of one heatmap: at most this many time steps (a window the user moves) and units (every
# k-th when there are more). 300 × 128 cells are about 0.5 MB of chart; a whole 2000-step bidirectional
# 1024-unit layer would be 86 MB on every rerun.
MAX_STEPS_SHOWN = 300
MAX_UNITS_SHOWN = 128


@dataclass(frozen=True)
class HeatmapWindow:
    values: list[list[float]]  # (steps shown, units shown)
    steps: range  # the time steps shown
    units: range  # the units shown
    note: str | None  # what is left out, in words; None when everything is shown


def _ordinal(n: int) -> str:
    """2nd, 3rd, 4th, 11th, 22nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def heatmap_window(values: torch.Tensor, first_step: int = 0) -> HeatmapWindow:
    """The part of a (time, units) matrix that the page shows, starting at `first_step` (clamped)."""
    total_steps, total_units = values.shape
    first = min(max(first_step, 0), max(total_steps - MAX_STEPS_SHOWN, 0))
    steps = range(first, min(first + MAX_STEPS_SHOWN, total_steps))
    units = range(0, total_units, math.ceil(total_units / MAX_UNITS_SHOWN))
    notes = []
    if len(steps) < total_steps:
        notes.append(f"time steps {steps.start}–{steps.stop - 1} of {total_steps} (move the window to see the rest)")
    if len(units) < total_units:
        notes.append(f"every {_ordinal(units.step)} unit of {total_units}")
    shown = values[steps.start : steps.stop, units.start :: units.step]
    return HeatmapWindow(shown.tolist(), steps, units, "Showing " + " and ".join(notes) + "." if notes else None)


def input_window(x: torch.Tensor, window: HeatmapWindow) -> list[list[float]]:
    """One sample's input (time, features) — or token ids (time,) — over the steps a state heatmap shows, so
    that the two are read side by side, row for row."""
    values = x.unsqueeze(-1) if x.dim() == 1 else x
    return values[window.steps.start : window.steps.stop].tolist()


def sample_target(y: torch.Tensor, classification: bool, window: HeatmapWindow) -> str:
    """What the network should answer for one sample, in words: its class, its label at each shown step, or its
    target values."""
    if y.dim() == 0:
        return f"Its label: class {int(y)}." if classification else f"Its target: {float(y):.3f}."
    if classification:  # one label per step
        shown = y[window.steps.start : window.steps.stop].tolist()
        return f"Its labels at steps {window.steps.start}–{window.steps.stop - 1}: " + " ".join(map(str, shown)) + "."
    return "Its targets: " + ", ".join(f"{v:.3f}" for v in y.tolist()) + "."

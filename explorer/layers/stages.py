"""The builder's torch stages: one per layer (or fused run of recurrent layers), channels last throughout.

Every stage takes `(x, lengths)` and gives `(y, lengths)`: `lengths` is a padded variable-length batch's valid
steps, carried while the time axis still means what it did, and None once it does not. A stage's weights sit
in `.inner` under torch's own names, which are the exported code's names for that layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from explorer.layers.base import Activation
from explorer.layers.conv import Window

_ACTIVATIONS = {
    Activation.SOFTMAX: lambda x: torch.softmax(x, dim=-1),
    Activation.LOG_SOFTMAX: lambda x: torch.log_softmax(x, dim=-1),
    Activation.SIGMOID: torch.sigmoid,
    Activation.RELU: torch.relu,
    Activation.TANH: torch.tanh,
    Activation.GELU: F.gelu,
    Activation.ELU: F.elu,
    Activation.SELU: torch.selu,
    Activation.LEAKY_RELU: F.leaky_relu,
}

Lengths = torch.Tensor | None


def activate(x: torch.Tensor, activation: Activation | None) -> torch.Tensor:
    return x if activation is None else _ACTIVATIONS[activation](x)


class Stage(nn.Module):
    """`activation` is applied last; `activate=False` leaves it out (the trainer's loss takes logits)."""

    inner: nn.Module | None

    def __init__(self, inner: nn.Module | None, activation: Activation | None = None):
        super().__init__()
        self.inner = inner
        self.activation = activation
        self.layers: tuple[int, ...] = ()  # 0-based layers of the architecture this stage computes

    def forward(self, x: torch.Tensor, lengths: Lengths, activate_output: bool = True) -> tuple[torch.Tensor, Lengths]:
        y, lengths = self.compute(x, lengths)
        return (activate(y, self.activation) if activate_output else y), lengths

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        raise NotImplementedError


class PerStep(Stage):
    """A module that acts on the last axis, at every step alike: Dense, Embedding, LayerNorm, Dropout, Activation."""

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        return (x if self.inner is None else self.inner(x)), lengths


class ChannelsFirst(Stage):
    """torch's Conv1d, pooling and BatchNorm1d want (batch, features, time): transposed in, padded as Keras'
    "same" pads (any odd cell on the right), transposed back. `average_real`: divide by the real values per
    window (Keras' "same" average pooling leaves the padding out)."""

    def __init__(
        self,
        inner: nn.Module,
        window: Window | None = None,
        pad_value: float = 0.0,
        activation: Activation | None = None,
        keeps_lengths: bool = False,
        average_real: bool = False,
    ):
        super().__init__(inner, activation)
        self.window = window
        self.pad_value = pad_value
        self.keeps_lengths = keeps_lengths
        self.average_real = average_real

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        assert self.inner is not None
        h = x.transpose(1, 2)
        pads = self.window.pads(x.size(1)) if self.window is not None else (0, 0)
        if any(pads):
            h = F.pad(h, pads, value=self.pad_value)
        y = self.inner(h)
        if self.average_real and any(pads):
            y = y / self.inner(F.pad(torch.ones_like(x[:, :1, :1]).expand(-1, 1, x.size(1)), pads))
        return y.transpose(1, 2), lengths if self.keeps_lengths else None


class GlobalPool(Stage):
    """Over the time axis; over each sequence's valid steps where lengths arrive."""

    def __init__(self, maximum: bool):
        super().__init__(None)
        self.maximum = maximum

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        if lengths is None:
            return (x.amax(dim=1) if self.maximum else x.mean(dim=1)), None
        valid = (torch.arange(x.size(1), device=x.device)[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1)
        if self.maximum:
            return x.masked_fill(~valid, float("-inf")).amax(dim=1), None
        return (x * valid).sum(dim=1) / valid.sum(dim=1), None


class Flatten(Stage):
    def __init__(self) -> None:
        super().__init__(None)

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        return x.reshape(x.size(0), -1), None


class RepeatVector(Stage):
    def __init__(self, n: int):
        super().__init__(None)
        self.n = n

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        return x.unsqueeze(1).repeat(1, self.n, 1), None


class RecurrentBlock(Stage):
    """One torch recurrent module (one layer of the architecture, or a fused run of them) and what it hands on:
    its sequence, the final state (Keras; `h_n[-2] ⊕ h_n[-1]` bidirectional; each sequence's last valid step
    when padded) or `output[:, -1]` (PyTorch's idiom)."""

    def __init__(self, rnn: nn.RNNBase, return_sequences: bool, last_output: bool):
        super().__init__(rnn)
        self.return_sequences = return_sequences
        self.last_output = last_output

    @property
    def rnn(self) -> nn.RNNBase:
        assert isinstance(self.inner, nn.RNNBase)
        return self.inner

    def compute(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths]:
        y, lengths, _ = self.step(x, lengths)
        return y, lengths

    def step(self, x: torch.Tensor, lengths: Lengths) -> tuple[torch.Tensor, Lengths, torch.Tensor]:
        """The output, the lengths it still carries, and h_n (layers*directions, batch, units)."""
        if lengths is None:
            output, state = self.rnn(x)
        else:
            # Packing makes the module stop at each sequence's own last step; padded steps come out as zeros.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_output, state = self.rnn(packed)
            output = pad_packed_sequence(packed_output, batch_first=True, total_length=x.size(1))[0]
        h_n = state[0] if isinstance(self.rnn, nn.LSTM) else state
        if self.return_sequences:
            return output, lengths, h_n
        if self.last_output:
            return output[:, -1], None, h_n
        if self.rnn.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=-1), None, h_n
        return h_n[-1], None, h_n

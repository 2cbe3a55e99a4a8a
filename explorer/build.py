"""The torch model of an architecture: batch_first, exactly the shapes and parameters `analyze` reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from explorer.analysis import fused_runs, require_valid
from explorer.codegen import HEAD_MODULE, module_names
from explorer.spec import Activation, Architecture, CellType

_MODULES = {CellType.LSTM: nn.LSTM, CellType.GRU: nn.GRU, CellType.RNN: nn.RNN}
_ACTIVATIONS = {
    Activation.SOFTMAX: lambda x: torch.softmax(x, dim=-1),
    Activation.SIGMOID: torch.sigmoid,
    Activation.RELU: torch.relu,
    Activation.TANH: torch.tanh,
}


class RecurrentBlock(nn.Module):
    """One torch recurrent module (one spec layer, or a fused run of them) and what it hands on."""

    rnn: nn.RNNBase

    def __init__(self, rnn: nn.RNNBase, return_sequences: bool, layers: tuple[int, ...]):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences
        self.layers = layers  # 0-based spec layers this block computes

    def forward(self, x: torch.Tensor | PackedSequence) -> tuple[torch.Tensor | PackedSequence, torch.Tensor]:
        output, state = self.rnn(x)
        h_n = state[0] if isinstance(self.rnn, nn.LSTM) else state  # (layers*directions, batch, units)
        if self.return_sequences:
            return output, h_n
        # The final state, not output[:, -1]: for the backward direction that is time step 0,
        # and for a padded batch the last valid step of each sequence. Keras concatenates both.
        if self.rnn.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=-1), h_n  # (batch, 2 * units)
        return h_n[-1], h_n  # (batch, units)


class StackedRNN(nn.Module):
    """Input (batch, time, features), batch_first. Pass `lengths` for a zero-padded variable-length batch."""

    def __init__(self, arch: Architecture, fuse: bool = True):
        super().__init__()
        require_valid(arch, "build")
        runs = fused_runs(arch) if fuse else tuple((i,) for i in range(len(arch.layers)))
        blocks = []
        features = arch.input.features
        for run in runs:
            first, last = arch.layers[run[0]], arch.layers[run[-1]]
            num_layers = sum(arch.layers[i].num_layers for i in run)
            rnn = _MODULES[first.type](
                features,
                first.units,
                num_layers=num_layers,
                bidirectional=first.bidirectional,
                dropout=first.effective_dropout,  # a run of several layers has none (see can_fuse)
                batch_first=True,
            )
            blocks.append(RecurrentBlock(rnn, last.return_sequences, run))
            features = last.output_features
        self.blocks = nn.ModuleList(blocks)
        self.arch = arch
        self.layer_depths = [layer.num_layers for layer in arch.layers]  # internal layers per architecture layer
        self.variable_length = arch.input.seq_len is None
        self.head = None if arch.head is None else nn.Linear(features, arch.head.units)
        self.activation = None if arch.head is None or arch.head.activation is None else arch.head.activation

    @property
    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """The blocks, typed (iterating an nn.ModuleList gives plain Modules)."""
        return [cast(RecurrentBlock, block) for block in self.blocks]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(x, lengths)[0]

    def run(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, activate: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output, and every block's h_n; `activate=False` gives the head's logits (for a loss)."""
        total_length = x.size(1)
        h: torch.Tensor | PackedSequence = x
        if lengths is not None:
            _check_lengths(lengths, x)
            # Packing makes every module stop at each sequence's own last step; the packed
            # output of one module feeds the next without unpadding in between.
            h = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states = []
        for block in self.recurrent_blocks:
            h, h_n = block(h)
            states.append(h_n)
        out = (
            pad_packed_sequence(h, batch_first=True, total_length=total_length)[0]
            if isinstance(h, PackedSequence)
            else h
        )
        if self.head is not None:
            out = self.head(out)
            if activate and self.activation is not None:
                out = _ACTIVATIONS[self.activation](out)
        return out, states

    def unfused_twin(self, device: torch.device) -> StackedRNN:
        """The same weights with one module per architecture layer, so that each layer's sequence is seen."""
        twin = build(self.arch, fuse=False).to(device).eval()
        copy_weights(self, twin)
        return twin


@dataclass(frozen=True)
class ParameterName:
    """A recurrent module's parameter name taken apart: `weight_ih_l10_reverse` is weight_ih of internal
    layer 10, backward direction. The one reader of torch's naming; builder, trainer and inside view use it."""

    kind: str  # weight_ih, weight_hh, bias_ih, bias_hh
    layer: int
    reverse: bool

    def with_layer(self, layer: int) -> str:
        return f"{self.kind}_l{layer}" + ("_reverse" if self.reverse else "")


_PARAMETER_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?")


def parse_parameter_name(name: str) -> ParameterName:
    found = _PARAMETER_NAME.fullmatch(name)
    if found is None:
        raise ValueError(f"not a recurrent module's parameter name: {name!r}")
    return ParameterName(found[1], int(found[2]), found[3] is not None)


def _internal_layers(model: StackedRNN) -> list[dict[str, torch.Tensor]]:
    """Each internal layer's parameters in stack order, keyed by their name in internal layer 0."""
    found = []
    for block in model.recurrent_blocks:
        layers: list[dict[str, torch.Tensor]] = [{} for _ in range(block.rnn.num_layers)]
        for name, param in block.rnn.named_parameters():
            parsed = parse_parameter_name(name)
            layers[parsed.layer][parsed.with_layer(0)] = param
        found.extend(layers)
    return found


def copy_weights(source: StackedRNN, target: StackedRNN) -> None:
    """Copy between the fused and unfused builds of one architecture: the same internal layers, in order."""
    with torch.no_grad():
        for mine, theirs in zip(_internal_layers(source), _internal_layers(target), strict=True):
            for name, param in mine.items():
                theirs[name].copy_(param)
        if source.head is not None and target.head is not None:
            target.head.load_state_dict(source.head.state_dict())


def exported_state_dict(model: StackedRNN) -> dict[str, torch.Tensor]:
    """The weights under the names of the exported PyTorch code (one module per layer, `lstm1.weight_ih_l0`,
    `dense.weight`), so that a trained model's download loads into the code the page exports."""
    twin = model.unfused_twin(torch.device("cpu"))
    state: dict[str, torch.Tensor] = {}
    for name, block in zip(module_names(model.arch), twin.recurrent_blocks, strict=True):
        state |= {f"{name}.{key}": value for key, value in block.rnn.state_dict().items()}
    if twin.head is not None:
        state |= {f"{HEAD_MODULE}.{key}": value for key, value in twin.head.state_dict().items()}
    return state


def _check_lengths(lengths: torch.Tensor, x: torch.Tensor) -> None:
    if lengths.dim() != 1 or lengths.numel() != x.size(0):
        raise ValueError(f"lengths must have shape (batch,) = ({x.size(0)},), received {tuple(lengths.shape)}")
    if lengths.min() < 1 or lengths.max() > x.size(1):
        raise ValueError(f"every length must be from 1 to {x.size(1)}, received {lengths.tolist()}")


def build(arch: Architecture, fuse: bool = True) -> StackedRNN:
    """The model; `fuse=False` keeps one torch module per layer of the architecture."""
    return StackedRNN(arch, fuse=fuse)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

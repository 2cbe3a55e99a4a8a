"""The torch model of an architecture: batch_first, exactly the shapes and parameters `analyze` reports.

Each layer's kind makes its own stage (explorer/layers); consecutive recurrent layers that can share one
torch module are fused into one (one cuDNN kernel), unless `fuse=False`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from explorer.analysis import Analysis, fused_runs, require_valid
from explorer.codegen import module_names
from explorer.layers.recurrent import RecurrentLayer
from explorer.layers.stages import Lengths, RecurrentBlock, Stage
from explorer.spec import Architecture


class StackedRNN(nn.Module):
    """Input (batch, time, features), or (batch, time) token ids; batch_first. Pass `lengths` for a zero-padded
    variable-length batch."""

    def __init__(self, arch: Architecture, fuse: bool = True):
        super().__init__()
        analysis = require_valid(arch, "build")
        runs = fused_runs(arch) if fuse else tuple((i,) for i in range(len(arch.stack)))
        self.stages = nn.ModuleList(_stage(analysis, run) for run in runs)
        self.arch = arch
        self.variable_length = arch.input.seq_len is None
        self.tokens = arch.input.tokens

    @property
    def stage_list(self) -> list[Stage]:
        """The stages, typed (iterating an nn.ModuleList gives plain Modules)."""
        return [cast(Stage, stage) for stage in self.stages]

    @property
    def recurrent_blocks(self) -> list[RecurrentBlock]:
        return [stage for stage in self.stage_list if isinstance(stage, RecurrentBlock)]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(x, lengths)[0]

    def run(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, activate: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output, and every recurrent block's h_n; `activate=False` leaves out the last layer's activation
        (the trainer's cross-entropy takes logits)."""
        if lengths is not None:
            _check_lengths(lengths, x)
        carried: Lengths = lengths
        states = []
        stages = self.stage_list
        for n, stage in enumerate(stages):
            if isinstance(stage, RecurrentBlock):
                x, carried, h_n = stage.step(x, carried)
                states.append(h_n)
            else:
                x, carried = stage(x, carried, activate or n < len(stages) - 1)
        return x, states

    def unfused_twin(self, device: torch.device) -> StackedRNN:
        """The same weights with one module per architecture layer, so that each layer's sequence is seen."""
        twin = build(self.arch, fuse=False).to(device).eval()
        copy_weights(self, twin)
        return twin


def _stage(analysis: Analysis, run: tuple[int, ...]) -> Stage:
    stack = analysis.architecture.stack
    first, received = stack[run[0]], analysis.layers[run[0]].input_shape
    if len(run) > 1:
        assert isinstance(first, RecurrentLayer)
        last = stack[run[-1]]
        assert isinstance(last, RecurrentLayer)
        depth = sum(stack[i].depth for i in run)
        stage = first.torch_block(received[-1].fixed, depth, last)
    else:
        stage = first.torch_module(received)
    assert isinstance(stage, Stage)
    stage.layers = run
    return stage


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
    """Each recurrent internal layer's parameters in stack order, keyed by their name in internal layer 0."""
    found = []
    for block in model.recurrent_blocks:
        layers: list[dict[str, torch.Tensor]] = [{} for _ in range(block.rnn.num_layers)]
        for name, param in block.rnn.named_parameters():
            parsed = parse_parameter_name(name)
            layers[parsed.layer][parsed.with_layer(0)] = param
        found.extend(layers)
    return found


def copy_weights(source: StackedRNN, target: StackedRNN) -> None:
    """Copy between the fused and unfused builds of one architecture: the same recurrent internal layers in
    order, and every other layer's stage by its layer."""
    with torch.no_grad():
        for mine, theirs in zip(_internal_layers(source), _internal_layers(target), strict=True):
            for name, param in mine.items():
                theirs[name].copy_(param)
        others = {stage.layers: stage for stage in target.stage_list if not isinstance(stage, RecurrentBlock)}
        for stage in source.stage_list:
            if not isinstance(stage, RecurrentBlock) and stage.inner is not None:
                inner = others[stage.layers].inner
                assert inner is not None
                inner.load_state_dict(stage.inner.state_dict())


def exported_state_dict(model: StackedRNN) -> dict[str, torch.Tensor]:
    """The weights under the names of the exported PyTorch code (one module per layer, `lstm1.weight_ih_l0`,
    `dense3.weight`), so that a trained model's download loads into the code the page exports."""
    twin = model.unfused_twin(torch.device("cpu"))
    state: dict[str, torch.Tensor] = {}
    for name, stage in zip(module_names(model.arch), twin.stage_list, strict=True):
        if stage.inner is not None:
            state |= {f"{name}.{key}": value for key, value in stage.inner.state_dict().items()}
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

"""What a training run will cost in memory, estimated before it starts, and the refusal when it is too much.

Pure arithmetic on the architecture, the task and the settings (no torch import): the page refuses a run
before any process starts, and the worker checks again (a run started from the CLI or an edited request
gets no shortcut). The worker also caps its own address space (`address_space_cap`), so a wrong estimate
ends that run with "out of memory" instead of taking the server down.

The coefficients were measured: peak resident memory of real runs (benchmarks/bench_memory.py prints the
estimate beside the measurement for a spread of stacks; the estimate stays above every one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from explorer.analysis import LayerAnalysis, analyze
from explorer.layers.base import Layer
from explorer.spec import Architecture, CellType, Limits, RecurrentLayer

MB = 1024 * 1024
FLOAT = 4  # bytes: float32 everywhere
# A worker with torch imported, its data structures and allocator pools, before any tensor of the run.
PROCESS_BASE_BYTES = 480 * MB
# Weights, their gradients, and Adam's two moments; clipping and the step add transient copies.
BYTES_PER_PARAMETER = 6 * FLOAT
# Activations torch keeps for the backward pass, per sequence, time step and unit of one internal layer and
# direction, in floats: the gates' pre-activations and activations, the states, and their gradients in flight.
SAVED_FLOATS_PER_UNIT = {CellType.LSTM: 24, CellType.GRU: 22, CellType.RNN: 14}
# The validation forward (no gradients) runs this many sequences at a time, or a training batch if larger:
# its memory then stays near a training step's, whatever the size of the validation set (train uses it).
EVAL_SEQUENCES = 32
# The worker's address space may exceed the estimate by this much: torch's libraries are mapped, not resident.
ADDRESS_SPACE_HEADROOM_BYTES = 1024 * MB


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int  # bytes, with gradients and optimiser state
    activations: int  # the larger of a training step's saved activations and a validation chunk's
    data: int  # the generated or uploaded data set, held for the whole run
    base: int = PROCESS_BASE_BYTES

    @property
    def total(self) -> int:
        return self.parameters + self.activations + self.data + self.base

    def describe(self) -> str:
        parts = [("weights and optimiser", self.parameters), ("activations", self.activations), ("data", self.data)]
        return ", ".join(f"{name} {size / MB:,.0f} MB" for name, size in parts)


# Other layers keep about this many floats per output value for the backward pass (their output, its
# gradient, a mask or normalised copy), and the forward pass without gradients two.
SAVED_FLOATS_PER_OUTPUT = 3


def _internal_layer_inputs(layer: RecurrentLayer, features: int) -> list[int]:
    return [features] + [layer.output_features] * (layer.num_layers - 1)


def _recurrent_floats(layer: RecurrentLayer, features: int, sequences: int, steps: int, saved: bool) -> int:
    """Floats alive for one layer over `sequences` × `steps`: all that backward needs when `saved`, else the
    largest moment of a forward pass without gradients (the input projection of every step and the output)."""
    per_unit = SAVED_FLOATS_PER_UNIT[layer.type] if saved else layer.type.gates + 2
    per_step = layer.directions * layer.units * per_unit
    return sum(sequences * steps * (per_step + fan_in) for fan_in in _internal_layer_inputs(layer, features))


def _layer_floats(layer: Layer, info: LayerAnalysis, sequences: int, saved: bool) -> int:
    if isinstance(layer, RecurrentLayer):
        steps = info.input_shape[1].fixed
        return _recurrent_floats(layer, info.input_shape[-1].fixed, sequences, steps, saved)
    values = math.prod(d.fixed for d in info.output_shape)  # one sequence's (the analysis ran with batch 1)
    return sequences * values * (SAVED_FLOATS_PER_OUTPUT if saved else 2)


def estimate_training_memory(
    arch: Architecture, seq_len: int, batch_size: int, examples: int, outputs: int
) -> MemoryEstimate:
    """Peak memory of training `arch` on sequences of `seq_len` steps, `batch_size` at a time, with a data set of
    `examples` sequences (train and validation) and `outputs` target values per step or sequence."""
    one = analyze(replace(arch, input=replace(arch.input, seq_len=seq_len, batch=1)))  # every size fixed
    eval_batch = max(EVAL_SEQUENCES, batch_size)
    training = sum(
        _layer_floats(layer, info, batch_size, True) for layer, info in zip(arch.stack, one.layers, strict=True)
    )
    validation = max(
        (_layer_floats(layer, info, eval_batch, False) for layer, info in zip(arch.stack, one.layers, strict=True)),
        default=0,
    )
    features = 1 if arch.input.tokens else arch.input.features or 1
    data = examples * seq_len * (features + outputs) * FLOAT
    parameters = one.total_params_torch * BYTES_PER_PARAMETER
    return MemoryEstimate(parameters, max(training, validation) * FLOAT, data)


class OverBudget(ValueError):
    """A run whose estimated memory is over the server's budget; the message names both figures."""


def check_training_memory(estimate: MemoryEstimate, limits: Limits) -> None:
    count = estimate.parameters // BYTES_PER_PARAMETER
    if count > limits.max_train_params:
        raise OverBudget(
            f"this model has {count:,} parameters, more than the server trains, {limits.max_train_params:,} "
            "(EXPLORER_MAX_TRAIN_PARAMS). Lower the units, the vocabulary or the number of layers."
        )
    budget = limits.max_train_memory_mb * MB
    if estimate.total > budget:
        raise OverBudget(
            f"this run would need about {estimate.total / MB:,.0f} MB of memory ({estimate.describe()}), more than "
            f"the server allows one training, {limits.max_train_memory_mb:,} MB (EXPLORER_MAX_TRAIN_MEMORY_MB). "
            "Lower the batch size, the units, the sequence length or the number of layers."
        )


def address_space_cap(limits: Limits) -> int:
    """The hard cap a CPU worker sets on itself (RLIMIT_AS), in bytes."""
    return limits.max_train_memory_mb * MB + ADDRESS_SPACE_HEADROOM_BYTES

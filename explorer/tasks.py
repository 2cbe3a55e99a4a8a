"""Synthetic sequence tasks, generated from a seed (nothing is downloaded), and user CSV data.

A task fixes the input features and the head it needs; `check_task` says, in the language of shapes,
where a drawn architecture does not fit, with a fix, and never changes the model itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

import torch

from explorer.analysis import Analysis, Diagnostic, Dim, FixAction, Severity, analyze, shape_label
from explorer.layers.embedding import Embedding
from explorer.layers.recurrent import RecurrentLayer
from explorer.spec import Activation, Architecture, Dense


class Kind(str, Enum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Data:
    """x: (n, time, features), zero-padded; y: (n,) or (n, time) class ids, or (n, outputs) targets;
    lengths: (n,) valid steps of each sequence."""

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return self.x.size(0)

    def to(self, device: torch.device) -> Data:
        return Data(self.x.to(device), self.y.to(device), self.lengths.to(device))


Generator = Callable[[int, int, bool, torch.Generator], Data]

DEFAULT_STEPS = 300
DEFAULT_LR = 3e-3
N_TRAIN, N_VAL = 2048, 512  # sequences generated for a synthetic task


@dataclass(frozen=True, eq=False)
class Task:
    name: str
    title: str
    description: str
    kind: Kind
    features: int
    outputs: int  # classes, or regression targets
    per_step: bool  # one label per time step (needs return_sequences on the last recurrent layer)
    default_seq_len: int
    generate: Generator | None  # None: the user's own data (user_splits)
    baseline_name: str
    suggested_steps: int = DEFAULT_STEPS
    suggested_lr: float = DEFAULT_LR
    # User data: (seq_len, seed) -> (train, val) instead of generating; fixed_seq_len where rows fix it.
    user_splits: Callable[[int, int], tuple[Data, Data]] | None = None
    fixed_seq_len: int | None = None
    variable_lengths: bool = False  # user sequences of different lengths: the input must be variable
    examples: int = N_TRAIN + N_VAL  # at most this many sequences in train and validation together (memory)
    vocab: int | None = None  # token ids 0 to vocab - 1 (0 is the padding) instead of real-valued features

    @property
    def metric(self) -> str:
        return "accuracy" if self.kind is Kind.CLASSIFICATION else "mse"


def _lengths(n: int, seq_len: int, variable: bool, g: torch.Generator) -> torch.Tensor:
    if not variable:
        return torch.full((n,), seq_len, dtype=torch.long)
    lengths = torch.randint(max(1, seq_len // 2), seq_len + 1, (n,), generator=g)
    lengths[0] = seq_len  # the longest sequence fills the padded batch
    return lengths


def _pad(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    steps = torch.arange(x.size(1)).unsqueeze(0)
    return x * (steps < lengths.unsqueeze(1)).unsqueeze(-1)


def _frequencies(n: int, seq_len: int, variable: bool, g: torch.Generator) -> Data:
    """Which of five frequencies is hidden in ten noisy, phase-shifted channels?"""
    classes = torch.randint(0, 5, (n,), generator=g)
    steps = torch.arange(seq_len).float()
    omega = 2 * math.pi * (classes.float() + 1) / 20  # cycles per step, whatever the length
    phase = torch.rand(n, 1, 1, generator=g) * 2 * math.pi + torch.arange(10).float() * 0.3
    x = torch.sin(omega[:, None, None] * steps[None, :, None] + phase)
    x = x + 0.4 * torch.randn(x.shape, generator=g)
    lengths = _lengths(n, seq_len, variable, g)
    return Data(_pad(x, lengths), classes, lengths)


def _regimes(n: int, seq_len: int, variable: bool, g: torch.Generator) -> Data:
    """Label every step with the hidden regime (of 4) that emits noisy evidence; regimes persist."""
    regime = torch.empty(n, seq_len, dtype=torch.long)
    regime[:, 0] = torch.randint(0, 4, (n,), generator=g)
    for t in range(1, seq_len):
        switch = torch.rand(n, generator=g) < 0.1
        regime[:, t] = torch.where(switch, torch.randint(0, 4, (n,), generator=g), regime[:, t - 1])
    x = torch.randn(n, seq_len, 10, generator=g)
    x[:, :, :4] += 1.2 * torch.nn.functional.one_hot(regime, 4).float()
    lengths = _lengths(n, seq_len, variable, g)
    return Data(_pad(x, lengths), regime, lengths)


TOKEN_VOCAB = 50
KEYWORDS = (7, 13)  # the two token ids whose presence decides the class


def _keywords(n: int, seq_len: int, variable: bool, g: torch.Generator) -> Data:
    """Token ids 1 to 49 (0 is the padding); the class says which of two keywords occur: neither, the first,
    the second, or both. Where in the sequence does not matter: a bag-of-words rule an Embedding must learn."""
    lengths = _lengths(n, seq_len, variable, g)
    others = torch.tensor([t for t in range(1, TOKEN_VOCAB) if t not in KEYWORDS])
    x = others[torch.randint(0, len(others), (n, seq_len), generator=g)]
    present = torch.rand(n, len(KEYWORDS), generator=g) < 0.5
    rows = torch.arange(n)
    for k, keyword in enumerate(KEYWORDS):
        where = (torch.rand(n, generator=g) * lengths).long()  # a valid step of each sequence
        x[rows[present[:, k]], where[present[:, k]]] = keyword
    if len(KEYWORDS) > 1 and seq_len == 1:  # one step holds one keyword: the second one written wins
        present[:, 0] &= x[:, 0] == KEYWORDS[0]
    classes = present[:, 0].long() + 2 * present[:, 1].long()
    valid = torch.arange(seq_len).unsqueeze(0) < lengths.unsqueeze(1)
    return Data(x * valid, classes, lengths)


FORECAST_HORIZON = 5


def _forecast(n: int, seq_len: int, variable: bool, g: torch.Generator) -> Data:
    """Two sines with random frequencies and phases, plus noise: predict the next five values."""
    steps = torch.arange(seq_len + FORECAST_HORIZON).float()
    omega = 0.15 + 0.35 * torch.rand(n, 2, 1, generator=g)
    phase = torch.rand(n, 2, 1, generator=g) * 2 * math.pi
    signal = torch.sin(omega * steps + phase).sum(1)
    signal = signal + 0.1 * torch.randn(signal.shape, generator=g)
    return Data(signal[:, :seq_len, None], signal[:, seq_len:], torch.full((n,), seq_len, dtype=torch.long))


def _adding(n: int, seq_len: int, variable: bool, g: torch.Generator) -> Data:
    """Hochreiter's adding problem: add the two values whose marker is 1, far apart in time."""
    values = torch.rand(n, seq_len, generator=g)
    markers = torch.zeros(n, seq_len)
    half = max(seq_len // 2, 1)
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, seq_len, (n,), generator=g) if seq_len > 1 else first
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = (values * markers).sum(1, keepdim=True)
    return Data(torch.stack([values, markers], -1), target, torch.full((n,), seq_len, dtype=torch.long))


TASKS = {
    task.name: task
    for task in [
        Task(
            "classify",
            "Sequence classification: which frequency?",
            "Ten noisy channels carry one of five frequencies; name it (one label per sequence).",
            Kind.CLASSIFICATION,
            10,
            5,
            False,
            20,
            _frequencies,
            "majority class",
        ),
        Task(
            "label",
            "Sequence labelling: hidden regimes",
            "Every step gets the label of the hidden regime (of four) behind noisy evidence; "
            "regimes persist, so memory helps (one label per time step).",
            Kind.CLASSIFICATION,
            10,
            4,
            True,
            20,
            _regimes,
            "majority class",
        ),
        Task(
            "forecast",
            "Forecasting: the next five values",
            "A noisy sum of two sines; predict its next five values (regression).",
            Kind.REGRESSION,
            1,
            FORECAST_HORIZON,
            False,
            30,
            _forecast,
            "repeat the last value",
        ),
        Task(
            "adding",
            "Long-range memory: the adding problem",
            "Add the two values marked far apart in a long sequence; LSTM and GRU learn it, "
            "a plain RNN's gradients vanish before they reach the first mark.",
            Kind.REGRESSION,
            2,
            1,
            False,
            40,
            _adding,
            "always predict 1.0",
            600,
            1e-2,
        ),
        Task(
            "tokens",
            "Token classification: which keywords occur?",
            f"Sequences of token ids (vocabulary {TOKEN_VOCAB}); the label says which of two keywords occur "
            "anywhere in them: neither, one, the other, or both. Needs token input and an Embedding.",
            Kind.CLASSIFICATION,
            1,
            4,
            False,
            20,
            _keywords,
            "majority class",
            vocab=TOKEN_VOCAB,
        ),
    ]
}


def seq_len_for(task: Task, arch: Architecture) -> int:
    return task.fixed_seq_len or arch.input.seq_len or task.default_seq_len


def make_splits(
    task: Task, arch: Architecture, seed: int, n_train: int = N_TRAIN, n_val: int = N_VAL
) -> tuple[Data, Data]:
    """Train and validation sets from one seed: the same seed gives the same data."""
    seq_len, variable = seq_len_for(task, arch), arch.input.seq_len is None
    if task.user_splits is not None:
        return task.user_splits(seq_len, seed)
    g = torch.Generator().manual_seed(seed)
    assert task.generate is not None  # a task without user_splits generates its data
    return task.generate(n_train, seq_len, variable, g), task.generate(n_val, seq_len, variable, g)


def _majority(task: Task, train: Data, val: Data) -> float:
    if task.per_step:
        steps = torch.arange(val.y.size(1)).unsqueeze(0) < val.lengths.unsqueeze(1)
        return (val.y[steps] == torch.mode(train.y.flatten()).values).float().mean().item()
    return (val.y == torch.mode(train.y).values).float().mean().item()


def _persistence(task: Task, train: Data, val: Data) -> float:
    last = val.x[torch.arange(len(val)), val.lengths - 1, :1]
    return torch.mean((last.expand_as(val.y) - val.y) ** 2).item()


def _constant_one(task: Task, train: Data, val: Data) -> float:
    return torch.mean((torch.ones_like(val.y) - val.y) ** 2).item()


BASELINES = {"majority class": _majority, "repeat the last value": _persistence, "always predict 1.0": _constant_one}


def baseline(task: Task, train: Data, val: Data) -> float:
    """The trivial model to beat: accuracy of the majority class, or MSE of a naive forecast."""
    return BASELINES[task.baseline_name](task, train, val)


# --- fitting the drawn architecture to a task -------------------------------------------------


def check_task(arch: Architecture, task: Task) -> list[Diagnostic]:
    """Where the architecture does not fit the task: errors in the language of shapes, each with a fix."""
    found = [*_input_misfits(arch, task), *_head_misfits(arch, task), *_per_step_misfits(arch, task)]
    return [replace(d, message=f"Task '{task.name}': {d.message}") for d in found]


def _misfit(layer: int, code: str, message: str, fix: str, action: FixAction) -> Diagnostic:
    return Diagnostic(Severity.ERROR, layer, code, message, fix, action)


def _input_misfits(arch: Architecture, task: Task) -> list[Diagnostic]:
    found = [*_token_misfits(arch, task)]
    if task.vocab is None and not arch.input.tokens and arch.input.features != task.features:
        feeds = shape_label((Dim("batch"), Dim("time"), Dim("features", task.features)))
        found.append(
            _misfit(
                0,
                "task-features",
                f"its data is {feeds} but the input takes features={arch.input.features}.",
                f"Set the input features to {task.features}.",
                FixAction.on_input(features=task.features),
            )
        )
    if task.fixed_seq_len is not None and arch.input.seq_len not in (None, task.fixed_seq_len):
        found.append(
            _misfit(
                0,
                "task-seq-len",
                f"its sequences have {task.fixed_seq_len} steps but the input takes seq_len={arch.input.seq_len}.",
                f"Set the sequence length to {task.fixed_seq_len} (or make it variable).",
                FixAction.on_input(seq_len=task.fixed_seq_len),
            )
        )
    if task.variable_lengths and arch.input.seq_len is not None:
        found.append(
            _misfit(
                0,
                "task-variable",
                f"its sequences differ in length (up to {task.default_seq_len} steps) but the input takes "
                f"seq_len={arch.input.seq_len}.",
                "Make the sequence length variable.",
                FixAction.on_input(seq_len=None),
            )
        )
    return found


def _token_misfits(arch: Architecture, task: Task) -> list[Diagnostic]:
    """Token data need token input and an Embedding that knows every id; real-valued data need features."""
    if task.vocab is None:
        if not arch.input.tokens:
            return []
        feeds = shape_label((Dim("batch"), Dim("time"), Dim("features", task.features)))
        return [
            _misfit(
                0,
                "task-tokens",
                f"its data are real values {feeds}, but the input takes token ids.",
                f"Choose a task of token ids ('tokens'), or set the input to {task.features} real-valued features "
                "(and remove the Embedding).",
                FixAction.on_input(tokens=False, features=task.features),
            )
        ]
    if not arch.input.tokens:
        return [
            _misfit(
                0,
                "task-tokens",
                f"its data are token ids (batch, time), vocabulary {task.vocab}, but the input takes real-valued "
                "features.",
                "Set the input to token ids (then put an Embedding first).",
                FixAction.on_input(tokens=True, features=None),
            )
        ]
    first = arch.layers[0] if arch.layers else None
    if isinstance(first, Embedding) and first.vocab < task.vocab:
        return [
            _misfit(
                1,
                "task-vocab",
                f"its token ids go up to {task.vocab - 1}, but the Embedding has vocab={first.vocab}: ids from "
                f"{first.vocab} on have no vector (torch: 'index out of range in self').",
                f"Set the Embedding's vocab to {task.vocab}.",
                FixAction(0, (("vocab", task.vocab),)),
            )
        ]
    return []


def _head_misfits(arch: Architecture, task: Task) -> list[Diagnostic]:
    activation_ok = {None, Activation.SOFTMAX, Activation.LOG_SOFTMAX} if task.kind is Kind.CLASSIFICATION else {None}
    final = arch.stack[-1] if arch.stack else None
    if isinstance(final, Dense) and final.units == task.outputs and final.activation in activation_ok:
        return []
    activation = Activation.SOFTMAX if task.kind is Kind.CLASSIFICATION else None
    noun = ("class", "classes") if task.kind is Kind.CLASSIFICATION else ("value", "values")
    what = f"{task.outputs} {noun[task.outputs != 1]}"
    need = f"Dense({task.outputs}" + (", softmax" if activation else "") + ")"
    why = "linear: regression targets are unbounded" if activation is None else "softmax or none"
    message = (
        f"it predicts {what} per {'step' if task.per_step else 'sequence'}, so it needs a {need} last layer ({why}); "
    )
    if arch.head is None and isinstance(final, Dense):  # the stack's own last Dense: change it in place
        index = len(arch.layers) - 1
        return [
            _misfit(
                index + 1,
                "task-head",
                message + f"the model ends in {final.title()}.",
                f"Set layer {index + 1} to {need}.",
                FixAction(index, (("units", task.outputs), ("activation", activation))),
            )
        ]
    have = "no Dense head" if arch.head is None else f"a {arch.head.title()} head"
    return [
        _misfit(
            len(arch.layers) + 1,
            "task-head",
            message + f"the model has {have}.",
            f"Set the head to {need}.",
            FixAction.on_head(units=task.outputs, activation=activation),
        )
    ]


def _per_step_misfits(arch: Architecture, task: Task) -> list[Diagnostic]:
    analysis = analyze(arch)
    per_step_now = len(analysis.output_shape) == 3
    if not arch.layers or per_step_now == task.per_step:
        return []
    wanted = (Dim("batch"), Dim("time"), Dim("features", task.outputs)) if task.per_step else (
        Dim("batch"), Dim("features", task.outputs))  # fmt: skip
    got = "one per time step" if per_step_now else "one per sequence"
    message = (
        f"it needs {'one prediction per time step' if task.per_step else 'one prediction per sequence'} "
        f"{shape_label(wanted)} but the model gives {got} {shape_label(analysis.output_shape)}."
    )
    recurrent = [i for i, layer in enumerate(arch.layers) if isinstance(layer, RecurrentLayer)]
    last = recurrent[-1] if recurrent else None
    # return_sequences on the last recurrent layer decides it, where every layer after it acts per step.
    if last is not None and all(layer.PER_STEP for layer in arch.stack[last + 1 :]):
        return [
            _misfit(
                last + 1,
                "task-per-step",
                message,
                f"Set return_sequences={task.per_step} on layer {last + 1}.",
                FixAction(last, (("return_sequences", task.per_step),)),
            )
        ]
    return [
        Diagnostic(
            Severity.ERROR,
            len(arch.stack),
            "task-per-step",
            message,
            "Change the layers that decide the time axis (return_sequences, pooling, Flatten) to fit the task.",
        )
    ]


@dataclass(frozen=True)
class Recommendation:
    """The task that shows the most about the stack at hand, and why, for a teacher choosing one."""

    task: str
    why: str


def recommended_task(analysis: Analysis) -> Recommendation | None:
    """Token input: the keyword task. A stack that hands on a sequence: labelling, one label per step. A recurrent
    stack that hands on one vector: the adding task, where the cell matters (the frequency task is learnt to
    100 % by any cell, so it compares nothing). None without a recurrent layer, or when the stack does not run."""
    arch = analysis.architecture
    if not analysis.valid or not any(isinstance(layer, RecurrentLayer) for layer in arch.stack):
        return None
    if arch.input.tokens:
        return Recommendation("tokens", "it reads token ids, the input this stack takes.")
    if len(analysis.layers[-1].output_shape) == 3:
        return Recommendation("label", "this stack hands on one output per time step: a label for each step.")
    return Recommendation(
        "adding",
        "it is where the cell matters. LSTM and GRU learn to add two numbers marked 40 steps apart; a simple RNN "
        "does not, its gradients vanish on the way back. Sequence classification is learnt to 100 % by every "
        "cell, so it compares nothing. Try 'Compare cells'.",
    )

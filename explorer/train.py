"""The trainer: the exact architecture on a task, seeded, reporting through a callback. No UI code.

It syncs with the device only at reporting steps (loss, metrics, gradient norms), checks the loss
for NaN/inf there, and can be stopped between any two steps, leaving a consistent model.

What travels between the page and its training worker is typed here: the TrainConfig in, Reports and one
FinalSummary out, each as one JSON object with `to_json` / `from_json`.
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

import torch
from torch import nn

from explorer.analysis import short_layer_names
from explorer.budget import EVAL_SEQUENCES
from explorer.build import StackedRNN, build, count_parameters, parse_parameter_name
from explorer.layers.stages import RecurrentBlock
from explorer.spec import DEFAULT_LIMITS, Architecture, Limits
from explorer.tasks import Data, Kind, Task, baseline, check_task, make_splits

MAX_SEED = 2**31 - 1
MAX_LR = 1.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    clip: float | None = 1.0  # max gradient norm; None: no clipping
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda or mps
    report_every: int = 10
    threads: int | None = 1  # torch CPU threads; one per training shares the cores fairly
    max_seconds: float | None = None  # the run stops itself after this long (the server's limit)

    def check(self, limits: Limits = DEFAULT_LIMITS) -> None:
        """The server's limits hold for every way a run is started: page, CLI, worker."""
        for name, value, high, variable in [
            ("steps", self.steps, limits.max_steps, "EXPLORER_MAX_STEPS"),
            ("batch size", self.batch_size, limits.max_batch_size, "EXPLORER_MAX_BATCH_SIZE"),
        ]:
            if not 1 <= value <= high:
                raise ValueError(f"{name} must be from 1 to {high} (the limit, {variable}), received {value}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ValueError(f"the learning rate must be a number above 0 and at most {MAX_LR:g}, received {self.lr}")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"the gradient clip must be a finite number above 0, received {self.clip}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED:,}, received {self.seed}")
        cores = os.cpu_count() or 1
        if self.threads is not None and not 1 <= self.threads <= cores:
            raise ValueError(f"threads must be from 1 to {cores} (this machine's cores), received {self.threads}")
        if self.report_every < 1:
            raise ValueError(f"report every must be 1 or more steps, received {self.report_every}")
        resolve_device(self.device)  # an unknown name is refused here, before any work

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Report:
    step: int
    steps: int
    train_loss: float
    val_loss: float
    val_metric: float  # accuracy, or MSE for regression
    metric: str
    steps_per_s: float
    elapsed_s: float
    grad_norms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data[f"val_{self.metric}"] = self.val_metric
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class StopReason(str, Enum):
    REQUESTED = "requested"  # Stop, SIGINT or SIGTERM
    TIME_LIMIT = "time_limit"  # the server's EXPLORER_MAX_TRAIN_SECONDS


@dataclass(frozen=True)
class FinalSummary:
    """The worker's last line, and the CLI's final object: how the run ended and where it got."""

    task: str
    metric: str
    steps_done: int
    stopped: bool  # by the caller, or by the time limit
    stop_reason: StopReason | None
    failure: str | None  # why training ended early on its own (NaN loss, out of memory), in words
    device: str
    device_note: str | None
    params: int
    baseline: float
    baseline_name: str
    val_loss: float | None
    val_metric: float | None
    steps_per_s: float | None

    def to_json(self) -> dict[str, Any]:
        data = {"type": "final", **asdict(self)}
        data["stop_reason"] = None if self.stop_reason is None else self.stop_reason.value
        data[f"val_{self.metric}"] = self.val_metric
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinalSummary:
        values = {f.name: data[f.name] for f in fields(cls)}
        values["stop_reason"] = None if data["stop_reason"] is None else StopReason(data["stop_reason"])
        return cls(**values)


@dataclass
class Result:
    reports: list[Report]
    stopped: bool
    stop_reason: StopReason | None
    failure: str | None
    baseline: float
    device: str
    device_note: str | None
    model: StackedRNN
    steps_done: int

    @property
    def final(self) -> Report | None:
        return self.reports[-1] if self.reports else None

    def summary(self, task: Task) -> FinalSummary:
        final = self.final
        return FinalSummary(
            task=task.name,
            metric=task.metric,
            steps_done=self.steps_done,
            stopped=self.stopped,
            stop_reason=self.stop_reason,
            failure=self.failure,
            device=self.device,
            device_note=self.device_note,
            params=count_parameters(self.model),
            baseline=self.baseline,
            baseline_name=task.baseline_name,
            val_loss=final.val_loss if final else None,
            val_metric=final.val_metric if final else None,
            steps_per_s=final.steps_per_s if final else None,
        )


class TaskMismatch(ValueError):
    """The architecture does not fit the task; the message lists each misfit and its fix."""


def resolve_device(requested: str) -> tuple[torch.device, str | None]:
    """auto: cuda, then mps, then cpu. A missing device falls back to the CPU, with the reason."""
    if requested not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda or mps, received {requested!r}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu"), None
    if requested == "cuda" and not cuda:
        return torch.device(
            "cpu"
        ), "CUDA was chosen but torch sees no CUDA GPU (a CPU build, or no GPU): training on the CPU."
    if requested == "mps" and not mps:
        return torch.device("cpu"), "MPS was chosen but this machine has no Apple GPU for torch: training on the CPU."
    return torch.device(requested), None


def tune_allocator() -> None:
    """Keep glibc from returning and re-faulting memory on every step (thousands of page faults a step
    otherwise): the same settings as raising MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_, MALLOC_MMAP_THRESHOLD_."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to tune
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    libc.mallopt(m_top_pad, 64 * 1024 * 1024)
    libc.mallopt(m_mmap_threshold, 512 * 1024 * 1024)


def layer_groups(model: StackedRNN, arch_names: list[str]) -> dict[str, list[nn.Parameter]]:
    """Parameters by layer of the architecture (those that have any), also inside fused modules (internal
    layer k of a fused run belongs to whichever architecture layer stacked it)."""
    groups: dict[str, list[nn.Parameter]] = {}
    stack = model.arch.stack
    for stage in model.stage_list:
        if isinstance(stage, RecurrentBlock):
            owners = [i for i in stage.layers for _ in range(stack[i].depth)]
            for name, param in stage.rnn.named_parameters():
                groups.setdefault(arch_names[owners[parse_parameter_name(name).layer]], []).append(param)
        elif params := list(stage.parameters()):
            groups[arch_names[stage.layers[0]]] = params
    return groups


def _sums(task: Task, model: StackedRNN, data: Data) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Summed loss, summed metric and how many predictions they cover, as device tensors (no host sync)."""
    lengths = data.lengths if model.variable_length else None
    if task.kind is Kind.REGRESSION:
        squared = torch.sum((model(data.x, lengths) - data.y) ** 2)
        return squared, squared.detach(), data.y.numel()
    logits = model.run(data.x, lengths, activate=False)[0]  # cross-entropy takes logits
    if task.per_step:
        valid = torch.arange(data.y.size(1), device=data.y.device).unsqueeze(0) < data.lengths.unsqueeze(1)
        logits, targets = logits[valid], data.y[valid]
    else:
        targets = data.y
    loss = nn.functional.cross_entropy(logits, targets, reduction="sum")
    return loss, (logits.argmax(-1) == targets).float().sum(), targets.numel()


def _loss(task: Task, model: StackedRNN, data: Data) -> torch.Tensor:
    total, _, count = _sums(task, model, data)
    return total / count


def _out_of_memory(exc: BaseException) -> bool:
    """torch's CPU allocator refuses past the worker's cap (its DefaultCPUAllocator says so); Python raises
    MemoryError; CUDA its own error."""
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or "DefaultCPUAllocator" in str(exc)


def _out_of_memory_message(exc: BaseException, step: int, batch_size: int) -> str:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (
            f"The GPU ran out of memory at step {step} (batch {batch_size}). "
            "Lower the batch size or the units, or train on the CPU."
        )
    return (
        f"Training ran out of memory at step {step} (batch {batch_size}): it reached the memory a training may "
        "use on this server (EXPLORER_MAX_TRAIN_MEMORY_MB). Lower the batch size, the units or the sequence length."
    )


def _nan_explanation(config: TrainConfig, step: int) -> str:
    return (
        f"The loss became NaN or infinite at step {step}: the weights blew up. The usual cause is a "
        f"learning rate that is too high (now {config.lr:g}): lower it ten-fold"
        + ("" if config.clip else ", or turn on gradient clipping")
        + "."
    )


def _time_limit_reached(config: TrainConfig, start: float) -> bool:
    return config.max_seconds is not None and time.perf_counter() - start > config.max_seconds


class Trainer:
    def __init__(
        self,
        arch: Architecture,
        task: Task,
        config: TrainConfig = TrainConfig(),
        on_report: Callable[[Report], None] | None = None,
    ):
        misfits = check_task(arch, task)
        if misfits:
            raise TaskMismatch(" ".join(f"{d.message} Fix: {d.fix}" for d in misfits))
        self.arch, self.task, self.config, self.on_report = arch, task, config, on_report
        self.device, self.device_note = resolve_device(config.device)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Result:
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        tune_allocator()
        torch.manual_seed(config.seed)  # weights and dropout
        train, val = make_splits(self.task, self.arch, config.seed)
        model = build(self.arch).to(self.device)
        result = Result([], False, None, None, baseline(self.task, train, val), str(self.device), self.device_note,
                        model, 0)  # fmt: skip
        try:
            self._loop(model, train.to(self.device), val.to(self.device), result, should_stop)
        except (RuntimeError, MemoryError) as exc:
            if not _out_of_memory(exc):
                raise
            result.failure = _out_of_memory_message(exc, result.steps_done + 1, config.batch_size)
        model.eval()
        return result

    def _loop(self, model: StackedRNN, train: Data, val: Data, result: Result, should_stop: Callable[[], bool]) -> None:
        config, task = self.config, self.task
        groups = layer_groups(model, short_layer_names(self.arch))
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        batches = torch.Generator().manual_seed(config.seed + 1)
        running = torch.zeros((), device=self.device)  # summed on the device: no sync per step
        since_report = 0
        start = time.perf_counter()
        for step in range(1, config.steps + 1):
            requested = should_stop()
            if requested or _time_limit_reached(config, start):
                result.stopped = True
                result.stop_reason = StopReason.REQUESTED if requested else StopReason.TIME_LIMIT
                return
            model.train()
            index = torch.randint(0, len(train), (config.batch_size,), generator=batches).to(self.device)
            loss = _loss(task, model, Data(train.x[index], train.y[index], train.lengths[index]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            report_now = step % config.report_every == 0 or step == config.steps
            grad_norms = _grad_norms(groups) if report_now else {}
            if config.clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            result.steps_done = step
            running += loss.detach()
            since_report += 1
            if not report_now:
                continue
            train_loss = running.item() / since_report  # the one sync of a reporting step
            running.zero_()
            since_report = 0
            if not math.isfinite(train_loss):
                result.failure = _nan_explanation(config, step)
                return
            val_loss, val_metric = self._evaluate(model, val)
            elapsed = time.perf_counter() - start
            report = Report(
                step, config.steps, train_loss, val_loss, val_metric, task.metric, step / elapsed, elapsed, grad_norms
            )
            result.reports.append(report)
            if self.on_report:
                self.on_report(report)

    def _evaluate(self, model: StackedRNN, val: Data) -> tuple[float, float]:
        """Mean loss and metric over the validation set, a chunk at a time."""
        model.eval()
        loss = metric = torch.zeros((), device=self.device)
        count = 0
        size = max(EVAL_SEQUENCES, self.config.batch_size)  # the chunk the memory budget assumes
        with torch.no_grad():
            for first in range(0, len(val), size):
                chunk = slice(first, first + size)
                chunk_loss, chunk_metric, n = _sums(
                    self.task, model, Data(val.x[chunk], val.y[chunk], val.lengths[chunk])
                )
                loss, metric, count = loss + chunk_loss, metric + chunk_metric, count + n
        return loss.item() / count, metric.item() / count


def _grad_norms(groups: dict[str, list[nn.Parameter]]) -> dict[str, float]:
    norms = {}
    for name, params in groups.items():
        grads = [p.grad for p in params if p.grad is not None]
        norms[name] = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item() if grads else 0.0
        )
    return norms

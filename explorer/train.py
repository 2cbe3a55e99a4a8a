"""The trainer: the exact architecture on a task, seeded, reporting through a callback. No UI code.

It syncs with the device only at reporting steps (loss, metrics, gradient norms), checks the loss
for NaN/inf there, and can be stopped between any two steps, leaving a consistent model.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from explorer.analysis import short_layer_names
from explorer.build import StackedRNN, build
from explorer.spec import DEFAULT_LIMITS, Limits
from explorer.tasks import Data, Kind, Task, baseline, check_task, make_splits


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
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"the learning rate must be a finite number > 0, received {self.lr}")


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

    def to_json(self) -> dict:
        data = asdict(self)
        data[f"val_{self.metric}"] = self.val_metric
        return data


@dataclass
class Result:
    reports: list[Report]
    stopped: bool  # by the caller, or by the time limit
    failure: str | None  # why training ended early on its own (NaN loss, out of memory)
    baseline: float
    device: str
    device_note: str | None
    model: StackedRNN
    steps_done: int
    stop_reason: str | None = None

    @property
    def final(self) -> Report | None:
        return self.reports[-1] if self.reports else None


class TaskMismatch(ValueError):
    """The architecture does not fit the task; the message lists each misfit and its fix."""


def resolve_device(requested: str) -> tuple[torch.device, str | None]:
    """auto: cuda, then mps, then cpu. A missing device falls back to the CPU, with the reason."""
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
    if requested not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda or mps, received {requested!r}")
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
    """Parameters by layer of the architecture, also inside fused modules (internal layer k of a
    fused run belongs to whichever architecture layer stacked it)."""
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in arch_names}
    for block in model.blocks:
        owners = [i for i in block.layers for _ in range(model.layer_depths[i])]
        for name, param in block.rnn.named_parameters():
            k = int(name.split("_l")[1].split("_")[0])  # weight_ih_l1_reverse -> 1
            groups[arch_names[owners[k]]].append(param)
    if model.head is not None:
        groups["Dense"] = list(model.head.parameters())
    return groups


def _loss_and_metric(task: Task, model: StackedRNN, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and metric over `data`, as device tensors (no host sync here)."""
    lengths = data.lengths if model.variable_length else None
    if task.kind is Kind.REGRESSION:
        prediction = model(data.x, lengths)
        loss = torch.mean((prediction - data.y) ** 2)
        return loss, loss.detach()
    logits = model.run(data.x, lengths, activate=False)[0]  # cross-entropy takes logits
    if task.per_step:
        valid = torch.arange(data.y.size(1), device=data.y.device).unsqueeze(0) < data.lengths.unsqueeze(1)
        logits, targets = logits[valid], data.y[valid]
    else:
        targets = data.y
    loss = nn.functional.cross_entropy(logits, targets)
    return loss, (logits.argmax(-1) == targets).float().mean()


def _nan_explanation(config: TrainConfig, step: int) -> str:
    return (
        f"The loss became NaN or infinite at step {step}: the weights blew up. The usual cause is a "
        f"learning rate that is too high (now {config.lr:g}): lower it ten-fold"
        + ("" if config.clip else ", or turn on gradient clipping")
        + "."
    )


class Trainer:
    def __init__(
        self, arch, task: Task, config: TrainConfig = TrainConfig(), on_report: Callable[[Report], None] | None = None
    ):
        misfits = check_task(arch, task)
        if misfits:
            raise TaskMismatch(" ".join(f"{d.message} Fix: {d.fix}" for d in misfits))
        self.arch, self.task, self.config, self.on_report = arch, task, config, on_report
        self.device, self.device_note = resolve_device(config.device)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Result:
        config, task = self.config, self.task
        if config.threads:
            torch.set_num_threads(config.threads)
        tune_allocator()
        torch.manual_seed(config.seed)  # weights and dropout
        train, val = make_splits(task, self.arch, config.seed)
        base = baseline(task, train, val)
        model = build(self.arch).to(self.device)
        train, val = train.to(self.device), val.to(self.device)
        groups = layer_groups(model, short_layer_names(self.arch))
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        batches = torch.Generator().manual_seed(config.seed + 1)
        reports: list[Report] = []
        running = torch.zeros((), device=self.device)  # summed on the device: no sync per step
        since_report, failure, stopped, steps_done, stop_reason = 0, None, False, 0, None
        start = time.perf_counter()
        for step in range(1, config.steps + 1):
            if should_stop():
                stopped, stop_reason = True, "stopped on request"
                break
            if config.max_seconds is not None and time.perf_counter() - start > config.max_seconds:
                stopped = True
                stop_reason = (
                    f"stopped at the server's time limit of {config.max_seconds:g} s (EXPLORER_MAX_TRAIN_SECONDS)"
                )
                break
            model.train()
            index = torch.randint(0, len(train), (config.batch_size,), generator=batches).to(self.device)
            batch = Data(train.x[index], train.y[index], train.lengths[index])
            try:
                loss, _ = _loss_and_metric(task, model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                report_now = step % config.report_every == 0 or step == config.steps
                grad_norms = _grad_norms(groups) if report_now else {}
                if config.clip:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip)
                optimizer.step()
            except torch.cuda.OutOfMemoryError:
                failure = (
                    f"The GPU ran out of memory at step {step} (batch {config.batch_size}). "
                    "Lower the batch size or the units, or train on the CPU."
                )
                break
            steps_done = step
            running += loss.detach()
            since_report += 1
            if not report_now:
                continue
            train_loss = running.item() / since_report  # the one sync of a reporting step
            running.zero_()
            since_report = 0
            if not math.isfinite(train_loss):
                failure = _nan_explanation(config, step)
                break
            val_loss, val_metric = self._evaluate(model, val)
            elapsed = time.perf_counter() - start
            report = Report(
                step, config.steps, train_loss, val_loss, val_metric, task.metric, step / elapsed, elapsed, grad_norms
            )
            reports.append(report)
            if self.on_report:
                self.on_report(report)
        model.eval()
        return Result(
            reports, stopped, failure, base, str(self.device), self.device_note, model, steps_done, stop_reason
        )

    def _evaluate(self, model: StackedRNN, val: Data) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            loss, metric = _loss_and_metric(self.task, model, val)
        return loss.item(), metric.item()


def _grad_norms(groups: dict[str, list[nn.Parameter]]) -> dict[str, float]:
    norms = {}
    for name, params in groups.items():
        grads = [p.grad for p in params if p.grad is not None]
        norms[name] = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item() if grads else 0.0
        )
    return norms

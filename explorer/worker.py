"""One training job, as the page's worker (`python -m explorer.worker`) and the CLI's `train` run it.

The page sends one TrainingJob as JSON on standard input; the worker answers with JSON lines on standard
output, a Report per reporting step, then the FinalSummary. A job that cannot run (a setting over a limit,
a task misfit, bad data, a run over the memory budget, an unwritable weights path) is refused before any
training, with one line `error: ...` on standard error and exit code 2. On the CPU the worker caps its own
address space, so a wrong memory estimate ends this run with "out of memory", never the server.
SIGINT or SIGTERM stops it between two steps; it still saves the weights and prints the final line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explorer.budget import address_space_cap, check_training_memory, estimate_training_memory
from explorer.spec import Architecture, Limits, SpecError, architecture_from_dict, architecture_to_dict, read_capped
from explorer.tasks import TASKS, Task, seq_len_for
from explorer.train import Report, TrainConfig, Trainer, resolve_device
from explorer.userdata import USER_TASKS, DataError, user_task


@dataclass(frozen=True)
class TrainingJob:
    architecture: Architecture
    task: str  # a name of TASKS or USER_TASKS
    config: TrainConfig
    csv: Path | None = None  # the user's data, for the csv-* tasks
    save_weights: Path | None = None
    nice: int = 0  # run the worker at this CPU niceness at least (0 to 19)

    def to_json(self) -> str:
        return json.dumps(
            {
                "architecture": architecture_to_dict(self.architecture),
                "task": self.task,
                "config": self.config.to_json(),
                "csv": None if self.csv is None else str(self.csv),
                "save_weights": None if self.save_weights is None else str(self.save_weights),
                "nice": self.nice,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes, limits: Limits) -> TrainingJob:
        data: dict[str, Any] = json.loads(text)
        return cls(
            architecture_from_dict(data["architecture"], limits),
            data["task"],
            TrainConfig.from_json(data["config"]),
            None if data["csv"] is None else Path(data["csv"]),
            None if data["save_weights"] is None else Path(data["save_weights"]),
            int(data["nice"]),
        )


def load_task(name: str, csv: Path | None, limits: Limits) -> Task:
    if name not in USER_TASKS:
        if name not in TASKS:
            raise DataError(f"the task must be one of {', '.join([*TASKS, *USER_TASKS])}, received {name!r}")
        if csv:
            raise DataError(f"--csv goes with --task csv-forecast or csv-classify, not {name}")
        return TASKS[name]
    if csv is None:
        raise DataError(f"--task {name} needs your data: --csv FILE")
    raw = read_capped(csv, limits.max_csv_bytes)
    try:
        return user_task(name, raw, csv.name, limits)
    except DataError as exc:
        raise DataError(f"{csv}: {exc}") from None


def _check_writable(path: Path) -> None:
    """Before training, not after it: weights that cannot be saved would be lost with the run."""
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write the weights to {path}: {exc.strerror or exc}") from None
    if not existed:
        path.unlink()


def check_run(arch: Architecture, task: Task, config: TrainConfig, limits: Limits) -> None:
    """The settings within the limits, and the run's memory within the budget: the page asks before it starts a
    worker, and the worker asks again. Raises ValueError (or a subclass) saying what is wrong."""
    config.check(limits)
    estimate = estimate_training_memory(arch, seq_len_for(task, arch), config.batch_size, task.examples, task.outputs)
    check_training_memory(estimate, limits)


def prepare(job: TrainingJob, limits: Limits) -> Trainer:
    """Every check a run must pass, before any training: raises ValueError (or a subclass) saying what is wrong."""
    job.config.check(limits)  # first: a bad setting is named before the data are read
    task = load_task(job.task, job.csv, limits)
    check_run(job.architecture, task, job.config, limits)
    if job.save_weights is not None:
        _check_writable(job.save_weights)
    return Trainer(job.architecture, task, job.config)


def _cap_memory(limits: Limits) -> None:
    """A hard ceiling on this process's address space. CPU only: CUDA maps far more address space than it uses."""
    try:
        import resource
    except ImportError:  # not a Unix: the estimate is the only guard
        return
    cap = address_space_cap(limits)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard if hard != resource.RLIM_INFINITY and hard < cap else cap))


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"type": "report", **report.to_json()}), flush=True)
        return
    print(
        f"step {report.step:>5}/{report.steps}  train loss {report.train_loss:.4f}  val loss {report.val_loss:.4f}  "
        f"val {report.metric} {report.val_metric:.4f}  {report.steps_per_s:.0f} steps/s",
        flush=True,
    )


def run_job(job: TrainingJob, limits: Limits, as_json: bool) -> int:
    """Train, print the reports and the final summary; the exit code: 0 done or stopped, 1 failed, 2 refused."""
    if job.nice:  # at least this low: the server that started it may have lowered it already
        os.setpriority(os.PRIO_PROCESS, 0, min(max(job.nice, os.getpriority(os.PRIO_PROCESS, 0)), 19))
    try:
        trainer = prepare(job, limits)
    except ValueError as exc:  # unreadable or unusable data, a setting over a limit, a misfit, over budget
        print(f"error: {exc}", file=sys.stderr)
        return 2
    trainer.on_report = lambda report: _print_report(report, as_json)
    if trainer.device_note:
        print(f"note: {trainer.device_note}", file=sys.stderr)
    if resolve_device(job.config.device)[0].type == "cpu":
        _cap_memory(limits)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()  # a worker whose server died (and was re-parented) stops at its next step

    def should_stop() -> bool:
        return stop.is_set() or os.getppid() != parent

    try:
        result = trainer.run(should_stop=should_stop)
    except DataError as exc:  # user data too short for the windows the architecture asks for
        print(f"error: {job.csv}: {exc}", file=sys.stderr)
        return 2
    if job.save_weights is not None:
        torch.save(result.model.state_dict(), job.save_weights)
    summary = result.summary(trainer.task)
    if as_json:
        print(json.dumps(summary.to_json()), flush=True)
    else:
        if result.failure:
            print(f"stopped early: {result.failure}")
        value = "n/a" if summary.val_metric is None else f"{summary.val_metric:.4f}"
        print(f"validation {summary.metric}: {value} (baseline, {summary.baseline_name}: {summary.baseline:.4f})")
    return 1 if result.failure else 0


def main() -> int:
    try:
        limits = Limits.from_env()
        job = TrainingJob.from_json(sys.stdin.buffer.read(), limits)
    except (SpecError, ValueError, KeyError, TypeError) as exc:
        print(f"error: the training job could not be read: {exc}", file=sys.stderr)
        return 2
    return run_job(job, limits, as_json=True)


if __name__ == "__main__":
    sys.exit(main())

"""A training run in its own process: `python -m explorer train - --json`, fed the architecture on stdin.

A process per run keeps training off the page's GIL (the page stays responsive and training keeps its
speed), caps its torch threads on its own, and can be stopped with a signal between two steps.
Reports arrive as JSON lines; nothing is unpickled, and the weights come back as a state_dict file
loaded with weights_only=True.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from explorer.build import StackedRNN, build
from explorer.inside import layer_steps
from explorer.spec import Architecture, architecture_to_json
from explorer.tasks import Data, Task, make_splits
from explorer.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class _Progress:
    """What the reader thread writes. Kept apart from the run, so the thread holds no reference to the
    run: a run nobody holds any more (its tab closed) is collected, and its finalizer kills the worker."""

    reports: list[dict] = field(default_factory=list)
    final: dict | None = None
    error: str | None = None


def _read(process: subprocess.Popen, progress: _Progress) -> None:
    for line in process.stdout:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("type") == "report":
            progress.reports.append(message)
        elif message.get("type") == "final":
            progress.final = message
    process.wait()
    if progress.final is None:
        progress.error = process.stderr.read().strip()[-2000:] or f"the run ended with code {process.returncode}"


@dataclass(eq=False)
class TrainingRun:
    """One run; its progress is updated by a reader thread and safe to read from the page at any time."""

    number: int
    arch: Architecture
    task: Task
    config: TrainConfig
    csv: bytes | None = None  # the user's data, for the csv-* tasks
    stop_requested: bool = False

    def __post_init__(self) -> None:
        self.last_seen = time.monotonic()
        self._inside_asked: tuple[int, int] | None = None
        self._inside: dict[str, torch.Tensor] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="explorer-run-")
        self.weights_path = Path(self._dir.name) / "weights.pt"
        command = [sys.executable, "-m", "explorer", "train", "-", "--json", "--task", self.task.name]
        options = {
            "--steps": self.config.steps,
            "--lr": self.config.lr,
            "--batch-size": self.config.batch_size,
            "--seed": self.config.seed,
            "--device": self.config.device,
            "--report-every": self.config.report_every,
            "--threads": self.config.threads or 1,
            "--save-weights": self.weights_path,
            # Below the page's priority: when trainings fill the cores, edits still get the CPU first.
            "--nice": 10,
        }
        if self.csv is not None:
            options["--csv"] = Path(self._dir.name) / "data.csv"
            options["--csv"].write_bytes(self.csv)
        for flag, value in options.items():
            command += [flag, str(value)]
        self._process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        # A run whose page is gone (tab closed, session expired) must not train on: kill it when collected.
        self._finalizer = weakref.finalize(self, _kill, self._process, self._dir)
        self._process.stdin.write(architecture_to_json(self.arch))
        self._process.stdin.close()
        self._progress = _Progress()
        self._reader = threading.Thread(target=_read, args=(self._process, self._progress), daemon=True)
        self._reader.start()

    def touch(self) -> None:
        """The page showed this run: someone is still watching it."""
        self.last_seen = time.monotonic()

    @property
    def reports(self) -> list[dict]:
        return self._progress.reports

    @property
    def final(self) -> dict | None:
        return self._progress.final

    @property
    def error(self) -> str | None:
        return self._progress.error

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        # The final line comes after the weights are saved: the run is over before the process has exited.
        return self._progress.final is None and self._reader.is_alive()

    @property
    def status(self) -> str:
        if self.running:
            return "stopping" if self.stop_requested else ("running" if self.reports else "starting")
        if self.final is None and self.stop_requested:
            return "stopped"  # stopped while the worker was still starting, before its first step
        if self.error or (self.final and self.final["failure"]):
            return "failed"
        return "stopped" if self.final["stopped"] else "done"

    def stop(self) -> None:
        self.stop_requested = True
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while self.running and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.running

    @property
    def progress(self) -> float:
        return self.reports[-1]["step"] / self.config.steps if self.reports else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the last report's speed; None before the first report and once the run has ended."""
        if not self.reports or not self.running:
            return None
        last = self.reports[-1]
        return (self.config.steps - last["step"]) / max(last["steps_per_s"], 1e-9)

    @cached_property
    def model(self) -> StackedRNN:
        """The trained model, loaded once (the page reruns on every edit). Only after the run has ended."""
        model = build(self.arch)
        model.load_state_dict(torch.load(self.weights_path, weights_only=True))
        return model.eval()

    @cached_property
    def validation_samples(self) -> Data:
        """64 validation sequences of the run's own data, to look inside the trained model."""
        return make_splits(self.task, self.arch, self.config.seed, n_train=1, n_val=64)[1]

    def inside(self, sample: int, layer: int) -> dict[str, torch.Tensor]:
        """Every step's state and gates of `layer` on validation sample `sample`, (time, units × directions)
        per key of inside.VIEWS. The page asks again on every rerun: the last answer is kept."""
        if self._inside_asked != (sample, layer):
            val = self.validation_samples
            steps = int(val.lengths[sample])  # one sample: its valid steps are the whole unpadded sequence
            found = layer_steps(self.model, val.x[sample : sample + 1, :steps], layer)
            self._inside_asked, self._inside = (sample, layer), {key: value[0] for key, value in found.items()}
        return self._inside

    @property
    def label(self) -> str:
        layers = "→".join(f"{layer.type.value}{layer.units}" for layer in self.arch.layers)
        return f"#{self.number} {layers} · {self.task.name} · seed {self.config.seed}"


class ServerBusy(RuntimeError):
    """As many runs as the server allows are training; the message says so and what to do."""


class TrainingSlots:
    """Server-wide count of runs training at once, shared by every session (one per server process)."""

    def __init__(self, capacity: int, max_unwatched_s: float = 90.0):
        self.capacity = capacity
        self.max_unwatched_s = max_unwatched_s
        self._lock = threading.Lock()
        self._runs: weakref.WeakSet[TrainingRun] = weakref.WeakSet()  # an abandoned run does not hold a slot
        self._watchdog: threading.Thread | None = None

    def training(self) -> int:
        return sum(1 for run in list(self._runs) if run.running)

    def start(self, *args, **kwargs) -> TrainingRun:
        with self._lock:  # two sessions pressing Train at once cannot both take the last slot
            busy = self.training()
            if busy >= self.capacity:
                raise ServerBusy(
                    f"The server is already training {busy} models, its limit (EXPLORER_MAX_CONCURRENT_TRAININGS="
                    f"{self.capacity}). Press Train again when one of them has finished."
                )
            run = TrainingRun(*args, **kwargs)
            self._runs.add(run)
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._stop_unwatched, daemon=True)
                self._watchdog.start()
            return run

    def _stop_unwatched(self) -> None:
        """Stop runs whose page stopped polling them: the tab was closed, or the browser went away."""
        while True:
            time.sleep(min(1.0, self.max_unwatched_s / 4))
            for run in list(self._runs):
                if run.running and not run.stop_requested and time.monotonic() - run.last_seen > self.max_unwatched_s:
                    run.stop()


def _kill(process: subprocess.Popen, directory: tempfile.TemporaryDirectory) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    directory.cleanup()

"""Training runs in their own processes (`python -m explorer.worker`), as the page starts and watches them.

A process per run keeps training off the page's GIL (the page stays responsive and training keeps its
speed), caps its torch threads and its memory on its own, and can always be ended: Stop sends SIGTERM,
which the worker sees between two steps, and SIGKILL follows after a short grace, so a step that takes
long cannot outlive Stop, the time limit or a closed tab. The job goes in as one typed JSON object;
Reports and the FinalSummary come back as JSON lines, and nothing is unpickled: the weights are a
state_dict file loaded with weights_only=True. The worker's standard error is read as it is written (a
chatty worker never blocks) and goes to the server's log; the page says what happened in words.

Three parts: WorkerProcess (the process and its two pipes, in explorer.process), TrainingRun (one run as
the page shows it, its worker here or on a Ray node), TrainedModel (what a finished run's weights compute,
loaded only when looked at). TrainingSlots counts the server's runs and watches them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import torch

from explorer.build import StackedRNN, build, exported_state_dict
from explorer.inside import layer_steps
from explorer.layers.recurrent import RecurrentLayer
from explorer.process import CSV_FILE, RUN_DIR_PREFIX, WEIGHTS_FILE, WORKER_NICE, Output, WorkerProcess
from explorer.ray_runs import ClusterRefused, RayWorker, RunOrigin, find_run, ray_address
from explorer.spec import Architecture, Limits
from explorer.tasks import Data, Task, make_splits
from explorer.train import FinalSummary, Report, StopReason, TrainConfig
from explorer.userdata import user_task
from explorer.worker import TrainingJob, load_task

LOG = logging.getLogger(__name__)
OWNER_FILE = "server.pid"
# Between SIGTERM and SIGKILL: a worker needs well under a second of CPU to finish its step and save its
# weights, but runs at a lower priority than the page and may get a small share of a busy machine.
GRACE_S = 5.0


class _Pipes(Output):
    """What a worker printed, read: its reports and final summary, typed, as the lines come in (the raw lines are
    not kept: the page needs them typed)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[Report] = []
        self.final: FinalSummary | None = None

    def take(self, line: str) -> None:
        """A report, or the final summary; anything else goes to the log."""
        try:
            message = json.loads(line)
            if message.get("type") == "report":
                self.reports.append(Report.from_json(message))
            elif message.get("type") == "final":
                self.final = FinalSummary.from_json(message)
            else:
                raise ValueError("neither a report nor a final summary")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            LOG.warning("a training worker printed a line that is not a report: %.200s", line)


def _refusal(stderr: str) -> str | None:
    """The worker's own `error: ...` line, which says in words why the job was refused."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    return lines[-1].removeprefix("error: ") if lines else None


@dataclass
class TrainedModel:
    """What a finished run's weights compute: the model and its validation samples, loaded once when first
    looked at (the page reruns on every edit), and dropped with `TrainingRun.release`."""

    arch: Architecture
    task: Task
    config: TrainConfig
    weights_path: Path
    _inside_asked: tuple[int, int] | None = field(default=None, init=False)
    _inside: dict[str, torch.Tensor] = field(default_factory=dict, init=False)

    @cached_property
    def model(self) -> StackedRNN:
        model = build(self.arch)
        model.load_state_dict(torch.load(self.weights_path, weights_only=True))
        return model.eval()

    def exported_weights(self) -> bytes:
        """The trained state_dict under the exported PyTorch code's names, as a file's bytes (read on the click)."""
        buffer = io.BytesIO()
        torch.save(exported_state_dict(self.model), buffer)
        return buffer.getvalue()

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


class Worker(Protocol):
    """Where a run's worker process lives: on this machine (WorkerProcess) or on a Ray node (RayWorker)."""

    killed: bool
    started_at: float | None

    @property
    def run_id(self) -> str | None:
        """By which a page on another server finds the run; None: only this server has it."""

    @property
    def pid(self) -> int: ...
    @property
    def unwatched_s(self) -> float: ...
    def touch(self) -> None: ...
    @property
    def finished(self) -> bool: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def place_in_queue(self) -> int | None: ...
    def end(self) -> None: ...
    def close(self) -> None: ...
    def stderr_text(self) -> str: ...


class TrainingRun:
    """One run as the page shows it; its progress is updated by reader threads and safe to read at any time."""

    def __init__(
        self,
        number: int,
        arch: Architecture,
        task: Task,
        config: TrainConfig,
        csv: bytes | None = None,
        grace_s: float = GRACE_S,
        command: list[str] | None = None,
        csv_name: str | None = None,
        follow: str | None = None,
    ):
        """A new run, or with `follow` the id of a run another server of the site started on the cluster (see
        `TrainingSlots.follow`)."""
        self.number, self.arch, self.task, self.config = number, arch, task, config
        self.stop_requested = False
        self.ended_by_server: StopReason | None = None  # the server's time limit, enforced from outside
        self.started_elsewhere = follow is not None
        self._dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        (self._dir / OWNER_FILE).write_text(str(os.getpid()))  # a restarted server sweeps a dead one's runs
        self.weights_path = self._dir / WEIGHTS_FILE
        # Its paths are the run folder's, here or on a Ray node.
        csv_file = None if csv is None else Path(CSV_FILE)
        job = TrainingJob(arch, task.name, config, csv_file, Path(WEIGHTS_FILE), nice=WORKER_NICE)
        self._pipes = _Pipes()  # the worker writes what it prints here: the run reads it
        self.worker: Worker
        try:
            if follow is not None:
                self.worker = RayWorker.follow(follow, self.weights_path, self._pipes)
            elif ray_address():
                origin = RunOrigin(number, job.to_json(), csv, csv_name)
                self.worker = RayWorker.start(origin, self.weights_path, self._pipes, grace_s)
            else:
                if csv is not None:
                    (self._dir / CSV_FILE).write_bytes(csv)
                self.worker = WorkerProcess(job.to_json(), grace_s, self._pipes, command, cwd=self._dir)
        except BaseException:  # no run: no folder left behind
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        # A run whose page is gone (tab closed, session expired) must not train on: ended when freed.
        self._finalizer = weakref.finalize(self, _discard, self.worker.close, self._dir)
        self._trained: TrainedModel | None = None
        self._logged = False

    def touch(self) -> None:
        """The page showed this run: someone is still watching it."""
        self.worker.touch()

    @property
    def unwatched_s(self) -> float:
        """Since a page last showed the run: this server's, or on a cluster another server's too."""
        return self.worker.unwatched_s

    @property
    def run_id(self) -> str | None:
        """The id a page's address carries while the run trains on a cluster, so that another server of the site
        follows it when the user is moved there; None for a local run."""
        return self.worker.run_id

    @property
    def reports(self) -> list[Report]:
        return self._pipes.reports

    @property
    def final(self) -> FinalSummary | None:
        return self._pipes.final

    @property
    def pid(self) -> int:
        return self.worker.pid

    @property
    def running(self) -> bool:
        # The final line comes after the weights are saved: the run is over before the process has exited.
        return self.final is None and not self.worker.finished

    @property
    def stop_reason(self) -> StopReason | None:
        if self.ended_by_server is not None:
            return self.ended_by_server
        return self.final.stop_reason if self.final is not None else None

    @property
    def error(self) -> str | None:
        """Why the run ended without its final line, in words; the worker's own output goes to the log."""
        if self.running or self.final is not None or self.stop_requested:
            return None
        self._log_failure()
        code = self.worker.returncode
        refusal = _refusal(self.worker.stderr_text())
        if refusal is not None:
            return refusal
        if code == -signal.SIGKILL:
            return (
                "The training process was killed from outside, most likely because the machine ran out of memory. "
                "Lower the batch size, the units or the sequence length."
            )
        return (
            f"The training process ended unexpectedly (exit code {code}) before it finished. This is a fault of "
            "the explorer, not of your model: the details are in the server's log."
        )

    def _log_failure(self) -> None:
        if not self._logged:
            self._logged = True
            LOG.warning("training run %s ended without a result:\n%s", self.number, self.worker.stderr_text())

    @property
    def place_in_queue(self) -> int | None:
        """Waiting for a CPU in the cluster: its place among the site's waiting runs (1: next)."""
        return self.worker.place_in_queue

    @property
    def training_since(self) -> float | None:
        """When it got its CPU (None while it waits): the time limit counts from then."""
        return self.worker.started_at

    @property
    def status(self) -> str:
        place = self.place_in_queue
        if self.running and place is not None and not self.stop_requested:
            return f"queued for a CPU in the cluster ({place - 1} {'run' if place == 2 else 'runs'} ahead)"
        if self.running:
            return "stopping" if self.stop_requested else ("running" if self.reports else "starting")
        if self.final is None:
            return "stopped" if self.stop_requested else "failed"
        if self.final.failure:
            return "failed"
        return "stopped" if self.final.stopped else "done"

    def stop(self, reason: StopReason = StopReason.REQUESTED) -> None:
        if not self.stop_requested and reason is not StopReason.REQUESTED:
            self.ended_by_server = reason
        self.stop_requested = True
        self.worker.end()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while self.running and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.running

    @property
    def progress(self) -> float:
        return self.reports[-1].step / self.config.steps if self.reports else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the last report's speed; None before the first report and once the run has ended."""
        if not self.reports or not self.running:
            return None
        last = self.reports[-1]
        return (self.config.steps - last.step) / max(last.steps_per_s, 1e-9)

    @property
    def trained(self) -> TrainedModel:
        """The trained model, loaded when first asked for (only after the run has ended with weights)."""
        if self._trained is None:
            self._trained = TrainedModel(self.arch, self.task, self.config, self.weights_path)
        return self._trained

    def release(self) -> None:
        """Drop the loaded model: the weights stay on disk until the run itself is freed."""
        self._trained = None

    def discard(self) -> None:
        """End the worker if it still runs and remove the run's files, now."""
        self._finalizer()


def _discard(close: Callable[[], None], directory: Path) -> None:
    close()
    shutil.rmtree(directory, ignore_errors=True)


def sweep_stale_runs(root: Path | None = None) -> list[Path]:
    """Remove the run folders of servers that are gone (a server killed with SIGKILL cannot clean up)."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(RUN_DIR_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            owner = None  # no owner written: a folder left half made, or by an older version
        if owner is not None and _alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


class ServerBusy(RuntimeError):
    """As many runs as the server allows are training; the message says so and what to do."""


class TrainingSlots:
    """Server-wide count of runs training at once, shared by every session (one per server process), and the
    watchdog that ends runs nobody watches any more and runs past the time limit."""

    def __init__(self, capacity: int, max_unwatched_s: float = 90.0, grace_s: float = GRACE_S):
        self.capacity = capacity
        self.max_unwatched_s = max_unwatched_s
        self.grace_s = grace_s
        self._lock = threading.RLock()  # start holds it while it adds the run
        self._runs: weakref.WeakSet[TrainingRun] = weakref.WeakSet()  # an abandoned run does not hold a slot
        self._watchdog: threading.Thread | None = None
        sweep_stale_runs()

    def training(self) -> int:
        return sum(1 for run in list(self._runs) if run.running)

    def start(self, number: int, arch: Architecture, task: Task, config: TrainConfig, **kwargs) -> TrainingRun:
        with self._lock:  # two sessions pressing Train at once cannot both take the last slot
            busy = self.training()
            if busy >= self.capacity and not ray_address():  # a cluster queues what it cannot start yet
                raise ServerBusy(
                    f"The server is already training {busy} models, its limit (EXPLORER_MAX_CONCURRENT_TRAININGS="
                    f"{self.capacity}). Press Train again when one of them has finished."
                )
            try:
                return self._watched(TrainingRun(number, arch, task, config, grace_s=self.grace_s, **kwargs))
            except ClusterRefused as exc:
                raise ServerBusy(str(exc)) from None

    def follow(self, run_id: str, limits: Limits) -> TrainingRun | None:
        """The run another server of the site started, by the id in the page's address, followed here too (the
        user was moved to this server); None where it is not waiting or training any more. ServerBusy, saying why,
        where the cluster cannot be asked, or the run is beyond this server's own limits."""
        try:
            origin = find_run(run_id)
            if origin is None:
                return None
            job = origin.job(limits)
            if origin.csv is None:
                task = load_task(job.task, None, limits)
            else:
                task = user_task(job.task, origin.csv, origin.csv_name or "your data", limits)
        except ClusterRefused as exc:
            raise ServerBusy(str(exc)) from None
        except ValueError as exc:  # a server of the site with lower limits than the one that started it
            raise ServerBusy(f"The run on the cluster cannot be shown on this server: {exc}") from None
        try:
            run = TrainingRun(origin.number, job.architecture, task, job.config, grace_s=self.grace_s, follow=run_id)
        except ValueError:  # ended between the two questions
            return None
        return self._watched(run)

    def _watched(self, run: TrainingRun) -> TrainingRun:
        with self._lock:
            self._runs.add(run)
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, daemon=True)
                self._watchdog.start()
        return run

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.max_unwatched_s / 4))
            self.check_runs()

    def check_runs(self) -> None:
        """Stop runs whose page stopped polling them (the tab was closed, the browser went away), and runs past
        the time limit that the worker did not end itself (a step that takes longer than the limit's margin).
        A method of its own: no local variable keeps the last run it looked at alive between two checks."""
        now = time.monotonic()
        for run in list(self._runs):
            if not run.running or run.stop_requested:
                continue
            limit, since = run.config.max_seconds, run.training_since
            if limit is not None and since is not None and now - since > limit + self.grace_s:
                run.stop(StopReason.TIME_LIMIT)
            elif run.unwatched_s > self.max_unwatched_s:
                run.stop()


RunIdentity = tuple[int, Architecture, str, TrainConfig]  # number, architecture, task name, settings


def _run_fields(arch: Architecture, task: str, config: TrainConfig) -> dict[str, str]:
    """Everything that can tell two runs apart, each as it would be written in a label."""
    found = {
        "input": f"input {arch.input.features} features, "
        + (f"{arch.input.seq_len} steps" if arch.input.seq_len else "variable length"),
        "task": task,
    }
    for i, layer in enumerate(arch.layers):  # a cell and its units are in every label already: its options here
        options = ", ".join(layer.options()) or "no options" if isinstance(layer, RecurrentLayer) else layer.title()
        found[f"layer {i + 1}"] = f"layer {i + 1} ({options})"
    found["head"] = "no head" if arch.head is None else f"head {arch.head.title()}"
    found |= {
        "lr": f"lr {config.lr:g}",
        "batch": f"batch {config.batch_size}",
        "steps": f"{config.steps} steps",
        "seed": f"seed {config.seed}",
        "device": f"device {config.device}",
    }
    return found


def describe_runs(runs: Sequence[RunIdentity]) -> dict[int, str]:
    """A label per run number: `#2 LSTM64→GRU32` and every field in which it differs from the others (a plain
    and a bidirectional LSTM, two learning rates), so that no two different runs read the same."""
    described = {number: _run_fields(arch, task, config) for number, arch, task, config in runs}
    keys = list(dict.fromkeys(key for fields in described.values() for key in fields))
    differing = [key for key in keys if len({fields.get(key) for fields in described.values()}) > 1]
    labels = {}
    for number, arch, task, _ in runs:
        brief = "→".join(layer.brief() for layer in arch.layers)
        extras = [described[number][key] for key in differing if key in described[number]]
        labels[number] = " · ".join([f"#{number} {brief}", *([] if "task" in differing else [task]), *extras])
    return labels


def run_labels(runs: Sequence[TrainingRun]) -> dict[int, str]:
    return describe_runs([(run.number, run.arch, run.task.name, run.config) for run in runs])

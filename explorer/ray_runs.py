"""Training runs on a Ray cluster: chosen by `EXPLORER_RAY_ADDRESS` (`auto`, `ray://head:10001`, ...).

A run is a Ray actor (`RunSupervisor`, one CPU reserved) that starts on its node the very worker process a local
run starts (`python -m explorer.worker`: one torch thread, its memory capped, SIGTERM then SIGKILL), keeps what it
prints, and hands it to the page on request as JSON lines, the weights as bytes through Ray's object store. So the
trainer, its reports, Stop, the time limit and the memory budget are the local ones; only the process's place
changes. Nothing from a user is unpickled: Ray carries strings and bytes, the reports are parsed from JSON and the
weights loaded with weights_only=True, as locally.

Beyond the cluster's CPUs an actor waits in Ray's queue: the page shows the run as queued, with its place among
this server's waiting runs, instead of refusing it. Ray itself is optional (requirements-ray.txt) and imported
only when the address is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from explorer.spec import Limits
from explorer.worker import TrainingJob

RAY_ADDRESS = "EXPLORER_RAY_ADDRESS"
ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.25  # how often the page asks a run's actor for its news


def ray_address() -> str | None:
    """The cluster to train on, or None: train in local worker processes."""
    return os.environ.get(RAY_ADDRESS) or None


@dataclass(frozen=True)
class RunNews:
    """What a supervisor has to tell since the page last asked: plain strings and numbers only."""

    lines: list[str]  # the worker's new stdout lines (JSON reports, then the final summary)
    stderr: list[str]  # its new stderr lines
    finished: bool  # the worker has exited and its output is read to the end
    returncode: int | None
    killed: bool  # it was killed after the grace (a step that did not return in time)
    pid: int


class RunSupervisor:
    """On a Ray node: one run's worker process and what it printed. A Ray actor (see `_actor_class`)."""

    def __init__(self, job_json: str, csv: bytes | None, grace_s: float):
        from explorer.runs import RUN_DIR_PREFIX, WorkerProcess  # the node's own copy of the local machinery

        self.directory = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        job = TrainingJob.from_json(job_json, Limits.from_env())
        csv_path = None
        if csv is not None:
            csv_path = self.directory / "data.csv"
            csv_path.write_bytes(csv)
        self.weights_path = self.directory / "weights.pt"
        self.worker = WorkerProcess(replace(job, csv=csv_path, save_weights=self.weights_path), grace_s)
        self._lines_sent = self._stderr_sent = 0

    def news(self) -> RunNews:
        pipes = self.worker.pipes
        lines = pipes.lines[self._lines_sent :]
        self._lines_sent += len(lines)
        # The newest lines since the last call (fewer, where more were written than the deque keeps).
        unsent = min(pipes.stderr_total - self._stderr_sent, len(pipes.stderr))
        stderr = list(pipes.stderr)[len(pipes.stderr) - unsent :]
        self._stderr_sent = pipes.stderr_total
        finished = self.worker.finished
        code = self.worker.process.returncode if finished else None
        return RunNews(lines, stderr, finished, code, self.worker.killed, self.worker.pid)

    def end(self) -> None:
        self.worker.end()

    def weights(self) -> bytes | None:
        return self.weights_path.read_bytes() if self.weights_path.exists() else None

    def close(self) -> None:
        self.worker.end()
        shutil.rmtree(self.directory, ignore_errors=True)


_ACTOR_LOCK = threading.Lock()
_ACTOR: Any = None


def _actor_class() -> Any:
    """RunSupervisor as a Ray actor needing one CPU: Ray queues it until a node has one free."""
    global _ACTOR
    with _ACTOR_LOCK:
        if _ACTOR is None:
            import ray

            if not ray.is_initialized():
                ray.init(address=ray_address(), ignore_reinit_error=True, log_to_driver=False)
            # The nodes import explorer from the server's own checkout path: a cluster made from the same image
            # (or a shared file system) has it there; see the README's deployment section.
            nodes_import = {"env_vars": {"PYTHONPATH": str(ROOT)}}
            _ACTOR = ray.remote(num_cpus=1, runtime_env=nodes_import)(RunSupervisor)
        return _ACTOR


class _Queue:
    """This server's runs waiting for a CPU in the cluster, in the order they were started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[int] = []

    def join(self, ticket: int) -> None:
        with self._lock:
            self._waiting.append(ticket)

    def leave(self, ticket: int) -> None:
        with self._lock:
            if ticket in self._waiting:
                self._waiting.remove(ticket)

    def place(self, ticket: int) -> int | None:
        """1 for the next to start; None once started (or gone)."""
        with self._lock:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None


QUEUE = _Queue()


class RayWorker:
    """The page's side of a run on Ray, with WorkerProcess's face: `pipes` fill as the actor's news comes in,
    `end` asks it to stop (its node's worker then gets SIGTERM, SIGKILL after the grace)."""

    def __init__(self, job: TrainingJob, csv: bytes | None, weights_path: Path, grace_s: float, pipes: Any):
        import ray

        self.pipes = pipes
        self.killed = False
        self.returncode: int | None = None
        self.pid = -1
        self.started_at: float | None = None  # when the cluster gave it a CPU: its time limit counts from then
        self._ticket = id(self)
        QUEUE.join(self._ticket)
        remote_job = replace(job, csv=None, save_weights=None)  # the node chooses its own paths
        self.actor = _actor_class().remote(remote_job.to_json(), csv, grace_s)
        self.weights_path = weights_path
        self._ray = ray
        self._ended = threading.Event()
        threading.Thread(target=self._follow, daemon=True).start()

    @property
    def place_in_queue(self) -> int | None:
        return QUEUE.place(self._ticket)

    @property
    def finished(self) -> bool:
        return self.pipes.stdout_done.is_set()

    def end(self) -> None:
        if self.finished:
            return
        if self.place_in_queue is not None:  # never started: nothing to save, leave the queue at once
            self.close()
            return
        self.actor.end.remote()

    def close(self) -> None:
        """Give the cluster back its CPU and the node its disk: the run is over, or nobody wants it any more."""
        QUEUE.leave(self._ticket)
        if not self._ended.is_set():
            self._ended.set()
            if self.started_at is not None:  # an actor still queued has no worker nor files: killing it is all
                # One that is gone meanwhile has nothing left to close: it is killed all the same.
                with contextlib.suppress(Exception):
                    self._ray.get(self.actor.close.remote(), timeout=10)
            self._ray.kill(self.actor)
        self.pipes.stdout_done.set()

    def stderr_text(self) -> str:
        return "\n".join(self.pipes.stderr)

    def _follow(self) -> None:
        """Ask the actor for its news until its worker has finished; then fetch the weights and free the actor. Until
        the cluster has a CPU for it the actor is not there to answer: the question waits, and the run is queued."""
        from explorer.runs import take_line  # the local reader's own parsing: one place reads a worker's output

        asked = None
        while not self._ended.is_set():
            asked = asked or self.actor.news.remote()
            ready, _ = self._ray.wait([asked], timeout=1.0)
            if not ready:
                continue  # queued, or a busy node
            try:
                news: RunNews = self._ray.get(asked)
            except Exception as exc:  # a lost node or a killed actor: said in words, as a crash is
                if not self._ended.is_set():
                    self.pipes.stderr.append(f"the Ray actor of this run was lost: {exc}")
                    self.returncode = -1
                    self.close()
                return
            asked = None
            if self.started_at is None:
                self.started_at = time.monotonic()
                QUEUE.leave(self._ticket)
            self.pid = news.pid
            self.pipes.stderr.extend(news.stderr)
            for line in news.lines:
                if json.loads(line).get("type") == "final":  # the weights first: a final run has them
                    weights = self._ray.get(self.actor.weights.remote(), timeout=60)
                    if weights is not None:
                        self.weights_path.write_bytes(weights)
                take_line(line, self.pipes)
            if news.finished:
                self.returncode, self.killed = news.returncode, news.killed
                self.close()
                return
            time.sleep(POLL_S)

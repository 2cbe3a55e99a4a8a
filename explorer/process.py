"""A training worker process (`python -m explorer.worker`) and what it prints, without torch in this process.

The page's runs (explorer.runs) and a Ray node's (explorer.ray_runs) start the same worker through this module;
a Ray actor imports only it, so that it starts in about a second rather than the seconds torch takes to import.
The job goes in as JSON on standard input; the worker answers with JSON lines on standard output and says what
went wrong on standard error, both read as they are written (a chatty worker never blocks on a full pipe).
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR_PREFIX = "explorer-run-"
CSV_FILE, WEIGHTS_FILE = "data.csv", "weights.pt"  # in a run's folder: the user's data, the trained weights
STDERR_LINES_KEPT = 200
WORKER = [sys.executable, "-m", "explorer.worker"]
# A page's workers run below the page's priority, from their first instruction (torch's import takes seconds of
# CPU): when trainings fill the cores, edits still get the CPU first.
WORKER_NICE = 10


class Output:
    """What a worker printed, as its reader threads write it. Kept apart from whoever watches the worker, so that
    no thread holds a reference to a run: a run nobody holds any more (its tab closed) is freed at once."""

    def __init__(self) -> None:
        self.lines: list[str] = []  # the stdout lines, in order
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self.stderr_total = 0  # lines ever written to stderr: the deque keeps the last ones only
        self.stdout_done = threading.Event()

    def take(self, line: str) -> None:
        """One stdout line, as printed. The page's runs read what it says (explorer.runs)."""
        self.lines.append(line)


def _read_stdout(stream: IO[str], output: Output, process: subprocess.Popen[str]) -> None:
    with stream:
        for line in stream:
            output.take(line)
    process.wait()  # its output has ended: reap it, so that its exit code is there to read
    output.stdout_done.set()


def _read_stderr(stream: IO[str], output: Output) -> None:
    with stream:
        for line in stream:
            output.stderr.append(line.rstrip("\n"))
            output.stderr_total += 1


class WorkerProcess:
    """A worker process and its pipes. `end` asks it to stop (SIGTERM) and kills it (SIGKILL) if it has not
    ended after `grace_s`: a step in torch's C++ code does not see the signal until it returns. Relative paths in
    the job are the run folder's, `cwd`."""

    def __init__(
        self,
        job_json: str,
        grace_s: float,
        output: Output,
        command: list[str] | None = None,
        cwd: Path = ROOT,
        nice: int = WORKER_NICE,
    ):
        self.grace_s = grace_s
        self.pipes = output
        self.process = subprocess.Popen(
            command or WORKER,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        with contextlib.suppress(OSError):  # the child is still starting: lowered before its imports
            os.setpriority(os.PRIO_PROCESS, self.process.pid, nice)
        assert self.process.stdin and self.process.stdout and self.process.stderr
        with contextlib.suppress(BrokenPipeError), self.process.stdin:  # a worker that ended at once: see its code
            self.process.stdin.write(job_json)
        readers = [
            threading.Thread(target=_read_stdout, args=(self.process.stdout, output, self.process), daemon=True),
            threading.Thread(target=_read_stderr, args=(self.process.stderr, output), daemon=True),
        ]
        for reader in readers:
            reader.start()
        self.killed = False
        self.started_at: float | None = time.monotonic()
        self.run_id: str | None = None  # only this server can follow it
        self._seen = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def place_in_queue(self) -> int | None:
        """A local run never waits: it starts, or the server refuses it (ServerBusy)."""
        return None

    @property
    def unwatched_s(self) -> float:
        return time.monotonic() - self._seen

    def touch(self) -> None:
        self._seen = time.monotonic()

    def close(self) -> None:
        _kill_if_alive(self.process)

    @property
    def finished(self) -> bool:
        """Its output is read to the end: the final line, if any, is in."""
        return self.pipes.stdout_done.is_set() and self.process.poll() is not None

    def end(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(OSError):  # back to the page's priority, to finish its step; may be refused
            os.setpriority(os.PRIO_PROCESS, self.process.pid, os.getpriority(os.PRIO_PROCESS, 0))
        self.process.send_signal(signal.SIGTERM)
        timer = threading.Timer(self.grace_s, _kill_if_alive, args=(self.process, self))
        timer.daemon = True
        timer.start()

    def stderr_text(self) -> str:
        return "\n".join(self.pipes.stderr)


def _kill_if_alive(process: subprocess.Popen, worker: WorkerProcess | None = None) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
        if worker is not None:
            worker.killed = True

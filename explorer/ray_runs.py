"""Training runs on a Ray cluster: chosen by `EXPLORER_RAY_ADDRESS` (`auto`, `ray://head:10001`, ...).

A run is a named, detached Ray actor (`RunSupervisor`, one CPU reserved) that starts on its node the very worker
process a local run starts (`python -m explorer.worker`: one torch thread, its memory capped, SIGTERM then SIGKILL),
keeps what it prints, and hands it to any page that asks, as JSON lines from where that page has read up to, the
weights as bytes through Ray's object store. So the trainer, its reports, Stop, the time limit and the memory budget
are the local ones; only the process's place changes. Nothing from a user is unpickled: Ray carries strings and
bytes, the reports are parsed from JSON and the weights loaded with weights_only=True, as locally.

Because the actor has a name (`run-<id>`, the id in the page's address while it trains) and outlives the server
that started it, a page on another server of the same site follows the same run when a load balancer moves the
user there. Pages tell the actor when they last showed the run; the actor ends a run no page has shown for
`max_unwatched_seconds`, and removes itself once its run has ended and every page following it has its results
(or no page has asked for 10 s: their servers went away).

Beyond the cluster's CPUs an actor waits in Ray's queue. One more detached actor, `RunQueue` (no CPU), keeps the
site's waiting runs in order, so that every page shows its run's place among all of them; a waiting run whose
pages have all gone is called off before it takes a CPU. Ray itself is optional (requirements-ray.txt) and
imported only when the address is set.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.limits import Limits
from explorer.process import CSV_FILE, RUN_DIR_PREFIX, WEIGHTS_FILE, Output, WorkerProcess

if TYPE_CHECKING:
    from explorer.worker import TrainingJob

RAY_ADDRESS = "EXPLORER_RAY_ADDRESS"
NAMESPACE = "explorer"  # every server of a site looks its runs up here
QUEUE_NAME = "run-queue"
ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.25  # how often a page asks a run's actor for its news
QUEUE_POLL_S = 1.0  # how often a page asks for its waiting run's place
QUEUE_FORGET_S = 30.0  # a waiting run no page has asked about for this long is called off
CONNECT_S = 20.0  # a Train press waits this long for the cluster at most
PROBE_S = 3.0  # a cluster's address that does not answer within this is said to be unreachable
GONE_AFTER_END_S = 10.0  # an ended run's actor waits this long for pages that have not fetched its results


def ray_address() -> str | None:
    """The cluster to train on, or None: train in local worker processes."""
    return os.environ.get(RAY_ADDRESS) or None


def actor_name(run_id: str) -> str:
    return f"run-{run_id}"


@dataclass(frozen=True)
class RunOrigin:
    """What a page needs to show a run it did not start: the run's number, its job, the user's data."""

    number: int
    job_json: str  # a TrainingJob, its paths relative to the run's folder on the node
    csv: bytes | None
    csv_name: str | None

    def job(self, limits: Limits) -> TrainingJob:
        from explorer.worker import TrainingJob  # torch: the page's side only

        return TrainingJob.from_json(self.job_json, limits)


@dataclass(frozen=True)
class RunNews:
    """What a supervisor has to tell a page, from where that page has read up to: plain strings and numbers."""

    lines: list[str]  # the worker's stdout lines from the page's cursor on (JSON reports, then the final summary)
    stderr: list[str]  # its stderr lines from the page's cursor on (fewer, where the node's deque wrapped)
    stderr_total: int  # the stderr lines ever written: the page's next cursor
    finished: bool  # the worker has exited and its output is read to the end
    returncode: int | None
    killed: bool  # it was killed after the grace (a step that did not return in time)
    pid: int
    watched_at: float  # when any page last showed the run (wall clock: pages and nodes are different machines)


class RunSupervisor:
    """On a Ray node: one run's worker process and what it printed. A Ray actor (see `RayWorker.start`)."""

    def __init__(self, run_id: str, origin: RunOrigin, grace_s: float, max_unwatched_s: float, followers: int):
        import ray

        # Started: out of the site's queue at once, so that the queue can never take it for a run nobody wants.
        ray.get_actor(QUEUE_NAME, namespace=NAMESPACE).leave.remote(run_id)
        self._origin = origin
        self.directory = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        if origin.csv is not None:
            (self.directory / CSV_FILE).write_bytes(origin.csv)
        self.weights_path = self.directory / WEIGHTS_FILE
        # The job as the page wrote it, read by the worker alone: the actor's process never imports torch.
        self.worker = WorkerProcess(origin.job_json, grace_s, Output(), cwd=self.directory)
        self.max_unwatched_s = max_unwatched_s
        self._followers = followers  # pages that will ask for the results: the actor waits for them
        self._lock = threading.Lock()  # between a page that comes to follow and the actor deciding to go
        self._leaving = False
        self._watched_at = time.time()
        self._asked_at = time.monotonic()
        self._wake = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def ready(self) -> int:
        """Answers once the actor has its CPU and its worker has started."""
        return self.worker.pid

    def origin(self) -> RunOrigin:
        return self._origin

    def follow(self) -> bool:
        """One more page follows the run (on another server, where its user was moved), if it still trains: a run
        that has ended belongs to the pages that followed it."""
        with self._lock:
            if self._leaving or self.worker.finished:
                return False
            self._followers += 1
            return True

    def let_go(self) -> None:
        """A page has what it needs (or is gone): once none is left and the run has ended, the actor goes."""
        with self._lock:
            self._followers -= 1
        self._wake.set()

    def news(self, lines_from: int, stderr_from: int, seen_at: float) -> RunNews:
        self._asked_at = time.monotonic()
        self._watched_at = max(self._watched_at, seen_at)
        pipes = self.worker.pipes
        unread = min(pipes.stderr_total - stderr_from, len(pipes.stderr))
        stderr = list(pipes.stderr)[len(pipes.stderr) - unread :] if unread > 0 else []
        finished = self.worker.finished
        code = self.worker.process.returncode if finished else None
        return RunNews(
            pipes.lines[lines_from:],
            stderr,
            pipes.stderr_total,
            finished,
            code,
            self.worker.killed,
            self.worker.pid,
            self._watched_at,
        )

    def end(self) -> None:
        self.worker.end()

    def weights(self) -> bytes | None:
        return self.weights_path.read_bytes() if self.weights_path.exists() else None

    def _watch(self) -> None:
        """End a run no page shows any more; remove the actor once nobody needs it: its CPU goes back at once."""
        import ray

        while True:
            self._wake.wait(min(1.0, self.max_unwatched_s / 4))
            self._wake.clear()
            unasked = time.monotonic() - self._asked_at > self.max_unwatched_s  # every page's server is gone
            if not self.worker.finished:
                if time.time() - self._watched_at > self.max_unwatched_s or unasked:
                    self.worker.end()
                continue
            # Ended: a page that follows it asks every POLL_S, so one silent for a while has gone with its server.
            silent = time.monotonic() - self._asked_at > min(GONE_AFTER_END_S, self.max_unwatched_s)
            with self._lock:
                self._leaving = self._followers <= 0 or silent
            if self._leaving:
                shutil.rmtree(self.directory, ignore_errors=True)
                ray.kill(ray.get_runtime_context().current_actor)
                return


class RunQueue:
    """The site's runs waiting for a CPU, in the order they were started, with what a page needs to follow one.
    A detached Ray actor needing no CPU, shared by every server (see `_queue`)."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[RunOrigin, float]] = {}  # run id → (origin, last asked about), in order

    def join(self, run_id: str, origin: RunOrigin, limit: int) -> int | None:
        """The run's place (1: next), or None: the queue is full."""
        self._forget_abandoned()
        if len(self._waiting) >= limit:
            return None
        self._waiting[run_id] = (origin, time.monotonic())
        return len(self._waiting)

    def place(self, run_id: str) -> int | None:
        """The run's place, None once it has started (or was called off); asking keeps it in the queue."""
        if run_id not in self._waiting:
            return None
        self._waiting[run_id] = (self._waiting[run_id][0], time.monotonic())
        self._forget_abandoned()
        return list(self._waiting).index(run_id) + 1

    def leave(self, run_id: str) -> None:
        self._waiting.pop(run_id, None)

    def origin(self, run_id: str) -> RunOrigin | None:
        entry = self._waiting.get(run_id)
        return entry[0] if entry else None

    def _forget_abandoned(self) -> None:
        import ray

        now = time.monotonic()
        for run_id, (_, asked_at) in list(self._waiting.items()):
            if now - asked_at > QUEUE_FORGET_S:  # every page of it has gone: it must not take a CPU
                del self._waiting[run_id]
                with contextlib.suppress(ValueError):  # started and ended meanwhile
                    ray.kill(ray.get_actor(actor_name(run_id), namespace=NAMESPACE))


_LOCK = threading.RLock()
_ATTEMPT: concurrent.futures.Future | None = None  # the connection being made, or made
_MADE: dict[str, Any] = {}  # the Ray remotes and the queue's handle, made once per server process


class ClusterRefused(RuntimeError):
    """The cluster did not take a run: its queue is full, or it cannot be reached. The message says which."""


def _connect() -> Any:
    """Ray, connected to the configured cluster (once per server process). The connection is made in a thread of
    its own and waited for CONNECT_S at most: Ray retries some failures (a token it does not accept) for a minute
    or more, and a press on Train must not hang the page that long. A later call waits for the same attempt, or
    starts a new one after a failure."""
    global _ATTEMPT
    try:
        import ray
    except ImportError as exc:
        raise _unreachable(exc) from None
    with _LOCK:
        if ray.is_initialized():
            return ray
        if _ATTEMPT is None or (_ATTEMPT.done() and _ATTEMPT.exception() is not None):
            _ATTEMPT = concurrent.futures.Future()
            threading.Thread(target=_init, args=(_ATTEMPT,), daemon=True).start()
        attempt = _ATTEMPT
    try:
        attempt.result(timeout=CONNECT_S)
    except concurrent.futures.TimeoutError:
        raise _unreachable(
            TimeoutError(f"no answer within {CONNECT_S:g} s (a cluster with token authentication wants its token)")
        ) from None
    except Exception as exc:  # no cluster at that address: said in words, the page goes on
        raise _unreachable(exc) from None
    return ray


def _init(attempt: concurrent.futures.Future) -> None:
    import ray

    try:
        address = ray_address()
        _probe(address)
        # The job's environment too: through `ray://` the cluster's side of this server unpickles the queue's
        # arguments, and imports explorer to do so.
        ray.init(address=address, log_to_driver=False, namespace=NAMESPACE, runtime_env=_node_env())
    except BaseException as exc:
        attempt.set_exception(exc)
    else:
        attempt.set_result(None)


def _probe(address: str | None) -> None:
    """A cluster's `host:port` that answers within seconds: Ray itself retries an absent one for minutes, and a
    press on Train would wait all that time. (`auto` finds a local cluster's address, or fails at once.)"""
    host, _, port = (address or "").removeprefix("ray://").rpartition(":")
    if host and port.isdigit():
        with socket.create_connection((host, int(port)), timeout=PROBE_S):
            pass


def _unreachable(exc: Exception) -> ClusterRefused:
    return ClusterRefused(
        f"The training cluster ({RAY_ADDRESS}={ray_address()}) cannot be reached: {str(exc)[:300]}. Training is "
        "unavailable until it is back (pip install -r requirements-ray.txt, if Ray is missing); the rest works."
    )


def _remote(cls: type, **options: Any) -> Any:
    with _LOCK:
        if cls.__name__ not in _MADE:
            import ray

            _MADE[cls.__name__] = ray.remote(runtime_env=_node_env(), **options)(cls)
        return _MADE[cls.__name__]


def _node_env() -> dict[str, Any]:
    """The nodes import explorer from the server's own checkout path: a cluster made from the same image (or a
    shared file system) has it there; see the README's deployment section. Their workers keep the server's limits,
    by which the page checked the run before sending it."""
    limits = {name: value for name, value in os.environ.items() if name.startswith("EXPLORER_MAX_")}
    return {"env_vars": {"PYTHONPATH": str(ROOT), **limits}}


def _queue() -> Any:
    """The site's queue: made by the first server that needs it, found by the others."""
    _connect()
    with _LOCK:
        if QUEUE_NAME not in _MADE:
            options = {"name": QUEUE_NAME, "namespace": NAMESPACE, "lifetime": "detached", "get_if_exists": True}
            _MADE[QUEUE_NAME] = _remote(RunQueue, num_cpus=0).options(**options).remote()
        return _MADE[QUEUE_NAME]


def disconnect() -> None:
    """Forget the cluster (Ray shut down): the next run connects again."""
    import ray

    global _ATTEMPT
    with _LOCK:
        _MADE.clear()
        _ATTEMPT = None
        ray.shutdown()


def find_run(run_id: str) -> RunOrigin | None:
    """A run of this site that is waiting or training, by the id in a page's address; None if there is none (it
    has ended, or the id is wrong)."""
    ray = _connect()
    try:
        actor = ray.get_actor(actor_name(run_id), namespace=NAMESPACE)
    except ValueError:
        return None
    waiting = ray.get(_queue().origin.remote(run_id), timeout=30)
    if waiting is not None:
        return waiting
    try:
        return ray.get(actor.origin.remote(), timeout=30)
    except Exception:  # ended between the two questions
        return None


def _is_final(line: str) -> bool:
    """The worker's final summary line. Any other line, even one that is not JSON, is the reader's to judge."""
    try:
        return json.loads(line).get("type") == "final"
    except (ValueError, AttributeError):
        return False


class RayWorker:
    """The page's side of a run on Ray, with WorkerProcess's face: `pipes` fill as the actor's news comes in,
    `end` asks it to stop (its node's worker then gets SIGTERM, SIGKILL after the grace)."""

    def __init__(self, run_id: str, actor: Any, weights_path: Path, pipes: Output, place: int | None):
        self.run_id = run_id
        self.actor = actor
        self.pipes = pipes
        self.weights_path = weights_path
        self.killed = False
        self.returncode: int | None = None
        self.pid = -1
        self.started_at: float | None = None  # when the cluster gave it a CPU: its time limit counts from then
        self._place = place
        self._seen_at = time.time()
        self._ray = _connect()
        self._ended = threading.Event()
        self._caught_up = threading.Event()  # the first news (or place) is in
        threading.Thread(target=self._follow, daemon=True).start()

    @classmethod
    def start(cls, origin: RunOrigin, weights_path: Path, pipes: Output, grace_s: float) -> RayWorker:
        """A new run, queued in the cluster; ClusterRefused where the site's queue is at its limit or the cluster
        cannot be reached."""
        ray, limits = _connect(), Limits.from_env()
        run_id = uuid.uuid4().hex
        try:
            place = ray.get(_queue().join.remote(run_id, origin, limits.max_queued_trainings), timeout=30)
        except Exception as exc:  # a cluster gone since this server connected
            raise _unreachable(exc) from None
        if place is None:
            raise ClusterRefused(
                f"{limits.max_queued_trainings} runs are already waiting for a CPU in the cluster, the site's limit "
                "(EXPLORER_MAX_QUEUED_TRAININGS). Press Train again in a minute."
            )
        actor = (
            _remote(RunSupervisor, num_cpus=1)
            .options(name=actor_name(run_id), namespace=NAMESPACE, lifetime="detached")
            .remote(run_id, origin, grace_s, limits.max_unwatched_seconds, 1)
        )
        return cls(run_id, actor, weights_path, pipes, place)

    @classmethod
    def follow(cls, run_id: str, weights_path: Path, pipes: Output) -> RayWorker:
        """A run another server started (found with `find_run`): this page follows it too. ValueError where it
        has ended meanwhile."""
        ray = _connect()
        try:
            actor = ray.get_actor(actor_name(run_id), namespace=NAMESPACE)
            place = ray.get(_queue().place.remote(run_id), timeout=30)
            following = actor.follow.remote()  # a waiting actor answers once it has started: its run is young then
            if place is None and not ray.get(following, timeout=30):
                raise ValueError("its run has ended")
        except Exception as exc:  # gone meanwhile: a ValueError from get_actor, an actor error from Ray
            raise ValueError(f"run {run_id} is not running any more: {exc}") from None
        worker = cls(run_id, actor, weights_path, pipes, place)
        worker._caught_up.wait(timeout=10)  # the page shows the curve so far at once, not an empty one
        return worker

    @property
    def place_in_queue(self) -> int | None:
        return self._place if self.started_at is None and not self._ended.is_set() else None

    @property
    def finished(self) -> bool:
        return self.pipes.stdout_done.is_set()

    @property
    def unwatched_s(self) -> float:
        """Since a page showed the run, this server's or another's."""
        return time.time() - self._seen_at

    def touch(self) -> None:
        self._seen_at = time.time()

    def end(self) -> None:
        if self.finished:
            return
        if self.started_at is None:  # never started: nothing to save, it leaves the queue at once
            with contextlib.suppress(Exception):  # a cluster gone meanwhile has no queue to leave
                self._queue_call("leave")
            with contextlib.suppress(Exception):
                self._ray.kill(self.actor)
            self._stop_following()
            return
        self.actor.end.remote()

    def close(self) -> None:
        """This page no longer follows the run (it has its results, or nobody holds it any more). The run itself
        is the actor's to end: another server's page may follow it, and no page shown for a while ends it."""
        if not self._ended.is_set():
            with contextlib.suppress(Exception):
                self.actor.let_go.remote()
        self._stop_following()

    def stderr_text(self) -> str:
        return "\n".join(self.pipes.stderr)

    def _stop_following(self) -> None:
        self._ended.set()
        self._caught_up.set()
        self.pipes.stdout_done.set()

    def _queue_call(self, method: str) -> Any:
        return self._ray.get(getattr(_queue(), method).remote(self.run_id), timeout=30)

    def _lost(self, exc: Exception) -> None:
        """The actor is gone: a lost node, or a run called off elsewhere. Said in words, as a crash is."""
        if self._ended.is_set():
            return
        if self.started_at is None:
            self.pipes.stderr.append(
                "error: the run was called off before the cluster had a CPU for it (it was stopped from another page, "
                "or the cluster restarted). Press Train to start it again."
            )
        else:
            self.pipes.stderr.append(f"the Ray actor of this run was lost: {exc}")
        self.returncode = -1
        self._stop_following()

    def _follow(self) -> None:
        """Wait for the cluster to start the actor, asking for its place meanwhile; then ask for its news until
        its worker has finished; then fetch the weights and let it go."""
        ready = self.actor.ready.remote()
        while not self._ended.is_set() and not self._ray.wait([ready], timeout=QUEUE_POLL_S)[0]:
            with contextlib.suppress(Exception):  # a slow answer keeps the last place
                self._place = self._queue_call("place")
            self._caught_up.set()
        try:
            self.pid = self._ray.get(ready)
        except Exception as exc:
            self._lost(exc)
            return
        self.started_at = time.monotonic()  # and out of the queue: the actor left it as it started
        lines_read = stderr_read = 0
        while not self._ended.is_set():
            try:
                news: RunNews = self._ray.get(self.actor.news.remote(lines_read, stderr_read, self._seen_at))
                lines_read, stderr_read = lines_read + len(news.lines), news.stderr_total
                self._seen_at = max(self._seen_at, news.watched_at)
                self.pipes.stderr.extend(news.stderr)
                for line in news.lines:
                    if _is_final(line):  # the weights first: a final run has them
                        weights = self._ray.get(self.actor.weights.remote(), timeout=60)
                        if weights is not None:
                            self.weights_path.write_bytes(weights)
                    self.pipes.take(line)  # read as a local worker's lines are
                self._caught_up.set()
            except Exception as exc:
                self._lost(exc)
                return
            if news.finished:
                self.returncode, self.killed = news.returncode, news.killed
                self.close()
                return
            time.sleep(POLL_S)

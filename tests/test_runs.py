"""Training runs are bounded and end cleanly: memory refused before a run starts and capped inside its worker,
Stop and the time limit end even a long step, failures are told in words with the details in the log, a chatty
worker never blocks, and a run nobody holds is freed at once, its files with it."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from explorer.budget import OverBudget
from explorer.layers.embedding import Embedding
from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.runs import OWNER_FILE, RUN_DIR_PREFIX, TrainingRun, TrainingSlots, describe_runs, sweep_stale_runs
from explorer.spec import Architecture, CellType, Dense, InputSpec, Limits, RecurrentLayer
from explorer.tasks import TASKS
from explorer.train import StopReason, TrainConfig
from explorer.worker import check_run

from helpers import ASSETS

TUTORIAL = load_preset(DEFAULT_PRESET)
LONG = TrainConfig(steps=5000, report_every=10)
# One step of this takes 10 s or more on one core (2 × 2000 steps of a 1024-unit LSTM): a step in torch's C++
# code, which sees no signal until it returns.
SLOW_STEP = Architecture(InputSpec(10, 2000), (RecurrentLayer(CellType.LSTM, 1024, num_layers=2),), Dense(5, None))
SLOW_CONFIG = TrainConfig(steps=10, batch_size=4, report_every=1)


def python_worker(code: str) -> list[str]:
    """A stand-in worker: reads its job like the real one, then does what `code` says."""
    return [sys.executable, "-c", "import sys, time, json, signal\nsys.stdin.read()\n" + code]


def test_a_run_over_the_memory_budget_is_refused_before_it_starts_naming_both_figures() -> None:
    big = Architecture(InputSpec(10, 1000), (RecurrentLayer(CellType.LSTM, 512, return_sequences=True),), None)
    with pytest.raises(OverBudget) as refused:
        check_run(big, TASKS["label"], TrainConfig(batch_size=512), Limits())
    message = str(refused.value)
    assert "would need about" in message and "more than the server allows one training, 2,048 MB" in message
    assert "EXPLORER_MAX_TRAIN_MEMORY_MB" in message
    check_run(TUTORIAL, TASKS["classify"], TrainConfig(), Limits())  # the tutorial fits with room to spare


def test_a_model_with_too_many_parameters_is_refused_naming_the_limit() -> None:
    """A real vocabulary head analyses and exports at any size; the server trains up to EXPLORER_MAX_TRAIN_PARAMS."""
    vocabulary_head = Architecture(
        InputSpec(None, 20, tokens=True), (Embedding(33_278, 650), RecurrentLayer(CellType.LSTM, 650)), Dense(4)
    )
    with pytest.raises(OverBudget, match="has 25,018,504 parameters, more than the server trains, 20,000,000"):
        check_run(vocabulary_head, TASKS["tokens"], TrainConfig(), Limits(max_train_params=20_000_000))
    with pytest.raises(OverBudget, match="EXPLORER_MAX_TRAIN_PARAMS"):
        check_run(vocabulary_head, TASKS["tokens"], TrainConfig(), Limits(max_train_params=1_000))


def test_the_cli_refuses_a_run_over_the_budget_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "train", str(ASSETS / "tutorial_keras.json"), "--task", "classify"],
        capture_output=True, text=True, env={**os.environ, "EXPLORER_MAX_TRAIN_MEMORY_MB": "100"},
    )  # fmt: skip
    assert result.returncode == 2 and "more than the server allows one training, 100 MB" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_estimate_ends_that_run_with_out_of_memory_not_the_server() -> None:
    """The estimate is switched off, and the worker's own address-space cap catches the run."""
    code = """
import explorer.worker as worker
from explorer.spec import Architecture, CellType, Dense, InputSpec, Limits, RecurrentLayer
from explorer.train import TrainConfig
worker.check_training_memory = lambda estimate, limits: None  # a wrong estimate: it lets everything through
big = Architecture(InputSpec(10, 1000), (RecurrentLayer(CellType.LSTM, 1024),), Dense(5, None))
job = worker.TrainingJob(big, "classify", TrainConfig(steps=3, batch_size=512, report_every=1))
sys.exit(worker.run_job(job, Limits(max_train_memory_mb=300), as_json=True))
"""
    result = subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, timeout=300)
    final = result.stdout.splitlines()[-1]
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Training ran out of memory at step 1" in final and "EXPLORER_MAX_TRAIN_MEMORY_MB" in final


def test_stop_ends_a_slow_step_within_the_grace_and_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_MAX_TRAIN_MEMORY_MB", "8192")  # the slow stack needs more than the default
    run = TrainingRun(1, SLOW_STEP, TASKS["classify"], SLOW_CONFIG, grace_s=2.0)
    try:
        time.sleep(8)  # started, data made, inside its first step (which takes far longer)
        assert run.running and not run.reports
        pressed = time.monotonic()
        run.stop()
        assert run.wait(timeout=10)
        assert time.monotonic() - pressed < 2.0 + 1.0
        assert run.status == "stopped" and run.worker.killed
    finally:
        run.discard()


def test_stop_ends_a_worker_that_does_not_answer_sigterm() -> None:
    deaf = python_worker("signal.signal(signal.SIGTERM, lambda *_: None)\ntime.sleep(120)")
    run = TrainingRun(1, TUTORIAL, TASKS["classify"], LONG, grace_s=0.5, command=deaf)
    time.sleep(0.5)
    pressed = time.monotonic()
    run.stop()
    assert run.wait(timeout=10) and time.monotonic() - pressed < 0.5 + 1.0
    assert run.status == "stopped" and run.error is None


def test_the_time_limit_is_enforced_from_the_server_too() -> None:
    deaf = python_worker("signal.signal(signal.SIGTERM, lambda *_: None)\ntime.sleep(120)")
    slots = TrainingSlots(capacity=1, max_unwatched_s=60, grace_s=0.5)
    run = slots.start(1, TUTORIAL, TASKS["classify"], TrainConfig(max_seconds=1.0), command=deaf)
    started = time.monotonic()
    assert run.wait(timeout=15)
    assert time.monotonic() - started < 1.0 + 0.5 + 0.5 + 1.5  # limit, grace, grace until SIGKILL, one check
    assert run.status == "stopped" and run.stop_reason is StopReason.TIME_LIMIT


def test_a_crashed_worker_is_told_in_words_and_its_traceback_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    crash = python_worker("raise RuntimeError('boom at /srv/secret/path.py')")
    run = TrainingRun(1, TUTORIAL, TASKS["classify"], LONG, command=crash)
    assert run.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="explorer.runs"):
        message = run.error
    assert run.status == "failed"
    assert "ended unexpectedly (exit code 1)" in message and "server's log" in message
    assert "Traceback" not in message and "/srv/secret" not in message
    assert "Traceback" in caplog.text and "boom at /srv/secret/path.py" in caplog.text


def test_a_refused_job_says_why_in_the_workers_own_words() -> None:
    run = TrainingRun(1, TUTORIAL, TASKS["classify"], TrainConfig(seed=-1))
    assert run.wait(timeout=60)
    assert run.status == "failed" and run.error.startswith("the seed must be a whole number from 0 to")


def test_a_worker_writing_megabytes_to_stderr_does_not_block() -> None:
    chatty = python_worker(
        "sys.stderr.write('x' * 1_000_000 + '\\n'); sys.stderr.flush()\n"
        "print(json.dumps({'type': 'final'}), flush=True)"
    )
    run = TrainingRun(1, TUTORIAL, TASKS["classify"], LONG, command=chatty)
    assert run.wait(timeout=20)
    assert run.worker.process.wait(timeout=5) == 0  # it got past its 1 MB write: the pipe was drained


def test_a_run_nobody_holds_is_freed_at_once_without_the_cycle_collector() -> None:
    gc.disable()  # as the page runs: Streamlit's full collection after each script run is off
    try:
        slots = TrainingSlots(capacity=1, max_unwatched_s=60)
        run = slots.start(1, TUTORIAL, TASKS["classify"], LONG)
        slots.check_runs()  # the watchdog looked at it: it must not keep it
        pid, folder = run.pid, run.weights_path.parent
        del run
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid), "the worker of a dropped run is still alive"
        assert not folder.exists()
    finally:
        gc.enable()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_run_folders_of_a_dead_server_are_swept_at_start(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{RUN_DIR_PREFIX}stale"
    stale.mkdir()
    (stale / OWNER_FILE).write_text(dead.stdout.strip())
    (stale / "weights.pt").write_bytes(b"0" * 100)
    orphan = tmp_path / f"{RUN_DIR_PREFIX}orphan"  # no owner written: left half made
    orphan.mkdir()
    live = tmp_path / f"{RUN_DIR_PREFIX}live"
    live.mkdir()
    (live / OWNER_FILE).write_text(str(os.getpid()))
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    assert sorted(sweep_stale_runs(tmp_path)) == sorted([stale, orphan])
    assert live.exists() and unrelated.exists() and not stale.exists()


def test_the_server_sweeps_at_start_up() -> None:
    stale = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    TrainingSlots(capacity=1)
    assert not stale.exists()


def test_run_labels_name_every_field_that_differs() -> None:
    plain = TUTORIAL
    bidirectional = plain.with_layer(0, bidirectional=True)
    config = TrainConfig()
    labels = describe_runs(
        [
            (1, plain, "classify", config),
            (2, bidirectional, "classify", config),
            (3, plain, "classify", TrainConfig(lr=0.01)),
        ]
    )
    assert labels[1] == "#1 LSTM64→GRU32 · classify · layer 1 (return_sequences) · lr 0.003"
    assert labels[2] == "#2 LSTM64→GRU32 · classify · layer 1 (return_sequences, bidirectional) · lr 0.003"
    assert labels[3] == "#3 LSTM64→GRU32 · classify · layer 1 (return_sequences) · lr 0.01"
    assert len(set(labels.values())) == 3
    assert describe_runs([(1, plain, "classify", config)]) == {1: "#1 LSTM64→GRU32 · classify"}


def test_a_worker_whose_server_died_stops_at_its_next_step() -> None:
    """The server is SIGKILLed: its worker, re-parented, must not train on for minutes."""
    launcher = (
        "import subprocess, sys\n"
        "from explorer.presets import DEFAULT_PRESET, load_preset\n"
        "from explorer.train import TrainConfig\n"
        "from explorer.worker import TrainingJob\n"
        "job = TrainingJob(load_preset(DEFAULT_PRESET), 'classify', TrainConfig(steps=5000, report_every=5000))\n"
        "worker = subprocess.Popen([sys.executable, '-m', 'explorer.worker'], stdin=subprocess.PIPE,\n"
        "                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)\n"
        "worker.stdin.write(job.to_json()); worker.stdin.close()\n"
        "print(worker.pid, flush=True)\n"
        "import time; time.sleep(4)\n"  # the worker starts training; then its server dies, abruptly
        "import os; os._exit(0)\n"
    )
    server = subprocess.run([sys.executable, "-c", launcher], capture_output=True, text=True, timeout=60)
    pid = int(server.stdout.split()[0])
    deadline = time.monotonic() + 20  # 5,000 steps would take a minute or more
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid)

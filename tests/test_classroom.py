"""One server, many browsers: limits from the environment, a cap on concurrent trainings, runs that end
when their page is gone, time limits, and hostile input that only ever gets a message."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import explorer.train as train_module
from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.runs import ServerBusy, TrainingSlots
from explorer.share import encode
from explorer.spec import Limits
from explorer.tasks import TASKS
from explorer.train import StopReason, TrainConfig, Trainer
from explorer.userdata import safe_name

from helpers import ASSETS, shown, start_app
from streamlit_client import Student, open_socket

TUTORIAL = load_preset(DEFAULT_PRESET)
LONG = TrainConfig(steps=5000, report_every=10)


def test_limits_reach_the_cli_through_the_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "train", str(ASSETS / "tutorial_keras.json"), "--task", "classify",
         "--steps", "20"],
        capture_output=True, text=True, env={**os.environ, "EXPLORER_MAX_STEPS": "10"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "steps must be from 1 to 10 (the limit, EXPLORER_MAX_STEPS), received 20" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "summary", str(ASSETS / "tutorial_keras.json")],
        capture_output=True, text=True, env={**os.environ, "EXPLORER_MAX_UNITS": "32"},
    )  # fmt: skip
    assert result.returncode == 2 and "layers[0].units must be an integer from 1 to 32, received 64" in result.stderr


def test_a_run_stops_itself_at_the_time_limit() -> None:
    config = TrainConfig(steps=100_000, report_every=10, max_seconds=0.5)
    start = time.monotonic()
    result = Trainer(TUTORIAL, TASKS["classify"], config).run()
    assert time.monotonic() - start < 10
    assert result.stopped and result.stop_reason is StopReason.TIME_LIMIT and result.failure is None


def test_concurrent_trainings_are_capped_with_a_clear_refusal() -> None:
    slots = TrainingSlots(capacity=1)
    first = slots.start(1, TUTORIAL, TASKS["classify"], LONG)
    try:
        with pytest.raises(ServerBusy, match="already training 1 models, its limit"):
            slots.start(2, TUTORIAL, TASKS["classify"], LONG)
    finally:
        first.stop()
        assert first.wait(timeout=30)
    second = slots.start(3, TUTORIAL, TASKS["classify"], TrainConfig(steps=5))
    assert second.wait(timeout=60) and second.status == "done"


def test_a_run_whose_page_is_gone_is_killed_and_cleaned_up() -> None:
    run = TrainingSlots(capacity=1).start(1, TUTORIAL, TASKS["classify"], LONG)
    pid, folder = run.pid, run.weights_path.parent
    del run
    gc.collect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker of an abandoned run is still alive")
    assert not folder.exists()


def test_gpu_out_of_memory_ends_the_run_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module, "_sums", out_of_memory)
    result = Trainer(TUTORIAL, TASKS["classify"], TrainConfig(steps=10)).run()
    assert result.failure.startswith("The GPU ran out of memory at step 1")
    assert "Lower the batch size" in result.failure


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("data.csv", "data.csv"),
        ("<img src=x onerror=alert(1)>.csv", "img_src_x_onerror_alert_1_.csv"),
        ("**bold** [link](http://x)", "bold_link_http_x"),
        ("../../etc/passwd", "etc_passwd"),
        ("", "your file"),
    ],
)
def test_file_names_shown_on_the_page_cannot_inject_markup(name: str, shown: str) -> None:
    assert safe_name(name) == shown


def test_sessions_are_isolated_and_share_the_training_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT_TRAININGS", "1")
    st.cache_resource.clear()  # limits and slots are per server process: rebuild them with the new limit
    app = str(ASSETS.parent / "app.py")
    alice = AppTest.from_file(app, default_timeout=60).run()
    bob = AppTest.from_file(app, default_timeout=60).run()
    alice.number_input(key="layer0.units").set_value(16).run()
    bob.run()
    assert bob.number_input(key="layer0.units").value == 64  # Alice's edit is hers alone
    alice.number_input(key="train.steps").set_value(5000).run()
    alice.button(key="train.start").click().run()
    try:
        bob.button(key="train.start").click().run()
        assert any("already training 1 models" in text for text in shown(bob.error))
        assert "runs" not in bob.session_state or not bob.session_state["runs"]
    finally:
        alice.session_state["runs"][-1].stop()
        assert alice.session_state["runs"][-1].wait(timeout=30)
        st.cache_resource.clear()


def test_a_tampered_link_cannot_change_another_sessions_architecture() -> None:
    app = str(ASSETS.parent / "app.py")
    honest = AppTest.from_file(app, default_timeout=60).run()
    tampered = AppTest.from_file(app, default_timeout=60)
    tampered.query_params["a"] = "AAAA" * 50
    tampered.run()
    assert not tampered.exception and tampered.error
    honest.run()
    assert not honest.error
    assert honest.session_state["arch"].input.features == 10


def test_a_run_no_page_watches_any_more_is_stopped() -> None:
    slots = TrainingSlots(capacity=2, max_unwatched_s=1.0)
    watched = slots.start(1, TUTORIAL, TASKS["classify"], LONG)
    unwatched = slots.start(2, TUTORIAL, TASKS["classify"], LONG)
    try:
        deadline = time.monotonic() + 20
        while unwatched.running and time.monotonic() < deadline:
            watched.touch()  # its page keeps polling
            time.sleep(0.2)
        assert unwatched.status == "stopped"
        assert watched.running
    finally:
        watched.stop()
        unwatched.stop()
        assert watched.wait(timeout=30) and unwatched.wait(timeout=30)


def test_a_small_classroom_on_loopback_trains_and_edits_at_once_without_errors() -> None:
    """The load benchmark at a small scale: sessions over the page's own protocol against the real server,
    two training and polling their live charts while four edit at once; each sees only its own architecture."""
    command = [sys.executable, "-m", "benchmarks.bench_classroom", "--sessions", "6", "--training", "2"]
    command += ["--pages", "0", "--edits", "3", "--pause", "0.2"]  # the default steps outlast the edits; stopped
    result = subprocess.run(command, cwd=ASSETS.parent, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "over 12 edits" in result.stdout
    assert "still running at the end: 2 of 2" in result.stdout
    assert "errors: 0" in result.stdout, result.stdout


def test_a_run_that_ends_while_its_chart_polls_redraws_the_page_once_and_the_polling_stops() -> None:
    """Over the page's protocol: the live chart's last poll reruns the whole page with the results and
    cancels its timer, and the page goes on editing."""
    server, url = start_app()
    give_up = threading.Timer(120, lambda: None)
    try:
        with open_socket(url) as socket:
            student = Student(socket, encode(TUTORIAL))
            student.train(30)
            give_up.start()
            student.watch(until=give_up.finished)  # returns when the server cancels the polling
            assert not give_up.finished.is_set(), "the page kept polling after the run ended"
            assert student.poll is None and student.progress.startswith("Run #1: done")
            assert "Trained weights (state_dict)" in student.widgets
            student.edit()
    finally:
        give_up.cancel()
        server.terminate()
        server.wait(timeout=10)


def test_the_page_upload_cap_is_the_csv_limit() -> None:
    """Streamlit refuses uploads over server.maxUploadSize before explorer sees them: the two must agree."""
    config = (ASSETS.parent / ".streamlit" / "config.toml").read_text()
    (megabytes,) = re.findall(r"^maxUploadSize = (\d+)$", config, re.MULTILINE)  # tomllib is Python 3.11+
    assert int(megabytes) * 1024 * 1024 == Limits().max_csv_bytes
    assert Limits().max_file_bytes <= Limits().max_csv_bytes  # architecture files fit under the same cap

"""Training runs on a local Ray cluster (two CPUs) through EXPLORER_RAY_ADDRESS: the same seeded curve as a local
run, Stop, the time limit and the watchdog end it there, a run beyond the cluster's CPUs waits in its queue with its
place and then runs, and a run that fails says so in words. Skipped where Ray is not installed (requirements-ray.txt;
CI installs it). And the page shows a queued run and trains it when a CPU is free."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from explorer import ray_runs
from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.runs import ServerBusy, TrainingRun, TrainingSlots
from explorer.share import encode
from explorer.tasks import TASKS
from explorer.train import StopReason, TrainConfig

from helpers import ASSETS, free_port, start_app
from streamlit_client import Student, open_socket

ray = pytest.importorskip("ray")

TUTORIAL = load_preset(DEFAULT_PRESET)
LONG = TrainConfig(steps=5000, report_every=5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local cluster of two CPUs, and the page's setting that sends runs to it."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never one left running
    os.environ[ray_runs.RAY_ADDRESS] = "auto"
    try:
        yield
    finally:
        del os.environ[ray_runs.RAY_ADDRESS]
        ray_runs.disconnect()


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_run_on_ray_gives_the_same_seeded_curve_as_a_local_one(cluster: None) -> None:
    config = TrainConfig(steps=20, report_every=5, seed=3)
    on_ray = TrainingRun(1, TUTORIAL, TASKS["classify"], config)
    assert isinstance(on_ray.worker, ray_runs.RayWorker)
    assert on_ray.wait(120) and on_ray.status == "done", on_ray.worker.stderr_text()
    del os.environ[ray_runs.RAY_ADDRESS]
    try:
        local = TrainingRun(2, TUTORIAL, TASKS["classify"], config)
        assert local.wait(120) and local.status == "done"
    finally:
        os.environ[ray_runs.RAY_ADDRESS] = "auto"
    assert [r.train_loss for r in on_ray.reports] == [r.train_loss for r in local.reports]
    assert [r.val_loss for r in on_ray.reports] == [r.val_loss for r in local.reports]
    # The weights came back through the object store, into the run's own folder, loaded with weights_only=True.
    assert on_ray.weights_path.exists()
    assert on_ray.trained.model(on_ray.trained.validation_samples.x[:2]).shape == (2, 5)


def test_stop_the_time_limit_and_the_watchdog_end_a_run_on_ray(cluster: None) -> None:
    stopped = TrainingRun(1, TUTORIAL, TASKS["classify"], LONG)
    wait_for(lambda: len(stopped.reports) >= 2)
    stopped.stop()
    assert stopped.wait(30) and stopped.status == "stopped" and stopped.final is not None
    assert stopped.final.stop_reason is StopReason.REQUESTED

    timed = TrainingRun(2, TUTORIAL, TASKS["classify"], TrainConfig(steps=5000, report_every=5, max_seconds=2))
    assert timed.wait(60) and timed.final is not None
    assert timed.final.stop_reason is StopReason.TIME_LIMIT

    slots = TrainingSlots(capacity=1, max_unwatched_s=1.0)  # its watchdog checks four times a second
    unwatched = slots.start(3, TUTORIAL, TASKS["classify"], LONG)  # and nobody calls touch(): the page is gone
    assert unwatched.wait(30) and unwatched.stop_requested and unwatched.status == "stopped"


def test_a_run_beyond_the_clusters_cpus_waits_with_its_place_then_runs(
    cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a local server would refuse the second run, the cluster queues the third and fourth, up to the site's
    limit; a queued run that is stopped leaves the queue at once, and the next in line starts when a CPU is free."""
    monkeypatch.setenv("EXPLORER_MAX_QUEUED_TRAININGS", "2")
    slots = TrainingSlots(capacity=1)
    first, second = (slots.start(n, TUTORIAL, TASKS["classify"], LONG) for n in (1, 2))
    wait_for(lambda: first.reports and second.reports)
    third = slots.start(3, TUTORIAL, TASKS["classify"], TrainConfig(steps=10, report_every=5))
    fourth = slots.start(4, TUTORIAL, TASKS["classify"], LONG)
    time.sleep(1)
    assert (third.place_in_queue, fourth.place_in_queue) == (1, 2) and third.running and not third.reports
    assert fourth.status == "queued for a CPU in the cluster (1 run ahead)"
    with pytest.raises(ServerBusy, match=r"2 runs are already waiting .*\(EXPLORER_MAX_QUEUED_TRAININGS\)"):
        slots.start(5, TUTORIAL, TASKS["classify"], LONG)
    fourth.stop()
    assert fourth.wait(10) and fourth.status == "stopped" and fourth.place_in_queue is None
    assert third.place_in_queue == 1
    first.stop()
    assert third.wait(120) and third.status == "done" and third.place_in_queue is None
    second.stop()
    assert second.wait(30)


def test_a_run_that_fails_on_ray_says_why_in_words(cluster: None) -> None:
    run = TrainingRun(1, TUTORIAL, TASKS["classify"], LONG)
    wait_for(lambda: run.reports and run.pid > 0)
    os.kill(run.pid, signal.SIGKILL)  # the node's worker dies as a machine out of memory would kill it
    assert run.wait(30) and run.status == "failed"
    assert "killed from outside, most likely because the machine ran out of memory" in (run.error or "")


def test_the_page_shows_a_queued_run_and_trains_it_when_a_cpu_is_free(cluster: None) -> None:
    busy = [TrainingRun(n, TUTORIAL, TASKS["classify"], LONG) for n in (1, 2)]  # other classes' runs
    wait_for(lambda: all(run.reports for run in busy))
    app = AppTest.from_file(str(ASSETS.parent / "app.py"), default_timeout=60).run()
    app.number_input(key="train.steps").set_value(10).run()
    app.button(key="train.start").click().run()  # a local server at its limit would refuse: the cluster queues
    assert not app.error
    (bar,) = app.get("progress")
    assert bar.proto.text == "Run #1: queued for a CPU in the cluster (0 runs ahead)"
    assert app.button(key="train.stop").disabled is False  # a queued run can be called off
    busy[0].stop()
    deadline = time.monotonic() + 120
    while "done" not in app.get("progress")[0].proto.text:
        assert time.monotonic() < deadline, app.get("progress")[0].proto.text
        time.sleep(0.5)
        app.run()
    assert not app.exception
    busy[1].stop()
    assert busy[1].wait(30)


def test_a_run_keeps_training_when_its_user_is_moved_to_another_server(cluster: None) -> None:
    """Two page servers of one site share the cluster. A run started on the first keeps training when that server
    goes away; the user's page, moved by the load balancer to the second with the same address, follows the run
    from its first report (the same run, not a new one), and its Stop ends it. Without the run in the address
    the second server shows nothing of it; with the id of a run that has ended, it says so."""
    site = {ray_runs.RAY_ADDRESS: ray.get_runtime_context().gcs_address, "EXPLORER_MAX_TRAIN_SECONDS": "600"}
    (first, first_url), (second, second_url) = start_app(site), start_app(site)
    link = encode(TUTORIAL)
    try:
        with open_socket(first_url) as socket:
            student = Student(socket, link)
            student.train(4000)
            student.wait_running()
            moved = parse_qs(student.query)
            assert moved["a"] == [link] and re.fullmatch(r"[0-9a-f]{32}", moved["run"][0])
            progress_before_move = student.progress_value
        first.terminate()  # the server goes away (a deployment, a crash): the run does not
        assert first.wait(30) is not None
        with open_socket(second_url) as socket:
            student = Student(socket, link, run=moved["run"][0])
            assert re.match(r"Run #1: (running|starting)", student.progress), student.progress
            assert any("was started on another server of this site" in text for text in student.texts)
            assert parse_qs(student.query)["run"] == moved["run"]  # still in the address: a reload follows it too
            assert student.progress_value >= progress_before_move > 0  # the curve so far, not a new run's
            deadline = time.monotonic() + 60
            while student.progress_value <= progress_before_move:  # and it trains on
                assert time.monotonic() < deadline, student.progress
                time.sleep(student.poll[0] if student.poll else 1)
                student.rerun(fragment=student.poll[1] if student.poll else "")
            student.press("Stop")
            deadline = time.monotonic() + 60
            while "stopped" not in student.progress:
                assert time.monotonic() < deadline, student.progress
                time.sleep(1)
                student.rerun()
            assert "run" not in parse_qs(student.query)  # over: nothing left to follow
        with open_socket(second_url) as socket:  # the address of a run that has ended
            student = Student(socket, link, run=moved["run"][0])
            assert not student.progress
            shown = [text.replace("\\", "") for text in student.texts]  # as rendered: without markdown's escapes
            assert any("not running any more: it has finished or was stopped" in text for text in shown)
            assert "run" not in parse_qs(student.query)
    finally:
        for server in (first, second):
            server.terminate()
            server.wait(30)


def test_a_run_whose_server_was_killed_is_ended_by_its_actor(cluster: None) -> None:
    """A page server killed outright (no goodbye to the cluster), and no other server following its run: the run's
    actor ends the run once no page has shown it for EXPLORER_MAX_UNWATCHED_SECONDS, and gives its CPU back."""
    server = textwrap.dedent(
        """
        import os, sys, time
        from explorer.presets import DEFAULT_PRESET, load_preset
        from explorer.runs import TrainingRun
        from explorer.tasks import TASKS
        from explorer.train import TrainConfig
        run = TrainingRun(1, load_preset(DEFAULT_PRESET), TASKS["classify"], TrainConfig(steps=5000, report_every=5))
        while not run.reports:
            run.touch()  # its page shows it
            time.sleep(0.1)
        print(run.run_id, flush=True)
        os._exit(0)  # as SIGKILL: no finalizer runs, nothing is said to the cluster
        """
    )
    env = {ray_runs.RAY_ADDRESS: ray.get_runtime_context().gcs_address, "EXPLORER_MAX_UNWATCHED_SECONDS": "3"}
    killed = subprocess.run(
        [sys.executable, "-c", server], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    run_id = killed.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", run_id), killed.stderr
    assert ray_runs.find_run(run_id) is not None  # it trains on, for now
    wait_for(lambda: ray_runs.find_run(run_id) is None, timeout=60)
    wait_for(lambda: ray.available_resources().get("CPU") == 2, timeout=30)


def test_a_cluster_that_cannot_be_reached_refuses_the_run_in_words() -> None:
    """A cluster down (or a wrong address): Train says so at once, instead of waiting on Ray's minutes of retries."""
    server = textwrap.dedent(
        """
        from explorer.presets import DEFAULT_PRESET, load_preset
        from explorer.runs import ServerBusy, TrainingSlots
        from explorer.tasks import TASKS
        from explorer.train import TrainConfig
        try:
            TrainingSlots(1).start(1, load_preset(DEFAULT_PRESET), TASKS["classify"], TrainConfig(steps=10))
        except ServerBusy as exc:
            print(exc)
        """
    )
    env = {**os.environ, ray_runs.RAY_ADDRESS: f"127.0.0.1:{free_port()}"}  # nothing listens there
    refused = subprocess.run([sys.executable, "-c", server], env=env, capture_output=True, text=True, timeout=60)
    assert refused.stdout.startswith(f"The training cluster ({ray_runs.RAY_ADDRESS}=127.0.0.1:"), refused.stderr
    assert "cannot be reached: [Errno 111] Connection refused. Training is unavailable until it is back" in (
        refused.stdout
    )

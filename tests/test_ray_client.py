"""A cluster reached as a department's page servers reach one: through Ray Client (`ray://host:port`), a cluster of
its own processes (`ray start --head`) with token authentication on. A run from a page server's process trains
there, reports its seeded curve and brings its weights back. Skipped where Ray is not installed
(requirements-ray.txt, with its client extra), and unless EXPLORER_TEST_RAY_CLIENT=1."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from explorer.ray_runs import RAY_ADDRESS

from helpers import free_port

pytest.importorskip("ray")
# A minute, and Ray's client server with its own ports: run on demand (the backend's other tests run in CI).
pytestmark = pytest.mark.skipif(
    os.environ.get("EXPLORER_TEST_RAY_CLIENT") != "1",
    reason="set EXPLORER_TEST_RAY_CLIENT=1 to reach a cluster by ray://",
)

SERVER = textwrap.dedent(
    """
    import json, time
    from explorer.presets import DEFAULT_PRESET, load_preset
    from explorer.runs import TrainingSlots
    from explorer.tasks import TASKS
    from explorer.train import TrainConfig
    config = TrainConfig(steps=20, report_every=5)
    run = TrainingSlots(1).start(1, load_preset(DEFAULT_PRESET), TASKS["classify"], config)
    while run.running:
        run.touch()
        time.sleep(0.2)
    output = run.trained.model(run.trained.validation_samples.x[:2])
    print(json.dumps({"status": run.status, "losses": [r.train_loss for r in run.reports], "error": run.error,
                      "output": list(output.shape), "run_id": run.run_id}))
    """
)


def test_a_run_trains_on_a_cluster_reached_through_ray_client(tmp_path: Path) -> None:
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_cli, "Ray's command line is installed with ray"
    gcs, client = free_port(), free_port()
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}  # the cluster's shared secret
    with (tmp_path / "head.log").open("wb") as log:  # the process has its own copy of the file
        head = subprocess.Popen(
            [ray_cli, "start", "--head", "--block", "--port", str(gcs), "--ray-client-server-port", str(client),
             "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats"],
            env={**os.environ, **token}, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True,  # its processes in a group of their own: ended together, and only they
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:  # the client server is the last to listen
            try:
                socket.create_connection(("127.0.0.1", client), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, (tmp_path / "head.log").read_text()
                time.sleep(0.5)
        env = {**os.environ, **token, RAY_ADDRESS: f"ray://127.0.0.1:{client}"}
        server = subprocess.run(
            [sys.executable, "-c", SERVER], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert server.returncode == 0, server.stderr[-3000:]
        result = json.loads(server.stdout.strip().splitlines()[-1])
        assert result["status"] == "done" and result["error"] is None, result
        assert len(result["losses"]) == 4 and result["output"] == [2, 5] and len(result["run_id"]) == 32
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # where `auto` would look for it
        if current.exists() and current.read_text().strip().endswith(f":{gcs}"):
            current.unlink()

"""Shared test helpers: random architectures, named shapes made concrete, the app server for browsers."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import strategies as st

from explorer.analysis import Shape
from explorer.spec import DEFAULT_LIMITS, Activation, Architecture, CellType, DenseHead, InputSpec, RecurrentLayer

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def load_generated(source: str, directory: Path) -> object:
    """Import generated code as a module, the way a user would run the exported file (the tests' own output)."""
    path = directory / f"generated_{abs(hash(source))}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown(elements) -> list[str]:
    """The text of AppTest's alert or caption elements as the reader sees it: the page backslash-escapes every
    punctuation mark of a message (explorer.literal), and the browser shows the marks alone."""
    return [re.sub(r"\\(.)", r"\1", element.value) for element in elements]


def concrete(shape: Shape, batch: int, time: int) -> tuple[int, ...]:
    """The sizes a real tensor has, where the analysis left batch or time as names."""
    sizes = {"batch": batch, "time": time}
    return tuple(d.size if d.size is not None else sizes[d.name] for d in shape)


@st.composite
def recurrent_layers(draw: st.DrawFn, return_sequences: bool | None = None) -> RecurrentLayer:
    return RecurrentLayer(
        type=draw(st.sampled_from(list(CellType))),
        units=draw(st.integers(1, 12)),
        return_sequences=draw(st.booleans()) if return_sequences is None else return_sequences,
        bidirectional=draw(st.booleans()),
        dropout=draw(st.sampled_from([0.0, 0.0, 0.25])),
        num_layers=draw(st.integers(1, DEFAULT_LIMITS.max_num_layers)),  # fused runs reach l10 and past
    )


@st.composite
def valid_architectures(draw: st.DrawFn, max_layers: int = 4) -> Architecture:
    """Every layer but the last hands on its sequence, so each one gets the 3-D input it needs."""
    n = draw(st.integers(1, max_layers))
    layers = [draw(recurrent_layers(return_sequences=True)) for _ in range(n - 1)]
    layers.append(draw(recurrent_layers()))
    # Adjacent identical layers are common, so fusion gets exercised: sometimes copy the previous one.
    for i in range(1, n - 1):
        if draw(st.booleans()):
            layers[i] = layers[i - 1]
    head = draw(st.none() | st.builds(DenseHead, st.integers(1, 6), st.none() | st.sampled_from(list(Activation))))
    spec = InputSpec(
        features=draw(st.integers(1, 8)),
        seq_len=draw(st.none() | st.integers(1, 7)),
        batch=draw(st.none() | st.integers(1, 5)),
    )
    return Architecture(spec, tuple(layers), head)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The README's command, on loopback and a free port."""
    port = _free_port()
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"server-{port}.log"  # a file, not a pipe: nothing is left open when the server ends
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [streamlit, "run", "app.py", "--server.address", "127.0.0.1", "--server.port", str(port)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")) from None
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the app did not start within 60 s")

"""Shared test helpers: random architectures, named shapes made concrete, the app server for browsers."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from hypothesis import assume
from hypothesis import strategies as st

from explorer.analysis import Shape, analyze
from explorer.layers.conv import AvgPool1D, Conv1D, MaxPool1D, Padding
from explorer.layers.dense import ActivationLayer, Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm, LayerNorm
from explorer.layers.recurrent import CellActivation, LastStep
from explorer.layers.reshape import Flatten, GlobalAvgPool1D, GlobalMaxPool1D, RepeatVector
from explorer.shapes import Form, form
from explorer.spec import DEFAULT_LIMITS, Activation, Architecture, CellType, Dense, InputSpec, RecurrentLayer

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


if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest


def drawn_graph(at: AppTest) -> str:
    """The page's drawn data-flow graph: the inlined SVG's text, as the browser gets it."""
    (svg,) = [m.value for m in at.markdown if "<svg" in m.value]
    return html.unescape(svg)


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
    head = draw(st.none() | st.builds(Dense, st.integers(1, 6), st.none() | st.sampled_from(list(Activation))))
    spec = InputSpec(
        features=draw(st.integers(1, 8)),
        seq_len=draw(st.none() | st.integers(1, 7)),
        batch=draw(st.none() | st.integers(1, 5)),
    )
    return Architecture(spec, tuple(layers), head)


# --- random stacks of every kind ---------------------------------------------------------------

# Where the input's length varies, tests feed batches padded to this many steps; stacks are drawn to fit it.
VARIABLE_TIME = 8
ACTIVATIONS = st.none() | st.sampled_from(list(Activation))


@st.composite
def _recurrent(draw: st.DrawFn) -> RecurrentLayer:
    layer = draw(recurrent_layers())
    return replace(
        layer,
        num_layers=draw(st.integers(1, 3)),
        activation=draw(st.sampled_from(list(CellActivation))),
        bias=draw(st.booleans()),
        input_dropout=draw(st.sampled_from([0.0, 0.0, 0.2])),
        recurrent_dropout=draw(st.sampled_from([0.0, 0.0, 0.1])),
        last_step=draw(st.sampled_from(list(LastStep))),
    )


@st.composite
def _conv(draw: st.DrawFn) -> Conv1D:
    stride = draw(st.integers(1, 2))
    return Conv1D(
        filters=draw(st.integers(1, 6)),
        kernel_size=draw(st.integers(1, 3)),
        stride=stride,
        padding=draw(st.sampled_from(list(Padding))),
        dilation=draw(st.integers(1, 2)) if stride == 1 else 1,
        activation=draw(ACTIVATIONS),
        bias=draw(st.booleans()),
    )


def _pool(kind: type) -> st.SearchStrategy:
    return st.builds(kind, st.integers(1, 3), st.none() | st.integers(1, 2), st.sampled_from(list(Padding)))


# One strategy per registered kind: test_layers checks that none is missing.
KIND_STRATEGIES: dict[type, st.SearchStrategy] = {
    RecurrentLayer: _recurrent(),
    Embedding: st.builds(Embedding, st.integers(2, 30), st.integers(1, 8), st.none() | st.just(0), st.booleans()),
    Dense: st.builds(Dense, st.integers(1, 8), ACTIVATIONS, st.booleans()),
    ActivationLayer: st.builds(ActivationLayer, st.sampled_from(list(Activation))),
    Dropout: st.builds(Dropout, st.sampled_from([0.0, 0.3])),
    Conv1D: _conv(),
    MaxPool1D: _pool(MaxPool1D),
    AvgPool1D: _pool(AvgPool1D),
    GlobalAvgPool1D: st.just(GlobalAvgPool1D()),
    GlobalMaxPool1D: st.just(GlobalMaxPool1D()),
    LayerNorm: st.just(LayerNorm()),
    BatchNorm: st.just(BatchNorm()),
    Flatten: st.just(Flatten()),
    RepeatVector: st.builds(RepeatVector, st.integers(1, 4)),
}


@st.composite
def valid_stacks(draw: st.DrawFn, max_layers: int = 6) -> Architecture:
    """Random valid stacks of every kind: token input with an Embedding, conv front ends, pooling, RepeatVector
    decoders, norms, dropout anywhere, a head or none. Each layer is drawn among the kinds that can read what
    the stack hands on so far."""
    tokens = draw(st.booleans())
    seq_len = draw(st.none() | st.integers(1, 9))
    spec = InputSpec(None if tokens else draw(st.integers(1, 6)), seq_len, draw(st.none() | st.integers(1, 4)), tokens)
    layers: list = [draw(KIND_STRATEGIES[Embedding])] if tokens else []
    for _ in range(draw(st.integers(1, max_layers))):
        handed = form(analyze(Architecture(spec, tuple(layers))).output_shape)
        kinds = [kind for kind in KIND_STRATEGIES if handed in kind.ACCEPTS and kind is not Embedding]
        kinds += [RecurrentLayer] * 3 if handed is Form.SEQUENCE else []  # the subject of this tool, drawn more
        layers.append(draw(KIND_STRATEGIES[draw(st.sampled_from(kinds))]))
    head = draw(st.none() | st.builds(Dense, st.integers(1, 5), ACTIVATIONS))
    arch = Architecture(spec, tuple(layers), head)
    analysis = analyze(arch)
    assume(analysis.valid and "softmax-one-unit" not in {d.code for d in analysis.diagnostics})  # Keras warns too
    if seq_len is None:  # the padded test batch must fit every window too
        assume(analyze(replace(arch, input=replace(spec, seq_len=VARIABLE_TIME))).valid)
    return arch


def stack_inputs(arch: Architecture, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, int, int]:
    """A batch for `arch`: real values or token ids, padded with lengths where the length varies."""
    generator = torch.Generator().manual_seed(seed)
    batch, time = arch.input.batch or 3, arch.input.seq_len or VARIABLE_TIME
    first = arch.layers[0] if arch.layers else None
    if arch.input.tokens:
        vocab = first.vocab if isinstance(first, Embedding) else 2
        x = torch.randint(1, vocab, (batch, time), generator=generator) if vocab > 1 else torch.zeros(batch, time)
        x = x.long()
    else:
        x = torch.randn(batch, time, arch.input.features, generator=generator)
    lengths = None
    if arch.input.seq_len is None:
        lengths = torch.randint(1, time + 1, (batch,), generator=generator)
        lengths[0] = time  # the longest sequence fills the padded batch
    return x, lengths, batch, time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The README's command, on loopback and a free port."""
    port = free_port()
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

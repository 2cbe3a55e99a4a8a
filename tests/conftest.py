"""Shared strategies and helpers: random architectures, and named shapes made concrete."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st

from explorer.analysis import Shape
from explorer.spec import Activation, Architecture, CellType, DenseHead, InputSpec, RecurrentLayer

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", help="rewrite tests/expected/ from the current output")


@pytest.fixture
def overwrite(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--overwrite")


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
        num_layers=draw(st.integers(1, 3)),
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

"""Exported Keras code built with real Keras 3 (torch backend, no TensorFlow): shapes and counts as analysed."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from explorer.analysis import analyze
from explorer.codegen import keras_code
from explorer.spec import Architecture, parse_architecture

from helpers import ASSETS, concrete, load_generated, valid_architectures

pytestmark = pytest.mark.keras


def _check(arch: Architecture, directory: Path) -> keras.Model:
    analysis = analyze(arch)
    model = load_generated(keras_code(arch), directory).model
    assert model.count_params() == analysis.total_params_keras
    assert tuple(model.output_shape) == tuple(d.size for d in analysis.output_shape)
    batch, time = arch.input.batch or 2, arch.input.seq_len or 5
    x = np.random.default_rng(0).normal(size=(batch, time, arch.input.features)).astype("float32")
    assert tuple(model(x).shape) == concrete(analysis.output_shape, batch, time)
    return model


def test_backend_is_torch() -> None:
    assert keras.backend.backend() == "torch"


def test_tutorial_counts_match_keras_layer_by_layer(tmp_path: Path) -> None:
    model = _check(parse_architecture((ASSETS / "tutorial_keras.json").read_bytes()), tmp_path)
    assert [layer.count_params() for layer in model.layers] == [19_200, 9_408, 165]


@pytest.mark.parametrize(
    "name", ["tutorial_pytorch_num_layers", "bidirectional", "sequence_labelling", "variable_length"]
)
def test_shipped_examples_build_in_keras(name: str, tmp_path: Path) -> None:
    _check(parse_architecture((ASSETS / f"{name}.json").read_bytes()), tmp_path)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch=valid_architectures(max_layers=3))
def test_random_architectures_match_keras(arch: Architecture, tmp_path: Path) -> None:
    _check(arch, tmp_path)

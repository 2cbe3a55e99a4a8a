"""Exported Keras code built with real Keras 3 (torch backend, no TensorFlow): shapes and counts as analysed."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from explorer.analysis import analyze
from explorer.build import build
from explorer.codegen import keras_code
from explorer.spec import Architecture, architecture_from_dict, parse_architecture

from helpers import ASSETS, VARIABLE_TIME, load_generated, valid_architectures, valid_stacks

pytestmark = pytest.mark.keras


def _check(arch: Architecture, directory: Path) -> keras.Model:
    analysis = analyze(arch)
    model = load_generated(keras_code(arch), directory).model
    assert model.count_params() == analysis.total_params_keras
    assert tuple(model.output_shape) == tuple(d.size for d in analysis.output_shape)
    batch, time = arch.input.batch or 2, arch.input.seq_len or VARIABLE_TIME
    rng = np.random.default_rng(0)
    if arch.input.tokens:
        vocab = getattr(arch.layers[0], "vocab", 2)
        x = rng.integers(1, max(vocab, 2), size=(batch, time)).astype("int32")
    else:
        x = rng.normal(size=(batch, time, arch.input.features)).astype("float32")
    sized = analyze(replace(arch, input=replace(arch.input, seq_len=time, batch=batch)))
    assert tuple(model(x).shape) == tuple(d.size for d in sized.output_shape)
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


# Keras says so when a layer that cannot carry a mask drops it (Conv1D after a masked Embedding): as intended.
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch=valid_stacks(max_layers=5))
def test_random_stacks_of_every_kind_match_keras(arch: Architecture, tmp_path: Path) -> None:
    _check(arch, tmp_path)


WINDOWS = [
    {"type": "Conv1D", "filters": 3, "kernel_size": 3, "stride": 2, "padding": "same"},
    {"type": "Conv1D", "filters": 3, "kernel_size": 4, "padding": "same", "dilation": 2},
    {"type": "Conv1D", "filters": 2, "kernel_size": 2, "stride": 3},
    {"type": "MaxPool1D", "pool_size": 3, "stride": 2, "padding": "same"},
    {"type": "AvgPool1D", "pool_size": 3, "stride": 2, "padding": "same"},
    {"type": "AvgPool1D", "pool_size": 2, "padding": "valid"},
]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w['type']}-{w.get('padding', 'valid')}")
@pytest.mark.parametrize("seq_len", [7, 8])
def test_windows_over_time_compute_what_keras_computes(window: dict, seq_len: int, tmp_path: Path) -> None:
    """'same' as Keras pads (any odd step on the right), average pooling over the real values only: numbers, not
    only shapes, equal to Keras' with the same weights."""
    arch = architecture_from_dict({"input": {"features": 4, "seq_len": seq_len}, "layers": [window]})
    torch.manual_seed(0)
    model = build(arch).eval()
    keras_model = load_generated(keras_code(arch), tmp_path).model
    conv = model.stage_list[0].inner
    if isinstance(conv, torch.nn.Conv1d):  # torch (out, in, k) is Keras' (k, in, out)
        keras_model.layers[0].set_weights([conv.weight.detach().permute(2, 1, 0).numpy(), conv.bias.detach().numpy()])
    x = np.random.default_rng(1).normal(size=(2, seq_len, 4)).astype("float32")
    expected = np.asarray(keras_model(x).detach().cpu())
    if window["type"] == "AvgPool1D" and window["padding"] == "same":
        # Keras' TensorFlow and JAX backends average the real steps; its torch backend repeats the edge value
        # where the padding is odd (keras/src/backend/torch/nn.py, mode="replicate"). The tool follows the first.
        expected = _average_of_real_steps(x, window["pool_size"], window["stride"])
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def _average_of_real_steps(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """'same' average pooling as TensorFlow defines it: ceil(time / stride) windows, the padding (any odd step on
    the right) left out of each average."""
    time = x.shape[1]
    steps = -(-time // stride)
    left = max((steps - 1) * stride + size - time, 0) // 2
    windows = []
    for k in range(steps):
        start = k * stride - left
        real = x[:, max(start, 0) : min(start + size, time)]
        windows.append(real.mean(axis=1))
    return np.stack(windows, axis=1)

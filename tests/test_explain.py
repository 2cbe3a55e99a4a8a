"""Shape errors explained: every message is produced here by really running the broken model in torch or Keras
3, so the patterns follow the libraries' real wording."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

import json
import subprocess
import sys
import warnings
from collections.abc import Callable

import keras
import pytest
import torch
from keras import layers
from torch import nn

from explorer.explain import explain
from explorer.presets import load_preset
from explorer.spec import Architecture, architecture_from_dict

from helpers import ASSETS, ROOT

TUTORIAL = load_preset("Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5")


def raised(run: Callable[[], object]) -> str:
    """The message the library really gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run()
        except Exception as exc:  # the message is what is under test, whatever the type
            return f"{type(exc).__name__}: {exc}"
    raise AssertionError("the broken model ran")


def arch(layer_list: list[dict], **input_fields: object) -> Architecture:
    spec = {"features": 10, "seq_len": 20, "batch": 4, **input_fields}
    return architecture_from_dict({"input": spec, "layers": layer_list, "head": None})


def keras_model(*parts: object) -> Callable[[], object]:
    return lambda: keras.Sequential(list(parts))


LSTM_SEQ = {"type": "LSTM", "units": 64, "return_sequences": True}
CASES = [
    (
        "torch input_size",
        lambda: nn.GRU(32, 32, batch_first=True)(torch.randn(4, 20, 64)),
        TUTORIAL,
        2,
        "input_size=64",
    ),
    (
        "torch mat1 and mat2",
        lambda: nn.Linear(64, 5)(torch.randn(4, 20 * 64)),
        arch([LSTM_SEQ, {"type": "Dense", "units": 5}]),
        2,
        "take the last step",
    ),
    (
        "torch hidden size",
        lambda: nn.LSTM(10, 64, num_layers=2, batch_first=True)(
            torch.randn(4, 20, 10), (torch.zeros(1, 4, 64), torch.zeros(1, 4, 64))
        ),
        load_preset("Tutorial (PyTorch, num_layers=2): LSTM 64 → Linear 5"),
        1,
        "torch.zeros(2, batch, 64)",
    ),
    (
        "torch 4-D input",
        lambda: nn.LSTM(10, 64, batch_first=True)(torch.randn(4, 20, 10, 1)),
        TUTORIAL,
        1,
        "Reshape the input to (batch, time, features)",
    ),
    (
        "torch Conv1d channels",
        lambda: nn.Conv1d(10, 64, 5)(torch.randn(4, 20, 10)),
        arch([{"type": "Conv1D", "filters": 64, "kernel_size": 5}, {"type": "LSTM", "units": 8}]),
        1,
        "x.transpose(1, 2)",
    ),
    (
        "torch Embedding on floats",
        lambda: nn.Embedding(100, 8)(torch.randn(4, 20)),
        arch([{"type": "Embedding", "vocab": 100, "dim": 8}, {"type": "LSTM", "units": 8}]),
        1,
        "Set the input to token ids.",
    ),
    (
        "torch index out of range",
        lambda: nn.Embedding(100, 8)(torch.randint(100, 200, (4, 20))),
        load_preset("Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense"),
        1,
        "largest token id + 1",
    ),
    (
        "torch BatchNorm1d on channels last",
        lambda: nn.BatchNorm1d(64)(torch.randn(4, 20, 64)),
        arch([LSTM_SEQ, {"type": "BatchNorm"}, {"type": "LSTM", "units": 8}]),
        2,
        "bn(x.transpose(1, 2)).transpose(1, 2)",
    ),
    (
        "torch LayerNorm size",
        lambda: nn.LayerNorm(64)(torch.randn(4, 20, 32)),
        arch([{"type": "LSTM", "units": 32, "return_sequences": True}, {"type": "LayerNorm"}]),
        2,
        "nn.LayerNorm(features)",
    ),
    (
        "Keras expected ndim=3, found ndim=2",
        keras_model(keras.Input((20, 10)), layers.LSTM(64, return_sequences=True), layers.GRU(32), layers.LSTM(16)),
        load_preset("Teaching: broken stack (a middle layer without return_sequences)"),
        3,
        "Set return_sequences=True on layer 2.",
    ),
    (
        "Keras expected ndim=2, found ndim=3",
        keras_model(keras.Input((20, 10)), layers.LSTM(64, return_sequences=True), layers.RepeatVector(3)),
        arch([LSTM_SEQ, {"type": "RepeatVector", "n": 3}]),
        2,
        "Set return_sequences=False on layer 1",
    ),
    (
        "Keras axis -1",
        lambda: (d := layers.Dense(5), d.build((None, 64)), d(keras.ops.ones((4, 32)))),
        arch([{"type": "LSTM", "units": 32}, {"type": "Dense", "units": 5}]),
        2,
        "a new layer object",
    ),
    (
        "Keras negative output size",
        keras_model(keras.Input((3, 10)), layers.Conv1D(64, 5)),
        arch([{"type": "Conv1D", "filters": 64, "kernel_size": 5}], seq_len=3),
        1,
        "Use padding 'same' on layer 1",
    ),
    (
        "Keras Flatten over a variable length",
        keras_model(keras.Input((None, 10)), layers.Flatten(), layers.Dense(5)),
        arch([LSTM_SEQ, {"type": "Flatten"}, {"type": "Dense", "units": 5}], seq_len=None),
        2,
        "Give the input a fixed length",
    ),
]


@pytest.mark.parametrize(("run", "architecture", "layer", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_real_error_names_the_layer_and_the_fix(run: Callable, architecture: Architecture, layer: int,
                                                     fix: str) -> None:  # fmt: skip
    message = raised(run)
    explanation = explain(architecture, message)
    assert explanation.recognised, message
    assert explanation.layer == layer, (message, explanation)
    assert explanation.fix is not None and fix in explanation.fix, (message, explanation.fix)
    assert explanation.expected and explanation.received


def test_the_shapes_are_in_named_axes_and_a_flattened_sequence_is_recognised() -> None:
    message = raised(lambda: nn.Linear(64, 5)(torch.randn(4, 20 * 64)))
    explanation = explain(arch([LSTM_SEQ, {"type": "Dense", "units": 5}]), message)
    assert (explanation.expected, explanation.received) == ("(batch, features=64)", "(4, features=1280)")
    assert "1280 = 20 steps × 64 features: the whole sequence of layer 1 (LSTM) was flattened" in explanation.message


def test_a_message_it_does_not_know_is_said_honestly() -> None:
    explanation = explain(TUTORIAL, "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert not explanation.recognised and explanation.layer is None and explanation.fix is None
    assert "not one the explorer recognises" in explanation.message


def test_the_cli_prints_the_documented_object_and_exits_0_either_way() -> None:
    message = raised(lambda: nn.GRU(32, 32, batch_first=True)(torch.randn(4, 20, 64)))
    command = [sys.executable, "-m", "explorer", "explain", str(ASSETS / "tutorial_keras.json"), message, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert list(data) == ["recognised", "layer", "expected", "received", "message", "fix"]
    assert data["recognised"] is True and data["layer"] == 2
    unknown = subprocess.run([*command[:-2], "something else"], capture_output=True, text=True, cwd=ROOT)
    assert unknown.returncode == 0 and "not one the explorer recognises" in unknown.stdout
    missing = subprocess.run([*command[:4], "absent.json", "x"], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2

"""Exported PyTorch code runs, and computes exactly what the builder's model computes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.analysis import ArchitectureInvalid
from explorer.build import build, count_parameters, exported_state_dict
from explorer.codegen import keras_code, pytorch_code
from explorer.spec import Architecture, parse_architecture

from helpers import ASSETS, load_generated, stack_inputs, valid_architectures, valid_stacks

torch.set_num_threads(1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch=valid_architectures(), seed=st.integers(0, 2**16))
def test_generated_module_loads_the_trained_weights_by_name(arch: Architecture, seed: int, tmp_path: Path) -> None:
    _same_function(arch, seed, tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch=valid_stacks(), seed=st.integers(0, 2**16))
def test_generated_code_computes_the_builders_function_for_every_kind(
    arch: Architecture, seed: int, tmp_path: Path
) -> None:
    _same_function(arch, seed, tmp_path)


def _same_function(arch: Architecture, seed: int, tmp_path: Path) -> None:
    generated = load_generated(pytorch_code(arch), tmp_path).StackedRNN().eval()
    torch.manual_seed(seed)
    reference = build(arch).eval()  # fused, as the page trains it
    assert count_parameters(generated) == count_parameters(reference)
    # The page's trained-weights download loads by name, strictly, into the exported code.
    generated.load_state_dict(exported_state_dict(reference))
    x, lengths, _, _ = stack_inputs(arch, seed)
    if lengths is not None:
        torch.testing.assert_close(generated(x, lengths), reference(x, lengths))
    else:
        torch.testing.assert_close(generated(x), reference(x))


def test_tutorial_pytorch_export_reads_like_the_tutorial() -> None:
    code = pytorch_code(parse_architecture((ASSETS / "tutorial_pytorch_manual.json").read_bytes()))
    assert "self.lstm1 = nn.LSTM(10, 64, batch_first=True)" in code
    assert "self.gru2 = nn.GRU(64, 32, batch_first=True)" in code
    assert "x = x[:, -1, :]  # (batch=4, features=32): the last step (= h_n[-1], the final state)" in code
    assert "self.dense3 = nn.Linear(32, 5)" in code


def test_num_layers_export_is_one_module() -> None:
    code = pytorch_code(parse_architecture((ASSETS / "tutorial_pytorch_num_layers.json").read_bytes()))
    assert "nn.LSTM(10, 64, num_layers=2, batch_first=True)" in code


def test_fusable_layers_get_a_hint() -> None:
    code = pytorch_code(parse_architecture((ASSETS / "sequence_labelling.json").read_bytes()))
    assert "# layers 1–2 could be one nn.GRU(10, 32, num_layers=2, batch_first=True)" in code


def test_generated_demo_runs_as_a_script(tmp_path: Path) -> None:
    for name in ("tutorial_keras", "variable_length", "bidirectional"):
        arch = parse_architecture((ASSETS / f"{name}.json").read_bytes())
        script = tmp_path / f"{name}.py"
        script.write_text(pytorch_code(arch))
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        printed_shape, printed_count = result.stdout.splitlines()
        code_comments = [line.split("# ")[-1] for line in script.read_text().splitlines()[-2:]]
        assert printed_shape == code_comments[0]  # the comment promises what really prints
        assert printed_count.split()[0] == code_comments[1].replace(",", "")


@pytest.mark.parametrize("export", [pytorch_code, keras_code])
def test_export_refuses_an_invalid_architecture(export) -> None:
    arch = parse_architecture((ASSETS / "teaching_broken.json").read_bytes())
    with pytest.raises(ArchitectureInvalid, match="Set return_sequences=True on layer 2"):
        export(arch)


@pytest.mark.keras
def test_the_keras_file_runs_as_a_script_without_a_backend_set_and_prints_an_output(tmp_path: Path) -> None:
    """Keras 3 defaults to TensorFlow, which is not installed here: the file picks torch itself, and runs an input."""
    import os

    for name in ("tutorial_keras", "text_classifier"):
        arch = parse_architecture((ASSETS / f"{name}.json").read_bytes())
        script = tmp_path / f"{name}_keras.py"
        script.write_text(keras_code(arch))
        environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=environment)
        assert result.returncode == 0, result.stderr[-500:]
        promised = script.read_text().splitlines()[-1].split("# ")[-1]  # (4, 5)
        assert result.stdout.strip().splitlines()[-1] == f"torch.Size([{promised.strip('(),')}])"


def test_a_softmax_output_warns_against_cross_entropy_in_the_pytorch_file() -> None:
    softmax = pytorch_code(parse_architecture((ASSETS / "tutorial_keras.json").read_bytes()))
    assert "To train with nn.CrossEntropyLoss, return the values before the softmax" in softmax
    linear = pytorch_code(parse_architecture((ASSETS / "cnn_lstm_forecaster.json").read_bytes()))
    assert "CrossEntropyLoss" not in linear

"""python -m explorer, as a user runs it: exit codes, the table, the JSON object, exported code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ASSETS

ROOT = ASSETS.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, cwd=ROOT)


def test_summary_table() -> None:
    result = cli("summary", str(ASSETS / "tutorial_keras.json"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["#", "Layer", "Output", "shape", "Params", "torch", "Params", "Keras", "Notes"]
    assert any(line.startswith("1  LSTM(64, return_sequences)  (4, 20, 64)") and "19,456" in line for line in lines)
    assert "29,029" in result.stdout and "28,773" in result.stdout
    assert lines[-1] == "valid"


def test_summary_json_follows_the_documented_schema() -> None:
    result = cli("summary", str(ASSETS / "teaching_broken.json"), "--json")
    assert result.returncode == 0  # parsed, though invalid
    data = json.loads(result.stdout)
    assert data["valid"] is False
    (diagnostic,) = data["diagnostics"]
    assert {k: diagnostic[k] for k in ("severity", "layer")} == {"severity": "error", "layer": 3}
    assert "return_sequences=True on layer 2" in diagnostic["fix"]
    assert [layer["type"] for layer in data["layers"]] == ["LSTM", "GRU", "LSTM", "Dense"]
    assert [layer["index"] for layer in data["layers"]] == [1, 2, 3, 4]
    assert data["layers"][0]["output_shape"] == [4, 20, 64]
    assert data["total_params_torch"] == sum(layer["params_torch"] for layer in data["layers"])
    assert data["total_params_keras"] == sum(layer["params_keras"] for layer in data["layers"])


def test_unknown_axes_are_names_in_json() -> None:
    data = json.loads(cli("summary", str(ASSETS / "variable_length.json"), "--json").stdout)
    assert data["layers"][0]["output_shape"] == ["batch", "time", 32]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"input": {"features": 0}, "layers": []}', "input.features must be an integer"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_bad_files_exit_2_with_a_message_and_no_traceback(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    for args in (
        ("summary", str(path)),
        ("summary", str(path), "--json"),
        ("export", str(path), "--framework", "keras"),
    ):
        result = cli(*args)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_missing_file_and_bad_arguments_exit_2() -> None:
    result = cli("summary", "no-such-file.json")
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr
    result = cli("export", str(ASSETS / "tutorial_keras.json"), "--framework", "jax")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("framework", ["pytorch", "keras"])
def test_export_prints_code(framework: str) -> None:
    result = cli("export", str(ASSETS / "tutorial_keras.json"), "--framework", framework)
    assert result.returncode == 0
    compile(result.stdout, "exported.py", "exec")  # syntactically valid Python; test_codegen runs it
    assert ("nn.LSTM(10, 64" if framework == "pytorch" else "layers.LSTM(64, return_sequences=True)") in result.stdout


def test_export_of_an_invalid_architecture_exits_1_with_the_fix() -> None:
    result = cli("export", str(ASSETS / "teaching_broken.json"), "--framework", "pytorch")
    assert result.returncode == 1 and "Set return_sequences=True on layer 2" in result.stderr


def test_summary_json_has_one_row_per_layer_of_every_kind_with_canonical_types(tmp_path: Path) -> None:
    """Aliases in, canonical names out; parameter-free kinds count 0; the head is the last row, a Dense."""
    model = {
        "input": {"tokens": True, "seq_len": 30},
        "layers": [
            {"type": "embedding", "vocab": 100, "dim": 8},
            {"type": "Conv1d", "filters": 16, "kernel_size": 3},
            {"type": "MaxPooling1D", "pool_size": 2},
            {"type": "BatchNormalization"},
            {"type": "SimpleRNN", "units": 12, "return_sequences": True},
            {"type": "GlobalAveragePooling1D"},
            {"type": "Linear", "units": 6, "activation": "gelu"},
            {"type": "Dropout", "rate": 0.1},
        ],
        "head": {"units": 3, "activation": "log_softmax"},
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    data = json.loads(cli("summary", str(path), "--json").stdout)
    rows = data["layers"]
    assert [row["index"] for row in rows] == list(range(1, 10))
    assert [row["type"] for row in rows] == [
        "Embedding", "Conv1D", "MaxPool1D", "BatchNorm", "RNN", "GlobalAvgPool1D", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    assert [row["output_shape"] for row in rows][:3] == [["batch", 30, 8], ["batch", 28, 16], ["batch", 14, 16]]
    assert rows[0]["input_shape"] == ["batch", 30]
    counts = [(row["params_torch"], row["params_keras"]) for row in rows]
    assert counts == [(800, 800), (400, 400), (0, 0), (32, 64), (360, 348), (0, 0), (78, 78), (0, 0), (21, 21)]
    assert data["total_params_torch"] == sum(t for t, _ in counts)
    assert data["valid"] and rows[4]["h_n"] == [1, "batch", 12] and rows[0]["h_n"] is None


def test_export_works_for_every_kind() -> None:
    for name in ("text_classifier", "cnn_lstm_forecaster", "lstm_autoencoder"):
        for framework in ("pytorch", "keras"):
            result = cli("export", str(ASSETS / f"{name}.json"), "--framework", framework)
            assert result.returncode == 0 and "generated by the Stacked-RNN Architecture Explorer" in result.stdout

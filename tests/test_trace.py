"""python -m explorer trace: the user's own torch model run once with hooks, summarised as `summary` would,
and in agreement with `import` and the analysis on the shipped examples."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from explorer.analysis import analyze
from explorer.codegen import pytorch_code
from explorer.importer import import_source
from explorer.presets import PRESETS, load_preset
from explorer.report import summary_json
from explorer.spec import Architecture
from explorer.trace import load_model, trace

from helpers import ROOT

# Presets whose exported code has one module per layer. The text classifier (GlobalMaxPool1D as `amax`) and the
# autoencoder (RepeatVector as `repeat`) have layers written as functions, which module hooks do not see.
FUNCTIONAL_LAYERS = {"text_classifier.json", "lstm_autoencoder.json"}
TRACEABLE = [
    name for name, file in PRESETS.items() if file not in FUNCTIONAL_LAYERS and analyze(load_preset(name)).valid
]
ROW_KEYS = ("type", "input_shape", "output_shape", "params_torch", "params_keras")


def _sized(arch: Architecture) -> Architecture:
    return replace(arch, input=replace(arch.input, batch=arch.input.batch or 4, seq_len=arch.input.seq_len or 12))


def _rows(summary: dict) -> list[tuple]:
    return [tuple(row[key] for key in ROW_KEYS) for row in summary["layers"]]


@pytest.mark.parametrize("name", TRACEABLE)
def test_trace_import_and_the_analysis_agree_on_the_shipped_examples(name: str, tmp_path: Path) -> None:
    arch = _sized(load_preset(name))
    source = pytorch_code(arch)
    path = tmp_path / "exported.py"
    path.write_text(source)
    shape = (arch.input.batch, arch.input.seq_len) + (() if arch.input.tokens else (arch.input.features,))
    traced = trace(load_model(path, "StackedRNN"), shape)
    imported = import_source(source).architecture
    assert imported is not None
    expected = _rows(summary_json(arch))
    assert _rows(traced) == expected
    assert (
        _rows(summary_json(_sized(replace(imported, input=replace(imported.input, seq_len=arch.input.seq_len)))))
        == expected
    )
    assert traced["total_params_torch"] == analyze(arch).total_params_torch
    assert traced["total_params_keras"] == analyze(arch).total_params_keras


def test_a_module_outside_the_catalogue_is_a_row_with_its_real_shapes(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import torch\nfrom torch import nn\n"
        "class Scale(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(16))\n"
        "    def forward(self, x):\n        return x * self.w\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.gru = nn.GRU(3, 16, batch_first=True)\n        self.scale = Scale()\n"
        "        self.out = nn.Linear(16, 2)\n"
        "    def forward(self, x):\n        h, _ = self.gru(x)\n        return self.out(self.scale(h[:, -1]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "trace", f"{path}:Net", "--input", "2,7,3", "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(row["type"], row["output_shape"], row["params_keras"]) for row in data["layers"]] == [
        ("GRU", [2, 16], 1008),  # the last step the code took
        ("Scale", [2, 16], None),
        ("Dense", [2, 2], 34),
    ]
    assert data["total_params_torch"] == 1008 + 16 + 34 and data["total_params_keras"] is None


def test_trace_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(3, 2)\n"
        "    def forward(self, x):\n        return self.l(x)\n"
    )
    for args in (
        [f"{tmp_path / 'absent.py'}:Net", "--input", "2,3"],
        [f"{broken}", "--input", "2,3"],
        [f"{broken}:Net", "--input", "two"],
        [f"{broken}:Other", "--input", "2,3"],
        [f"{broken}:Net", "--input", "2,5"],  # mat1 and mat2: the forward pass fails
    ):
        result = subprocess.run([sys.executable, "-m", "explorer", "trace", *args], capture_output=True, text=True,
                                cwd=ROOT)  # fmt: skip
        assert result.returncode == 2 and result.stderr.startswith("error:"), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1

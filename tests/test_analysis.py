"""The analysis in pure Python: exact shapes and counts, and diagnostics that name the layer and the fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

from explorer.analysis import Severity, analyze, apply_fix, shape_label
from explorer.report import summary_json, summary_text
from explorer.spec import (
    Activation,
    Architecture,
    CellType,
    Dense,
    InputSpec,
    RecurrentLayer,
    parse_architecture,
)

from helpers import ASSETS, valid_architectures

EXPECTED = Path(__file__).resolve().parent / "expected"
TUTORIAL = parse_architecture((ASSETS / "tutorial_keras.json").read_bytes())


def lstm(units: int, **options: object) -> RecurrentLayer:
    return RecurrentLayer(CellType.LSTM, units, **options)


def gru(units: int, **options: object) -> RecurrentLayer:
    return RecurrentLayer(CellType.GRU, units, **options)


def test_tutorial_counts_in_both_conventions() -> None:
    analysis = analyze(TUTORIAL)
    assert [info.params_torch for info in analysis.layers] == [19_456, 9_408, 165]
    assert [info.params_keras for info in analysis.layers] == [19_200, 9_408, 165]
    assert (analysis.total_params_torch, analysis.total_params_keras) == (29_029, 28_773)


def test_tutorial_shapes_with_named_axes() -> None:
    analysis = analyze(TUTORIAL)
    assert shape_label(analysis.input_shape) == "(batch=4, time=20, features=10)"
    assert [shape_label(info.output_shape) for info in analysis.layers] == [
        "(batch=4, time=20, features=64)",
        "(batch=4, features=32)",
        "(batch=4, features=5)",
    ]
    lstm_info, gru_info, _ = analysis.layers
    assert shape_label(lstm_info.h_n) == shape_label(lstm_info.c_n) == "(layers*directions=1, batch=4, units=64)"
    assert gru_info.c_n is None


def test_unknown_batch_and_time_stay_names() -> None:
    arch = Architecture(InputSpec(10, None, None), (lstm(8, return_sequences=True),))
    assert [d.to_json() for d in analyze(arch).output_shape] == ["batch", "time", 8]


def test_torchinfo_reference_two_layer_lstm() -> None:
    """torchinfo's lstm.out: a 2-layer LSTM(300 → 512) has 3,768,320 parameters."""
    arch = Architecture(InputSpec(300, 10), (lstm(512, num_layers=2),))
    assert analyze(arch).total_params_torch == 3_768_320


def test_bidirectional_doubles_features_and_directions() -> None:
    arch = Architecture(InputSpec(10, 20, 4), (gru(32, bidirectional=True, num_layers=2, return_sequences=True),))
    info = analyze(arch).layers[0]
    assert shape_label(info.output_shape) == "(batch=4, time=20, features=64)"
    assert shape_label(info.h_n) == "(layers*directions=4, batch=4, units=32)"


def test_dense_on_a_sequence_applies_per_time_step() -> None:
    arch = Architecture(InputSpec(10, 20, 4), (lstm(8, return_sequences=True),), Dense(3, Activation.SOFTMAX))
    head = analyze(arch).head
    assert shape_label(head.output_shape) == "(batch=4, time=20, features=3)"
    assert any("every time step" in note for note in head.notes)


def test_missing_return_sequences_is_the_keras_ndim_error_with_its_fix() -> None:
    arch = Architecture(InputSpec(10, 20, 4), (lstm(64), gru(32)), Dense(5))
    analysis = analyze(arch)
    assert not analysis.valid
    (error,) = analysis.errors
    assert error.layer == 2 and error.code == "needs-sequence"
    assert error.message.startswith(
        "layer 2 (GRU) needs a sequence (batch=4, time=20, features=64) "
        "but layer 1 (LSTM) returns only its last state (batch=4, features=64)"
    )
    assert "expected ndim=3, found ndim=2" in error.message
    assert error.fix == "Set return_sequences=True on layer 1."
    assert analyze(apply_fix(arch, error.action)).valid


def test_an_invalid_stack_still_analyses_every_layer() -> None:
    arch = Architecture(InputSpec(10, 20), (lstm(64), gru(32, return_sequences=True), lstm(16)), Dense(5))
    analysis = analyze(arch)
    assert [info.input_ok for info in analysis.layers] == [True, False, True, True]
    assert [info.params_torch for info in analysis.layers][1] == 9_408  # counted as if fed the sequence
    assert shape_label(analysis.output_shape) == "(batch, features=5)"


def test_dropout_with_one_internal_layer_warns_that_torch_ignores_it() -> None:
    arch = Architecture(InputSpec(10, 20), (lstm(64, dropout=0.2),))
    (warning,) = analyze(arch).diagnostics
    assert warning.severity is Severity.WARNING and warning.layer == 1
    assert "layer 1 (LSTM) has dropout=0.2 with num_layers=1" in warning.message
    assert "num_layers to 2 or more on layer 1" in warning.fix
    assert analyze(apply_fix(arch, warning.action)).diagnostics == ()


def test_empty_stack_is_an_error() -> None:
    (error,) = analyze(Architecture(InputSpec(10, 20), (), Dense(5))).diagnostics
    assert error.severity is Severity.ERROR and error.layer == 0
    assert "no layer" in error.message and "Add an LSTM, GRU or RNN layer" in error.fix


def test_softmax_over_one_unit_warns_and_the_fix_uses_sigmoid() -> None:
    arch = Architecture(InputSpec(10, 20), (gru(8),), Dense(1, Activation.SOFTMAX))
    (warning,) = analyze(arch).diagnostics
    assert warning.layer == 2 and "always 1.0" in warning.message and "sigmoid" in warning.fix
    assert apply_fix(arch, warning.action).head.activation is Activation.SIGMOID


def test_plain_rnn_over_a_long_sequence_warns_of_vanishing_gradients() -> None:
    arch = Architecture(InputSpec(1, 200), (RecurrentLayer(CellType.RNN, 16),))
    (warning,) = analyze(arch).diagnostics
    assert "plain RNN over 200 time steps" in warning.message and "LSTM or GRU for layer 1" in warning.fix
    assert analyze(apply_fix(arch, warning.action)).diagnostics == ()
    assert analyze(Architecture(InputSpec(1, 20), (RecurrentLayer(CellType.RNN, 16),))).diagnostics == ()


def test_bidirectional_last_step_note_warns_against_output_minus_one() -> None:
    arch = Architecture(InputSpec(10, 20), (lstm(8, bidirectional=True),))
    assert any("not output[:, -1]" in note for note in analyze(arch).layers[0].notes)


def test_analysis_does_not_import_torch() -> None:
    code = "import sys, explorer.analysis, explorer.report, explorer.spec; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(p.stem for p in ASSETS.glob("*.json")))
def test_shipped_examples_have_exact_expected_summaries(name: str, overwrite: bool) -> None:
    """tests/expected/NAME.out: the table and the JSON; regenerate with `pytest --overwrite` and review the diff."""
    arch = parse_architecture((ASSETS / f"{name}.json").read_bytes())
    actual = summary_text(arch) + "\n\n" + json.dumps(summary_json(arch), indent=2) + "\n"
    expected_file = EXPECTED / f"{name}.out"
    if overwrite:
        expected_file.parent.mkdir(exist_ok=True)
        expected_file.write_text(actual)
    assert actual == expected_file.read_text()


@settings(max_examples=60, deadline=None)
@given(arch=valid_architectures())
def test_the_parameter_formula_adds_up_to_both_counts(arch: Architecture) -> None:
    """The formula shown beside each layer, recomputed from its own numbers, gives the PyTorch and the Keras count
    (which tests/test_build.py and tests/test_keras.py hold to the real frameworks)."""
    for info, layer in zip(analyze(arch).recurrent, arch.layers, strict=True):
        formula = info.params_formula
        gates = int(re.match(r"(?:2 directions × )?(\d) gates", formula)[1]) if layer.type.gates > 1 else 1
        directions = 2 if formula.startswith("2 directions × ") else 1
        terms = re.findall(r"\((\d+)×(\d+) \+ (\d+)×(\d+) \+ b×(\d+)\)", formula)
        assert len(terms) == layer.num_layers and directions == layer.directions and gates == layer.type.gates

        def total(biases: int, terms=terms, scale=directions * gates) -> int:
            return scale * sum(int(u) * int(f) + int(v) * int(w) + biases * int(b) for u, f, v, w, b in terms)

        stated = [int(n.replace(",", "")) for n in re.findall(r": ([\d,]+)", formula)]
        assert total(2) == info.params_torch == stated[0]
        assert total(2 if layer.type is CellType.GRU else 1) == info.params_keras == stated[-1]


def test_the_tutorial_formulas_read_as_written() -> None:
    lstm, gru, dense = analyze(parse_architecture((ASSETS / "tutorial_keras.json").read_bytes())).layers
    assert lstm.params_formula == (
        "4 gates (i, f, g, o) × (64×10 + 64×64 + b×64); "
        "PyTorch b = 2 (bias_ih and bias_hh): 19,456; Keras b = 1: 19,200"
    )
    assert gru.params_formula.endswith("b = 2 in both (bias_ih and bias_hh; Keras' GRU with reset_after=True): 9,408")
    assert dense.params_formula == "32×5 weights + 5 biases, in both: 165"

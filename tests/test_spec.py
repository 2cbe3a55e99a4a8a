"""The architecture file: every parse error names its field and the value received; hostile input is refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from explorer.spec import (
    DEFAULT_LIMITS,
    Activation,
    Architecture,
    CellType,
    Limits,
    SpecError,
    architecture_from_dict,
    architecture_to_dict,
    architecture_to_json,
    parse_architecture,
)

from helpers import ASSETS, valid_architectures

VALID = {
    "input": {"features": 10, "seq_len": 20, "batch": 4},
    "layers": [
        {"type": "LSTM", "units": 64, "return_sequences": True},
        {
            "type": "GRU",
            "units": 32,
            "return_sequences": False,
            "bidirectional": False,
            "dropout": 0.0,
            "num_layers": 1,
        },
    ],
    "head": {"units": 5, "activation": "softmax"},
}


def _with(path: str, value: object) -> dict:
    """VALID with one field replaced; path like 'layers.1.units'."""
    data = json.loads(json.dumps(VALID))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return data


def _problems(data: object, limits: Limits = DEFAULT_LIMITS) -> tuple[str, ...]:
    with pytest.raises(SpecError) as caught:
        architecture_from_dict(data, limits)
    return caught.value.problems


def test_the_documented_example_parses() -> None:
    arch = architecture_from_dict(VALID)
    assert arch.input.features == 10 and arch.input.seq_len == 20 and arch.input.batch == 4
    assert [layer.type for layer in arch.layers] == [CellType.LSTM, CellType.GRU]
    assert arch.layers[0].return_sequences and not arch.layers[1].return_sequences
    assert arch.head.units == 5 and arch.head.activation is Activation.SOFTMAX


def test_defaults_follow_keras_and_torch() -> None:
    arch = architecture_from_dict({"input": {"features": 3}, "layers": [{"type": "gru", "units": 2}]})
    layer = arch.layers[0]
    assert (layer.return_sequences, layer.bidirectional, layer.dropout, layer.num_layers) == (False, False, 0.0, 1)
    assert arch.input.seq_len is None and arch.input.batch is None and arch.head is None


def test_keras_name_simplernn_is_the_plain_rnn() -> None:
    arch = architecture_from_dict({"input": {"features": 3}, "layers": [{"type": "SimpleRNN", "units": 2}]})
    assert arch.layers[0].type is CellType.RNN


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("layers.1.units", 0, "layers[1].units must be an integer from 1 to 65536, received 0"),
        ("layers.1.units", True, "layers[1].units must be an integer from 1 to 65536, received true"),
        ("layers.1.units", "64", 'layers[1].units must be an integer from 1 to 65536, received "64"'),
        ("layers.1.units", 64.0, "layers[1].units must be an integer from 1 to 65536, received 64.0"),
        ("layers.0.units", -3, "layers[0].units must be an integer from 1 to 65536, received -3"),
        ("layers.0.type", "CNN", "layers[0].type must be one of LSTM, GRU, RNN, Embedding, Dense"),
        ("layers.0.type", 3, "layers[0].type must be one of LSTM, GRU, RNN, Embedding"),
        ("layers.0.return_sequences", "yes", 'layers[0].return_sequences must be true or false, received "yes"'),
        ("layers.0.bidirectional", 1, "layers[0].bidirectional must be true or false, received 1"),
        ("layers.0.dropout", 1.0, "layers[0].dropout must be a number from 0 up to (not including) 1, received 1.0"),
        ("layers.0.dropout", -0.1, "layers[0].dropout must be a number from 0 up to (not including) 1, received -0.1"),
        (
            "layers.0.dropout",
            False,
            "layers[0].dropout must be a number from 0 up to (not including) 1, received false",
        ),
        ("layers.0.num_layers", 0, "layers[0].num_layers must be an integer from 1 to 8, received 0"),
        ("input.features", 0, "input.features must be an integer from 1 to 16384, received 0"),
        ("input.seq_len", 0, "input.seq_len must be an integer from 1 to 2000 or null, received 0"),
        ("input.batch", "4", 'input.batch must be an integer from 1 to 1024 or null, received "4"'),
        ("head.units", 0, "head.units must be an integer from 1 to 65536, received 0"),
        (
            "head.activation",
            "swish",
            "head.activation must be one of softmax, sigmoid, relu, tanh, log_softmax, gelu, elu, selu, leaky_relu or "
            'null, received "swish"',
        ),
        ("layers.0", [], "layers[0] must be an object, received []"),
        ("layers", {}, "layers must be a list, received {}"),
        ("input", 10, "input must be an object, received 10"),
        ("layers.0.colour", "red", "layers[0].colour is not a known key"),
        ("head.extra", 1, "head.extra is not a known key"),
    ],
)
def test_each_wrong_field_is_named_with_the_value_received(path: str, value: object, expected: str) -> None:
    problems = _problems(_with(path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_fields_are_named() -> None:
    assert _problems({"layers": []}) == ("input is missing",)
    assert "layers[0].units is missing" in _problems({"input": {"features": 2}, "layers": [{"type": "LSTM"}]})
    assert _problems({"input": {}, "layers": []})[0].startswith("input.features is missing")
    assert "head.units is missing" in _problems({"input": {"features": 2}, "layers": [], "head": {}})


def test_every_problem_is_reported_at_once() -> None:
    data = _with("layers.0.units", 0)
    data["layers"][1]["type"] = "TCN"
    data["head"]["units"] = -1
    assert len(_problems(data)) == 3


def test_limits_bound_every_size_and_name_the_limit() -> None:
    limits = Limits(max_layers=2, max_units=16, max_seq_len=50, max_batch=8)
    assert "layers has 3 entries, more than the limit of 2" in _problems(
        {"input": {"features": 1}, "layers": [{"type": "RNN", "units": 1}] * 3}, limits
    )
    assert "layers[0].units must be an integer from 1 to 16, received 64" in _problems(VALID, limits)
    assert any(
        "input.seq_len must be an integer from 1 to 50" in p for p in _problems(_with("input.seq_len", 51), limits)
    )
    assert any("input.batch must be an integer from 1 to 8" in p for p in _problems(_with("input.batch", 9), limits))


def test_limits_are_read_from_the_environment() -> None:
    limits = Limits.from_env({"EXPLORER_MAX_UNITS": "128", "EXPLORER_MAX_LAYERS": "4"})
    assert (limits.max_units, limits.max_layers, limits.max_seq_len) == (128, 4, Limits().max_seq_len)
    with pytest.raises(ValueError, match="EXPLORER_MAX_UNITS must be a whole number, received 'lots'"):
        Limits.from_env({"EXPLORER_MAX_UNITS": "lots"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "more than the limit"),
        (b"[" * 5_000 + b"]" * 5_000, "nested 5000 levels deep"),
        (b'{"input": {"features": NaN}, "layers": []}', "NaN is not a number JSON allows"),
        (b'{"input": {"features": Infinity}, "layers": []}', "Infinity is not a number JSON allows"),
        (b'{"input": {"features": 1}, "input": {"features": 2}, "layers": []}', '"input" appears twice'),
        (b'{"input": {"features": 1' + b"0" * 5000 + b'}, "layers": []}', "not valid JSON"),
        (b"null", "architecture must be an object, received null"),
        (b'"__import__(\\"os\\")"', "architecture must be an object"),
        (b'{"input": {"features": 1e999}, "layers": []}', "received inf"),
        (b'{"input": {"features": -1e999}, "layers": []}', "received -inf"),
        (b'{"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 1000000000000000000000}]}', "received"),
        (b'{"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 8, "dropout": 1e999}]}', "dropout"),
        (b'{"input": {"features": 10}, "layers": [{"type": "<b>LSTM</b>", "units": 8}]}', "one of LSTM, GRU, RNN"),
        (b'{"input": {"features": "10\\"];evil"}, "layers": []}', "input.features must be an integer"),
    ],
)
def test_hostile_files_get_a_clear_message(raw: bytes, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_architecture(raw)
    assert expected in str(caught.value)
    assert len(str(caught.value)) < 400  # a huge value is shown cut short


def test_a_file_over_the_size_cap_is_refused_before_parsing() -> None:
    raw = json.dumps(VALID).encode() + b" " * 1000
    with pytest.raises(SpecError, match="more than the limit of 500"):
        parse_architecture(raw, Limits(max_file_bytes=500))


def test_utf8_with_byte_order_mark_is_accepted() -> None:
    assert parse_architecture(b"\xef\xbb\xbf" + json.dumps(VALID).encode()) == architecture_from_dict(VALID)


@settings(max_examples=50, deadline=None)
@given(arch=valid_architectures())
def test_json_round_trip(arch: Architecture) -> None:
    assert parse_architecture(architecture_to_json(arch)) == arch
    assert architecture_from_dict(architecture_to_dict(arch)) == arch


def test_shipped_assets_parse() -> None:
    files = sorted(ASSETS.glob("*.json"))
    assert files
    for path in files:
        parse_architecture(path.read_bytes())

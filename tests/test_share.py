"""Links and edits: a compact link that round-trips, and refuses anything damaged, huge or over the limits."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import given, settings

from explorer.edit import add_layer, inserted, moved, removed, validated
from explorer.share import MAX_LINK_CHARS, decode, encode
from explorer.spec import Architecture, CellType, Limits, SpecError

from helpers import valid_architectures


@settings(max_examples=60, deadline=None)
@given(arch=valid_architectures())
def test_link_round_trip(arch: Architecture) -> None:
    link = encode(arch)
    assert decode(link) == arch
    assert len(link) < 1_000 and link.isascii() and "=" not in link


def _link(payload: bytes) -> str:
    return base64.urlsafe_b64encode(zlib.compress(payload)).decode()


def test_a_compressed_bomb_is_not_inflated() -> None:
    bomb = _link(b" " * 5_000_000)  # 5 MB of JSON whitespace in a link under 8,000 characters
    assert len(bomb) < MAX_LINK_CHARS
    with pytest.raises(SpecError, match="inflates past the limit"):
        decode(bomb)


@pytest.mark.parametrize("link", ["", "!!!!", "eNq", "x" * 40])
def test_damaged_links(link: str) -> None:
    with pytest.raises(SpecError):
        decode(link)


def test_a_link_goes_through_the_same_checks_as_a_file() -> None:
    payload = json.dumps({"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 64}], "extra": 1})
    with pytest.raises(SpecError, match="extra is not a known key"):
        decode(_link(payload.encode()))
    ok = json.dumps({"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 64}]}).encode()
    with pytest.raises(SpecError, match="units must be an integer from 1 to 32"):
        decode(_link(ok), Limits(max_units=32))


def test_list_edits() -> None:
    assert inserted((1, 2), 1, 9) == (1, 9, 2)
    assert removed((1, 2, 3), 0) == (2, 3)
    assert moved((1, 2, 3), 0, 1) == (2, 1, 3)
    assert moved((1, 2, 3), 0, -1) == (1, 2, 3)  # already at the top
    assert moved((1, 2, 3), 2, 1) == (1, 2, 3)


def test_added_layers_follow_the_previous_width_and_edits_respect_limits() -> None:
    from explorer.presets import DEFAULT_PRESET, load_preset

    base = load_preset(DEFAULT_PRESET)
    grown = add_layer(base, 1, CellType.RNN)
    assert [layer.units for layer in grown.layers] == [64, 64, 32]
    with pytest.raises(SpecError, match="more than the limit of 3"):
        validated(add_layer(grown, 3, CellType.GRU), Limits(max_layers=3))


def test_a_damaged_link_is_called_a_link_not_a_file() -> None:
    broken = base64.urlsafe_b64encode(zlib.compress(b'{"input": {"features": 10}, "layers": [')).decode()
    with pytest.raises(SpecError, match=r"^the link's architecture is not valid JSON"):
        decode(broken)

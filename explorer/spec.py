"""The architecture: frozen dataclasses, and the one parser every input goes through.

Widgets, URL parameters, uploaded files and the CLI all reach `architecture_from_dict` (or
`parse_architecture` for raw bytes), so no path can get past the checks or the limits.
Parsing only reads JSON: nothing is evaluated or unpickled. Each layer kind reads its own fields
(explorer/layers); this module reads the input, the list of layers and the head.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from explorer.layers.base import Activation as Activation
from explorer.layers.base import Layer as Layer
from explorer.layers.dense import Dense as Dense
from explorer.layers.recurrent import CellType as CellType
from explorer.layers.recurrent import RecurrentLayer as RecurrentLayer
from explorer.layers.registry import BY_NAME, CANONICAL
from explorer.limits import DEFAULT_LIMITS as DEFAULT_LIMITS
from explorer.limits import Limits as Limits
from explorer.reader import Reader, describe
from explorer.reader import SpecError as SpecError
from explorer.reader import problems_text as problems_text


@dataclass(frozen=True)
class InputSpec:
    features: int | None  # None only with token input: the Embedding's dim sets the features
    seq_len: int | None = None  # None: variable length, an axis called "time"
    batch: int | None = None  # None: unspecified, an axis called "batch"
    tokens: bool = False  # integer token ids (batch, time), read by an Embedding


@dataclass(frozen=True)
class Architecture:
    input: InputSpec
    layers: tuple[Layer, ...] = field(default_factory=tuple)
    head: Dense | None = None

    @property
    def stack(self) -> tuple[Layer, ...]:
        """The layers with the head as the last one: what the analysis, builder and code walk."""
        return self.layers if self.head is None else (*self.layers, self.head)

    def with_layer(self, index: int, **changes: Any) -> Architecture:
        layers = list(self.layers)
        layers[index] = replace(layers[index], **changes)
        return replace(self, layers=tuple(layers))


_TOP_KEYS = ("input", "layers", "head")
_INPUT_KEYS = ("features", "seq_len", "batch", "tokens")
_HEAD_KEYS = ("units", "activation", "bias")


def architecture_from_dict(data: Any, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    """Validate a decoded JSON value and build the Architecture, or raise SpecError."""
    r = Reader()
    top = r.obj(data, "architecture", _TOP_KEYS)
    if top is None:
        raise SpecError(r.problems)
    for key in ("input", "layers"):
        if key not in top:
            r.problems.append(f"{key} is missing")

    input_spec = _read_input(r, top["input"], limits) if "input" in top else None

    layers: list[Layer] = []
    raw_layers = top.get("layers", [])
    if not isinstance(raw_layers, list):
        r.fail("layers", "a list", raw_layers)
    elif len(raw_layers) > limits.max_layers:
        r.problems.append(f"layers has {len(raw_layers)} entries, more than the limit of {limits.max_layers}")
    else:
        for i, raw in enumerate(raw_layers):
            layer = _read_layer(r, raw, f"layers[{i}]", limits)
            if layer is not None:
                layers.append(layer)

    head = None
    if top.get("head") is not None and (raw_head := r.obj(top["head"], "head", _HEAD_KEYS)) is not None:
        found = Dense.read(r, raw_head, "head", limits, {})
        head = found if isinstance(found, Dense) else None

    if r.problems:
        raise SpecError(r.problems)
    assert input_spec is not None
    return Architecture(input_spec, tuple(layers), head)


def _read_input(r: Reader, raw: Any, limits: Limits) -> InputSpec | None:
    before = len(r.problems)
    raw_in = r.obj(raw, "input", _INPUT_KEYS)
    if raw_in is None:
        return None
    tokens = r.boolean(raw_in.get("tokens", False), "input.tokens")
    features = None
    if tokens:
        if raw_in.get("features") is not None:
            r.problems.append(
                f"input.features must be null or left out with token input (the Embedding's dim sets the "
                f"features), received {describe(raw_in['features'])}"
            )
    elif "features" not in raw_in:
        r.problems.append("input.features is missing (or set input.tokens to true for token ids)")
    else:
        features = r.integer(raw_in["features"], "input.features", 1, limits.max_features)
    seq_len = r.integer(raw_in.get("seq_len"), "input.seq_len", 1, limits.max_seq_len, optional=True)
    batch = r.integer(raw_in.get("batch"), "input.batch", 1, limits.max_batch, optional=True)
    if len(r.problems) > before:
        return None
    return InputSpec(features, seq_len, batch, bool(tokens))


_KNOWN_TYPES = ", ".join(CANONICAL)


def _read_layer(r: Reader, raw: Any, path: str, limits: Limits) -> Layer | None:
    if not isinstance(raw, dict):
        r.fail(path, "an object", raw)
        return None
    if "type" not in raw:
        r.problems.append(f"{path}.type is missing")
        return None
    found = r.choice(raw["type"], f"{path}.type", BY_NAME, _KNOWN_TYPES)
    if found is None:
        return None
    kind, fixed = found
    allowed = ("type", *(name for name, _ in kind.rules()))
    if r.obj(raw, path, allowed) is None:
        return None
    before = len(r.problems)
    layer = kind.read(r, raw, path, limits, fixed)
    return layer if len(r.problems) == before else None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = {}
    for key, value in pairs:
        if key in result:
            raise SpecError([f"the key {describe(key)} appears twice in one object"])
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise SpecError([f"{name} is not a number JSON allows (use a finite value)"])


def read_capped(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, or standard input's for `-`, read one byte past the cap: enough for the size check
    to say "too big" without loading a huge file. A file that cannot be read raises ValueError naming it."""
    try:
        if str(path) == "-":
            return sys.stdin.buffer.read(max_bytes + 1)
        with path.open("rb") as handle:
            return handle.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


MAX_NESTING = 32  # an architecture nests 4 deep; this guard does not depend on how deep the caller's stack is
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def _nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped), without parsing it."""
    depth = deepest = 0
    for bracket in _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_architecture(raw: bytes | str, limits: Limits = DEFAULT_LIMITS, what: str = "the file") -> Architecture:
    """Parse the JSON text of an architecture file, whatever arrives: size, encoding and nesting checked. `what`
    names it in the messages ("the link's architecture" for a shared link)."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > limits.max_file_bytes:
        raise SpecError([f"{what} is {size:,} bytes, more than the limit of {limits.max_file_bytes:,}"])
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError([f"{what} is not UTF-8 text (byte {exc.start} cannot be decoded)"]) from None
    depth = _nesting_depth(raw)
    if depth > MAX_NESTING:
        raise SpecError([f"{what} is nested {depth} levels deep; an architecture needs at most 4"])
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except SpecError:
        raise
    except json.JSONDecodeError as exc:
        raise SpecError([f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise SpecError([f"{what} is not valid JSON: {exc}"]) from None
    return architecture_from_dict(data, limits)


def architecture_to_dict(arch: Architecture) -> dict[str, Any]:
    """The canonical JSON form: every key written, so a file says exactly what was analysed."""
    spec = arch.input
    head = None
    if arch.head is not None:
        head = arch.head.to_dict()
        del head["type"]
    return {
        "input": {"features": spec.features, "seq_len": spec.seq_len, "batch": spec.batch, "tokens": spec.tokens},
        "layers": [layer.to_dict() for layer in arch.layers],
        "head": head,
    }


def architecture_to_json(arch: Architecture) -> str:
    return json.dumps(architecture_to_dict(arch), indent=2) + "\n"

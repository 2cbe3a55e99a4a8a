"""The architecture: frozen dataclasses, limits, and the one parser every input goes through.

Widgets, URL parameters, uploaded files and the CLI all reach `architecture_from_dict` (or
`parse_architecture` for raw bytes), so no path can get past the checks or the limits.
Parsing only reads JSON: nothing is evaluated or unpickled.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any


class CellType(str, Enum):
    LSTM = "LSTM"
    GRU = "GRU"
    RNN = "RNN"  # Elman, tanh (Keras' SimpleRNN)

    @property
    def gates(self) -> int:
        """Weight blocks per cell: LSTM has input/forget/cell/output, GRU reset/update/new."""
        return {"LSTM": 4, "GRU": 3, "RNN": 1}[self.value]


class Activation(str, Enum):
    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"
    RELU = "relu"
    TANH = "tanh"


# Keras users write SimpleRNN; accept it, and any letter case, for the same cell.
_CELL_ALIASES = {"LSTM": CellType.LSTM, "GRU": CellType.GRU, "RNN": CellType.RNN, "SIMPLERNN": CellType.RNN}


@dataclass(frozen=True)
class Limits:
    """Upper bounds for everything a user can set. One place, read from the environment."""

    max_layers: int = 16
    max_units: int = 1024
    max_features: int = 1024
    max_seq_len: int = 2000
    max_batch: int = 1024
    max_num_layers: int = 8
    max_file_bytes: int = 256 * 1024  # architecture files and links
    max_csv_bytes: int = 2 * 1024 * 1024  # your own data
    max_steps: int = 5000  # per training run
    max_batch_size: int = 512  # training batch
    max_train_seconds: int = 300  # a run stops itself after this long
    # One training's memory, estimated before it starts (refused above it) and capped inside its worker.
    # Four trainings at the default fit a 24 GB classroom server with room for the page and its sessions.
    max_train_memory_mb: int = 2048
    max_concurrent_trainings: int = 4  # on the whole server; one more is refused with a message
    max_runs_kept: int = 10  # per session: the oldest finished run is dropped, with a note, to make room
    # A run no page has looked at for this long is stopped (its tab was closed). Browsers slow the
    # timers of background tabs to about once a minute, so this stays well above a minute.
    max_unwatched_seconds: int = 90

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """`EXPLORER_MAX_UNITS=256` and so on: the field name, upper-cased, after `EXPLORER_`."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = "EXPLORER_" + f.name.upper()
            raw = environ.get(name)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, received {raw!r}") from None
            if value < 1:
                raise ValueError(f"{name} must be >= 1, received {value}")
            values[f.name] = value
        return cls(**values)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class InputSpec:
    features: int
    seq_len: int | None = None  # None: variable length, an axis called "time"
    batch: int | None = None  # None: unspecified, an axis called "batch"


@dataclass(frozen=True)
class RecurrentLayer:
    type: CellType
    units: int
    return_sequences: bool = False  # Keras' default
    bidirectional: bool = False
    dropout: float = 0.0  # between the layers inside one module, as torch's `dropout`
    num_layers: int = 1  # torch-style stacking inside one module

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_features(self) -> int:
        return self.units * self.directions

    @property
    def effective_dropout(self) -> float:
        """torch ignores dropout when there is no second internal layer to apply it before."""
        return self.dropout if self.num_layers > 1 else 0.0


@dataclass(frozen=True)
class DenseHead:
    units: int
    activation: Activation | None = None


@dataclass(frozen=True)
class Architecture:
    input: InputSpec
    layers: tuple[RecurrentLayer, ...] = field(default_factory=tuple)
    head: DenseHead | None = None

    def with_layer(self, index: int, **changes: Any) -> Architecture:
        layers = list(self.layers)
        layers[index] = replace(layers[index], **changes)
        return replace(self, layers=tuple(layers))


class SpecError(ValueError):
    """An architecture that cannot be read. `problems` lists every one found, each naming its field."""

    def __init__(self, problems: list[str] | tuple[str, ...]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# --- parsing -------------------------------------------------------------------------------

_TOP_KEYS = ("input", "layers", "head")
_INPUT_KEYS = ("features", "seq_len", "batch")
_LAYER_KEYS = ("type", "units", "return_sequences", "bidirectional", "dropout", "num_layers")
_HEAD_KEYS = ("units", "activation")


MAX_SHOWN_CHARS = 40  # of a value or key from the user, quoted in a message
MAX_PROBLEMS_SHOWN = 10


def _describe(value: Any) -> str:
    """A value from the user as a message shows it: JSON-quoted (control characters, lone surrogates and other
    non-ASCII letters escaped), cut short, and never walked into (a value nested 1,000 deep is "a list")."""
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    if any(isinstance(item, (dict, list)) for item in items):  # a nested one is named, not walked
        if isinstance(value, dict):
            return f"an object with {len(value)} key{'s' if len(value) != 1 else ''}"
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_SHOWN_CHARS:
        return f"a number of {len(str(abs(value)))} digits"
    text = json.dumps(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


def _key(key: str) -> str:
    """A key as a path shows it: `colour` as it is, anything else quoted like a value."""
    return key if _PLAIN_KEY.fullmatch(key) else _describe(key)


def problems_text(problems: tuple[str, ...] | list[str], separator: str = "; ") -> str:
    """The problems of one input joined, the first MAX_PROBLEMS_SHOWN of them and a count of the rest."""
    shown = separator.join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    return shown + (f"{separator}… and {hidden:,} more" if hidden > 0 else "")


class _Reader:
    """Collects problems instead of stopping at the first, so a user fixes a file in one pass."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, requirement: str, value: Any) -> None:
        self.problems.append(f"{path} must be {requirement}, received {_describe(value)}")

    def obj(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "an object", value)
            return None
        unknown = [k for k in value if k not in allowed]
        for key in unknown:
            self.problems.append(f"{path}.{_key(key)} is not a known key (known: {', '.join(allowed)})")
        return value

    def integer(self, value: Any, path: str, low: int, high: int, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        # bool is an int subclass in Python: true must not become 1 unit.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            requirement = f"an integer from {low} to {high}"
            self.fail(path, requirement + (" or null" if optional else ""), value)
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, "true or false", value)
            return None
        return value

    def choice(self, value: Any, path: str, options: Mapping[str, Any], shown: str) -> Any:
        # ASCII only: upper() maps lookalikes onto the real letters ("ſimpleRNN", "lſtm", "sıgmoıd").
        found = options.get(value.upper()) if isinstance(value, str) and value.isascii() else None
        if found is None:
            self.fail(path, f"one of {shown}", value)
        return found


def architecture_from_dict(data: Any, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    """Validate a decoded JSON value and build the Architecture, or raise SpecError."""
    r = _Reader()
    top = r.obj(data, "architecture", _TOP_KEYS)
    if top is None:
        raise SpecError(r.problems)
    for key in ("input", "layers"):
        if key not in top:
            r.problems.append(f"{key} is missing")

    input_spec = None
    if "input" in top and (raw_in := r.obj(top["input"], "input", _INPUT_KEYS)) is not None:
        if "features" not in raw_in:
            r.problems.append("input.features is missing")
        features = r.integer(raw_in.get("features"), "input.features", 1, limits.max_features)
        seq_len = r.integer(raw_in.get("seq_len"), "input.seq_len", 1, limits.max_seq_len, optional=True)
        batch = r.integer(raw_in.get("batch"), "input.batch", 1, limits.max_batch, optional=True)
        if features is not None:
            input_spec = InputSpec(features, seq_len, batch)

    layers: list[RecurrentLayer] = []
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
        if "units" not in raw_head:
            r.problems.append("head.units is missing")
        units = r.integer(raw_head.get("units"), "head.units", 1, limits.max_units)
        activation = None
        if raw_head.get("activation") is not None:
            shown = ", ".join(a.value for a in Activation) + " or null"
            activation = r.choice(raw_head["activation"], "head.activation", _ACTIVATIONS, shown)
        if units is not None:
            head = DenseHead(units, activation)

    if r.problems:
        raise SpecError(r.problems)
    assert input_spec is not None
    return Architecture(input_spec, tuple(layers), head)


_ACTIVATIONS = {a.value.upper(): a for a in Activation}


def _read_layer(r: _Reader, raw: Any, path: str, limits: Limits) -> RecurrentLayer | None:
    n_before = len(r.problems)
    layer = r.obj(raw, path, _LAYER_KEYS)
    if layer is None:
        return None
    for key in ("type", "units"):
        if key not in layer:
            r.problems.append(f"{path}.{key} is missing")
    cell = r.choice(layer.get("type"), f"{path}.type", _CELL_ALIASES, "LSTM, GRU, RNN") if "type" in layer else None
    units = r.integer(layer.get("units"), f"{path}.units", 1, limits.max_units)
    return_sequences = r.boolean(layer.get("return_sequences", False), f"{path}.return_sequences")
    bidirectional = r.boolean(layer.get("bidirectional", False), f"{path}.bidirectional")
    num_layers = r.integer(layer.get("num_layers", 1), f"{path}.num_layers", 1, limits.max_num_layers)
    dropout = layer.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        r.fail(f"{path}.dropout", "a number from 0 up to (not including) 1", dropout)
    if len(r.problems) > n_before:
        return None
    # Each reader returned a value, or added a problem: none is None here.
    assert cell is not None and units is not None and num_layers is not None
    assert return_sequences is not None and bidirectional is not None
    return RecurrentLayer(cell, units, return_sequences, bidirectional, float(dropout), num_layers)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = {}
    for key, value in pairs:
        if key in result:
            raise SpecError([f"the key {_describe(key)} appears twice in one object"])
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


def parse_architecture(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    """Parse the JSON text of an architecture file, whatever arrives: size, encoding and nesting checked."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > limits.max_file_bytes:
        raise SpecError([f"the file is {size:,} bytes, more than the limit of {limits.max_file_bytes:,}"])
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError([f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)"]) from None
    depth = _nesting_depth(raw)
    if depth > MAX_NESTING:
        raise SpecError([f"the file is nested {depth} levels deep; an architecture needs at most 4"])
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except SpecError:
        raise
    except json.JSONDecodeError as exc:
        raise SpecError([f"the file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise SpecError([f"the file is not valid JSON: {exc}"]) from None
    return architecture_from_dict(data, limits)


def architecture_to_dict(arch: Architecture) -> dict[str, Any]:
    """The canonical JSON form: every key written, so a file says exactly what was analysed."""
    return {
        "input": {"features": arch.input.features, "seq_len": arch.input.seq_len, "batch": arch.input.batch},
        "layers": [
            {
                "type": layer.type.value,
                "units": layer.units,
                "return_sequences": layer.return_sequences,
                "bidirectional": layer.bidirectional,
                "dropout": layer.dropout,
                "num_layers": layer.num_layers,
            }
            for layer in arch.layers
        ],
        "head": None
        if arch.head is None
        else {
            "units": arch.head.units,
            "activation": None if arch.head.activation is None else arch.head.activation.value,
        },
    }


def architecture_to_json(arch: Architecture) -> str:
    return json.dumps(architecture_to_dict(arch), indent=2) + "\n"

"""Your own model in: Keras source read with `ast`, never executed, into an architecture.

`import_source` parses the text, finds the models it defines, picks one (by name, or the last defined), and
returns the architecture, what it could not import (by line, with the reason) and the names whose values the
source leaves open. Nothing in the text runs: only literals and names the source binds to literals are read.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from explorer.analysis import analyze
from explorer.importer.common import Skipped, SourceError
from explorer.importer.keras import keras_models
from explorer.importer.pytorch import pytorch_models
from explorer.importer.values import Scope, Unknown, parse_setting
from explorer.limits import DEFAULT_LIMITS, Limits
from explorer.spec import Architecture, SpecError, architecture_from_dict, architecture_to_dict, problems_text


@dataclass(frozen=True)
class ImportResult:
    model: str
    framework: str
    architecture: Architecture | None  # None while names are unresolved
    unresolved: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    models: tuple[str, ...] = ()  # every model the source defines, in order (the page offers them)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "framework": self.framework,
            "architecture": None if self.architecture is None else architecture_to_dict(self.architecture),
            "unresolved": list(self.unresolved),
            "skipped": [s.to_json() for s in self.skipped],
        }


@dataclass(frozen=True)
class InputOverrides:
    """`--features`, `--seq-len`, `--batch`: what the code does not say about its input."""

    features: int | None = None
    seq_len: int | None = None
    batch: int | None = None


def setting_name(name: str) -> str:
    """A `--set` name as the importer spells expressions: `config["units"]` is `config['units']`."""
    try:
        return ast.unparse(ast.parse(name.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return name.strip()


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs (the value after the last `=`), or ValueError naming the one that is not."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.rpartition("=")
        if not equals or not name.strip():
            raise ValueError(f"--set needs NAME=VALUE, received {pair!r}")
        settings[setting_name(name)] = parse_setting(value)
    return settings


def _decode(raw: bytes | str, limits: Limits) -> str:
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > limits.max_source_bytes:
        raise SourceError(f"the source is {size:,} bytes, more than the limit of {limits.max_source_bytes:,}")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"the source is not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def _parse(text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        if exc.lineno is None:  # a null byte, for one
            raise SourceError(f"the source cannot be read: {exc.msg}") from None
        raise SourceError(f"the source is not valid Python: line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:  # ValueError: a null byte in the text
        reason = "it nests too deeply" if not isinstance(exc, ValueError) else str(exc)
        raise SourceError(f"the source cannot be read: {reason}") from None


def import_source(
    raw: bytes | str,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    inputs: InputOverrides | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportResult:
    """The architecture of one model in `raw` (Python source), or SourceError saying why there is none."""
    tree = _parse(_decode(raw, limits))
    settings, inputs = settings or {}, inputs or InputOverrides()
    try:
        torch_models = pytorch_models(tree, Scope({}, settings))
        drafts = sorted(keras_models(tree, Scope({}, settings)) + [d for d, _ in torch_models], key=lambda d: d.line)
    except RecursionError:
        raise SourceError("the source cannot be read: it nests too deeply") from None
    declared = {id(d): sizes for d, sizes in torch_models}
    if not drafts:
        raise SourceError(
            "no model found: a Keras Sequential([...]), model.add(...) calls or Input(...) → Model(...) chain, "
            "or a PyTorch nn.Module subclass with __init__ and forward"
        )
    names = [draft.name for draft in drafts]
    if model is not None and model not in names:
        raise SourceError(f"no model named {model!r}; the source defines {', '.join(names)}")
    draft = drafts[names.index(model)] if model is not None else drafts[-1]
    spec = dict(draft.inputs)
    tokens = bool(spec.get("tokens", False))
    for key, value in (("features", inputs.features), ("seq_len", inputs.seq_len), ("batch", inputs.batch)):
        if value is not None:
            spec[key] = value
    if tokens:
        spec.pop("features", None)
    elif "features" not in spec:
        spec["features"] = Unknown(("features",))  # the code does not say: --features
    draft.inputs = spec
    unresolved = tuple(draft.needs())
    skipped = tuple(draft.skipped)
    if unresolved:
        return ImportResult(draft.name, draft.framework, None, unresolved, skipped, tuple(names))
    data = {
        "input": {"features": spec.get("features"), "seq_len": spec.get("seq_len"), "batch": spec.get("batch"),
                  "tokens": tokens},
        "layers": draft.layers,
        "head": None,
    }  # fmt: skip
    try:
        architecture = architecture_from_dict(data, limits)
    except SpecError as exc:
        raise SourceError(
            f"model {draft.name!r} does not make an architecture: {problems_text(exc.problems)}"
        ) from None
    mismatches = _declared_sizes(architecture, declared.get(id(draft), []))
    return ImportResult(draft.name, draft.framework, architecture, (), skipped + mismatches, tuple(names))


def _declared_sizes(architecture: Architecture, declared: list[tuple[int, int, Any, str]]) -> tuple[Skipped, ...]:
    """A PyTorch layer whose declared input size (nn.Linear's in_features, nn.LSTM's input_size, ...) is not what
    reaches it: the mistake torch reports at run time, found by reading."""
    layers = analyze(architecture).layers
    found = []
    for index, line, size, constructor in declared:
        if index >= len(layers) or not isinstance(size, int) or len(layers[index].input_shape) < 2:
            continue
        received = layers[index].input_shape[-1].size
        if received is not None and received != size:
            found.append(
                Skipped(
                    line,
                    "declared-size",
                    f"{constructor} is declared for {size} input features but receives {received} here "
                    f"(torch would fail when it runs); the import uses {received}",
                )
            )
    return tuple(found)

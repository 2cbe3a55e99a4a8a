"""A PyTorch or Keras shape error, explained against the current architecture: which layer, what it expected and
what arrived (in the explorer's named axes), and the fix, or an honest "not recognised".

Each pattern is matched against the libraries' own wording; the tests produce every message by really running
the broken model in torch 2.x and Keras 3, so a change of wording fails a test instead of going unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from explorer.analysis import Analysis, LayerAnalysis, analyze
from explorer.layers.recurrent import RecurrentLayer
from explorer.shapes import Form, form
from explorer.spec import Architecture

MAX_ERROR_CHARS = 4000  # of a pasted message: tracebacks beyond this add nothing the patterns read


@dataclass(frozen=True)
class Explanation:
    recognised: bool
    layer: int | None  # 1-based, as in `summary`
    expected: str | None
    received: str | None
    message: str
    fix: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "recognised": self.recognised,
            "layer": self.layer,
            "expected": self.expected,
            "received": self.received,
            "message": self.message,
            "fix": self.fix,
        }


NOT_RECOGNISED = Explanation(
    False,
    None,
    None,
    None,
    "This message is not one the explorer recognises. It knows PyTorch's and Keras' shape errors of recurrent "
    "stacks: input_size, mat1 and mat2, hidden size, ndim, channels, indices, running_mean, normalized_shape, "
    "negative output size and undefined dimensions.",
    None,
)


def _first(analysis: Analysis, test: Callable[[LayerAnalysis], bool]) -> LayerAnalysis | None:
    return next((info for info in analysis.layers if test(info)), None)


def _features(info: LayerAnalysis) -> int | None:
    shape = info.input_shape
    return shape[-1].size if form(shape) is not Form.TOKENS else None


def _kind(info: LayerAnalysis, *kinds: str) -> bool:
    return info.kind in kinds


_RECURRENT_KINDS = ("LSTM", "GRU", "RNN")
# Keras' automatic layer names (`gru`, `gru_1`, `simple_rnn`, `max_pooling1d`) and the kinds they are.
_KERAS_NAMES = {
    "lstm": ("LSTM",),
    "gru": ("GRU",),
    "simple_rnn": ("RNN",),
    "bidirectional": _RECURRENT_KINDS,
    "dense": ("Dense",),
    "time_distributed": ("Dense",),
    "conv1d": ("Conv1D",),
    "max_pooling1d": ("MaxPool1D",),
    "average_pooling1d": ("AvgPool1D",),
    "global_max_pooling1d": ("GlobalMaxPool1D",),
    "global_average_pooling1d": ("GlobalAvgPool1D",),
    "repeat_vector": ("RepeatVector",),
    "flatten": ("Flatten",),
    "embedding": ("Embedding",),
    "batch_normalization": ("BatchNorm",),
    "layer_normalization": ("LayerNorm",),
}


def _keras_layer(analysis: Analysis, name: str) -> LayerAnalysis | None:
    """`gru_1` is the second GRU Keras made in that session: here, the second GRU of the stack (or the last)."""
    found = re.fullmatch(r"([a-z0-9_]+?)(?:_(\d+))?", name)
    if found is None or found[1] not in _KERAS_NAMES:
        return None
    matching = [info for info in analysis.layers if info.kind in _KERAS_NAMES[found[1]]]
    if found[1] == "bidirectional":
        stack = analysis.architecture.stack
        matching = [i for i in matching if _bidirectional(stack[i.index - 1])]
    ordinal = int(found[2] or 0)
    return matching[min(ordinal, len(matching) - 1)] if matching else None


def _bidirectional(layer: object) -> bool:
    return isinstance(layer, RecurrentLayer) and layer.bidirectional


def _name(info: LayerAnalysis | None) -> str:
    return f"layer {info.index} ({info.kind})" if info is not None else "a layer"


def _diagnostic_fix(analysis: Analysis, info: LayerAnalysis | None, code: str) -> str | None:
    """The architecture's own diagnostic for that layer, where it has one: its fix is the one to give."""
    for d in analysis.diagnostics:
        if d.code == code and (info is None or d.layer == info.index):
            return d.fix
    return None


def _rnn_input_size(analysis: Analysis, m: re.Match[str]) -> Explanation:
    expected, got = int(m[1]), int(m[2])
    info = _first(analysis, lambda i: _kind(i, *_RECURRENT_KINDS) and _features(i) == got) or _first(
        analysis, lambda i: _kind(i, *_RECURRENT_KINDS) and _features(i) == expected
    )
    return Explanation(
        True,
        info.index if info else None,
        f"(batch, time, features={expected})",
        f"(batch, time, features={got})",
        f"A recurrent layer was built for {expected} input features (its input_size) but is handed {got}: in this "
        f"architecture that is {_name(info)}, which receives {got} features from the layer before it.",
        f"Build it with input_size={got}, or make the layer before it hand on {expected} features "
        "(a bidirectional layer hands on 2 × units).",
    )


def _matmul(analysis: Analysis, m: re.Match[str]) -> Explanation:
    rows, got, expected, units = (int(m[k]) for k in (1, 2, 3, 4))
    info = _first(analysis, lambda i: _kind(i, "Dense") and _features(i) == got) or _first(
        analysis, lambda i: _kind(i, "Dense") and i.output_shape[-1].size == units
    )
    flattened = ""
    for candidate in analysis.layers:
        time = candidate.output_shape[1].size if len(candidate.output_shape) == 3 else None
        if time and time * (candidate.output_shape[-1].size or 0) == got:
            flattened = (
                f" {got} = {time} steps × {candidate.output_shape[-1].size} features: the whole sequence of "
                f"{_name(candidate)} was flattened into it."
            )
            break
    return Explanation(
        True,
        info.index if info else None,
        f"(batch, features={expected})",
        f"({rows}, features={got})",
        f"A Linear (Dense) layer with in_features={expected} and {units} outputs was handed {got} features per "
        f"example: {_name(info)} here.{flattened}",
        f"Set in_features={got}, or hand it {expected} features: take the last step (out[:, -1, :] or h_n[-1]) "
        "instead of the whole sequence.",
    )


def _hidden(analysis: Analysis, m: re.Match[str]) -> Explanation:
    expected = tuple(int(v) for v in re.findall(r"\d+", m[1]))
    got = tuple(int(v) for v in re.findall(r"\d+", m[2]))
    info = _first(analysis, lambda i: i.h_n is not None and tuple(d.size for d in i.h_n)[0::2] == expected[0::2])
    return Explanation(
        True,
        info.index if info else None,
        f"(layers*directions={expected[0]}, batch={expected[1]}, units={expected[2]})",
        f"(layers*directions={got[0]}, batch={got[1]}, units={got[2]})",
        f"The initial state handed to a recurrent layer has the wrong shape: torch wants "
        f"(num_layers × directions, batch, units) = {expected}, and got {got} ({_name(info)} here).",
        f"Create it as torch.zeros({expected[0]}, batch, {expected[2]}): num_layers × directions first; "
        "or pass no state at all (zeros are the default).",
    )


def _rnn_dims(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _first(analysis, lambda i: _kind(i, *_RECURRENT_KINDS))
    return Explanation(
        True,
        info.index if info else None,
        "(batch, time, features)",
        f"a {m[2]}-D tensor",
        f"A recurrent layer takes (batch, time, features) (or one sequence, (time, features)), and got a "
        f"{m[2]}-D tensor ({_name(info)} here): a reshape or an extra axis upstream.",
        "Reshape the input to (batch, time, features) before the recurrent layer.",
    )


def _keras_ndim(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _keras_layer(analysis, m["name"])
    wanted, found, shape = int(m["expected"]), int(m["found"]), m["shape"]
    if wanted == 3 and found == 2:
        fix = _diagnostic_fix(analysis, info, "needs-sequence") or (
            "Set return_sequences=True on the recurrent layer before it (or put a RepeatVector before a decoder)."
        )
        message = (
            f"{_name(info)} needs a sequence (batch, time, features) but receives one vector per example "
            f"({shape}): the layer before it hands on only its last state (return_sequences=False), or a pooling "
            "or Flatten ended the time axis."
        )
    elif wanted == 2 and found == 3:
        fix = _diagnostic_fix(analysis, info, "needs-vector") or (
            "Set return_sequences=False on the recurrent layer before it, or pool the sequence first."
        )
        message = f"{_name(info)} takes one vector per example (batch, features) but receives a sequence ({shape})."
    else:
        fix = f"Give {_name(info)} a {wanted}-D input: reshape (or remove the extra axis) before it."
        message = f"{_name(info)} takes {wanted}-D input and receives {found}-D ({shape})."
    expected = "(batch, time, features)" if wanted == 3 else "(batch, features)" if wanted == 2 else f"{wanted}-D"
    return Explanation(True, info.index if info else None, expected, f"({shape})", message, fix)


def _keras_axis(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _keras_layer(analysis, m["name"])
    value, shape = int(m["value"]), m["shape"]
    return Explanation(
        True,
        info.index if info else None,
        f"(..., features={value})",
        f"({shape})",
        f"{_name(info)} was built for {value} input features and is now called on ({shape}): its weights do not "
        "fit the new input. A layer object reused on a different input, or a model changed after it was built.",
        "Build the layer again for the new input (a new layer object), or give it the input it was built for.",
    )


def _conv_channels(analysis: Analysis, m: re.Match[str]) -> Explanation:
    batch, second, third, wanted = (int(m[k]) for k in (1, 2, 3, 4))
    info = _first(analysis, lambda i: _kind(i, "Conv1D"))
    return Explanation(
        True,
        info.index if info else None,
        f"(batch, features={wanted}, time): channels first",
        f"({batch}, {second}, {third}): read as (batch, channels={second}, time={third})",
        f"torch's Conv1d reads (batch, features, time), channels first, and was handed a channels-last tensor "
        f"(batch, time={second}, features={third}): it took the {second} time steps for channels ({_name(info)} "
        "here; Keras' Conv1D is channels last, so code moved from Keras meets this).",
        "Transpose before and after: x = conv(x.transpose(1, 2)).transpose(1, 2), as the exported PyTorch does.",
    )


def _indices_dtype(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _first(analysis, lambda i: _kind(i, "Embedding"))
    return Explanation(
        True,
        info.index if info else None,
        "(batch, time) integer token ids",
        "floating-point values",
        f"An Embedding looks up integer token ids and was handed floating-point numbers ({_name(info)} here).",
        _diagnostic_fix(analysis, info, "embedding-needs-tokens")
        or "Feed token ids as integers (x.long()), or remove the Embedding for real-valued features.",
    )


def _index_range(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _first(analysis, lambda i: _kind(i, "Embedding"))
    stack = analysis.architecture.stack
    vocab = getattr(stack[info.index - 1], "vocab", None) if info else None
    return Explanation(
        True,
        info.index if info else None,
        f"token ids from 0 to {vocab - 1}" if vocab else "token ids below the vocabulary size",
        "a larger token id",
        f"An Embedding was handed a token id it has no vector for ({_name(info)} here"
        + (f", vocabulary {vocab}" if vocab else "")
        + "): the vocabulary must be larger than the largest id (the padding id included).",
        "Set the Embedding's vocab to the largest token id + 1.",
    )


def _running_mean(analysis: Analysis, m: re.Match[str]) -> Explanation:
    got, wanted = int(m[1]), int(m[2])
    info = _first(analysis, lambda i: _kind(i, "BatchNorm"))
    return Explanation(
        True,
        info.index if info else None,
        f"(batch, features={wanted}, time): channels first",
        f"(batch, {got}, ...): {got} read as the features",
        f"torch's BatchNorm1d normalises axis 1, and on a sequence that must be the features: it was built for "
        f"{wanted} and found {got} there, the time axis of a channels-last (batch, time, features) tensor "
        f"({_name(info)} here).",
        "Transpose before and after: bn(x.transpose(1, 2)).transpose(1, 2), as the exported PyTorch does.",
    )


def _normalized_shape(analysis: Analysis, m: re.Match[str]) -> Explanation:
    wanted, got = m[1], m[2]
    info = _first(analysis, lambda i: _kind(i, "LayerNorm"))
    return Explanation(
        True,
        info.index if info else None,
        f"(..., features={wanted})",
        f"({got})",
        f"A LayerNorm built for {wanted} features was handed ({got}) ({_name(info)} here).",
        "Build it for the features that reach it (nn.LayerNorm(features)).",
    )


def _negative_output(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _first(analysis, lambda i: _kind(i, "Conv1D", "MaxPool1D", "AvgPool1D") and not analysis.valid)
    info = info or _first(analysis, lambda i: _kind(i, "Conv1D", "MaxPool1D", "AvgPool1D"))
    return Explanation(
        True,
        info.index if info else None,
        "a window no longer than the time axis",
        m[1].strip(),
        f"A convolution or pooling window is longer than the time axis it slides over, so no position fits "
        f"('valid' padding): {_name(info)} here.",
        _diagnostic_fix(analysis, info, "window-too-long")
        or "Use padding='same', a smaller window, or a longer input.",
    )


def _undefined(analysis: Analysis, m: re.Match[str]) -> Explanation:
    info = _first(analysis, lambda i: _kind(i, "Flatten"))
    return Explanation(
        True,
        info.index if info else None,
        "a fixed number of features",
        m[1],
        "A weight matrix needs a fixed number of input features, and the one reaching it is None: a Flatten over a "
        f"time axis of variable length ({_name(info)} here) makes the features change from batch to batch.",
        _diagnostic_fix(analysis, info, "flatten-variable-length")
        or "Give the input a fixed length, or pool over time (GlobalAveragePooling1D) instead of Flatten.",
    )


_KERAS_INPUT = r"Input 0(?: with name '[^']*')? of layer ['\"](?P<name>\w+)['\"] is incompatible with the layer: "
PATTERNS: list[tuple[re.Pattern[str], Callable[[Analysis, re.Match[str]], Explanation]]] = [
    (re.compile(r"input\.size\(-1\) must be equal to input_size\. Expected (\d+), got (\d+)"), _rnn_input_size),
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"), _matmul),
    (re.compile(r"Expected hidden(?:\[0\])? size \(([\d, ]+)\), got \[([\d, ]+)\]"), _hidden),
    (re.compile(r"(LSTM|GRU|RNN): Expected input to be 2D or 3D, got (\d)D"), _rnn_dims),
    (
        re.compile(
            _KERAS_INPUT + r"expected ndim=(?P<expected>\d), found ndim=(?P<found>\d)\. "
            r"Full shape received: \((?P<shape>[^)]*)\)"
        ),
        _keras_ndim,
    ),
    (
        re.compile(
            _KERAS_INPUT + r"expected axis -1 of input shape to have value (?P<value>\d+), "
            r"but received input with shape \((?P<shape>[^)]*)\)"
        ),
        _keras_axis,
    ),
    (
        re.compile(r"expected input\[(\d+), (\d+), (\d+)\] to have (\d+) channels, but got (\d+) channels"),
        _conv_channels,
    ),
    (
        re.compile(r"Expected tensor for argument #1 'indices' to have one of the following scalar types"),
        _indices_dtype,
    ),
    (re.compile(r"index out of range in self"), _index_range),
    (re.compile(r"running_mean should contain (\d+) elements not (\d+)"), _running_mean),
    (
        re.compile(
            r"Given normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], "
            r"but got input of size\s?\[([\d, ]+)\]"
        ),
        _normalized_shape,
    ),
    (
        re.compile(r"Computed output size would be (?:zero or )?negative\.?\s*Received:?\s*(.{0,120})"),
        _negative_output,
    ),
    (re.compile(r"(shape=\([^)]*None[^)]*\) for variable path='[^']*/(?:dense|kernel)[^']*')"), _undefined),
]


def explain(arch: Architecture, error: str) -> Explanation:
    """The first pattern the message matches, read against `arch`; NOT_RECOGNISED when none does."""
    text = " ".join(error[:MAX_ERROR_CHARS].split())  # one line: Keras wraps and colours its messages
    text = re.sub(r"\x1b\[[0-9;]*m|\[[0-9;]*m", "", text)
    analysis = analyze(arch)
    for pattern, reader in PATTERNS:
        found = pattern.search(text)
        if found is not None:
            return reader(analysis, found)
    return NOT_RECOGNISED

"""Lesson mode: short lessons built from the presets, each asking the student to predict a shape or a count.

Each lesson loads a stack, states one idea in two sentences and asks one question about it. The answer is
never written here: it is read from the analysis of the stack, like every number the page shows. A wrong
prediction gets the reason, worked out from how the guess differs from the truth (a time axis that should be
gone, features that are units × 2, PyTorch's two biases...); the graph hides the label asked about until the
answer is right or the student asks to see it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from explorer.analysis import Analysis, LayerAnalysis
from explorer.graph import Hidden
from explorer.layers.base import Layer
from explorer.layers.recurrent import CellType, RecurrentLayer
from explorer.presets import load_preset
from explorer.shapes import Shape, shape_label
from explorer.spec import Architecture, Dense

MAX_ANSWER_CHARS = 200


class Asked(str, Enum):
    """What a question hides in the graph until it is answered."""

    OUTPUT = "output shape"  # the label on the edge out of the layer
    PARAMS = "parameter count"  # the layer's PyTorch count, in its box
    H_N = "h_n shape"  # its final hidden state (drawn with "Show h_n / c_n")


@dataclass(frozen=True)
class Question:
    asked: Asked
    layer: int  # 1-based, as the graph numbers layers
    prompt: str
    why: str  # the idea behind the answer, said when a guess is wrong in a way the checks below do not name

    def hidden(self) -> Hidden:
        """What the graph keeps back until this question is answered."""
        field = {Asked.OUTPUT: "output", Asked.PARAMS: "params", Asked.H_N: "states"}[self.asked]
        return Hidden(**{field: self.layer})


@dataclass(frozen=True)
class Lesson:
    slug: str  # the link's lesson=<slug>
    title: str
    preset: str
    idea: str
    question: Question
    change: Callable[[Architecture], Architecture] | None = None  # the preset, adapted to the lesson

    def architecture(self) -> Architecture:
        arch = load_preset(self.preset)
        return self.change(arch) if self.change else arch


@dataclass(frozen=True)
class Verdict:
    right: bool
    text: str


def _answer_shape(info: LayerAnalysis, asked: Asked) -> Shape:
    shape = info.h_n if asked is Asked.H_N else info.output_shape
    assert shape is not None, "an h_n question is asked of a recurrent layer"
    return shape


def truth(lesson: Lesson, analysis: Analysis) -> str:
    """The answer, as the graph would show it."""
    question = lesson.question
    info = analysis.layers[question.layer - 1]
    if question.asked is Asked.PARAMS:
        return f"{info.params_torch:,}"
    return shape_label(_answer_shape(info, question.asked))


def applies(lesson: Lesson, analysis: Analysis) -> bool:
    """The question still makes sense for the stack on the page (the student may have edited it)."""
    question = lesson.question
    if not 1 <= question.layer <= len(analysis.layers):
        return False
    layer = analysis.architecture.stack[question.layer - 1]
    return question.asked is not Asked.H_N or isinstance(layer, RecurrentLayer)


# Thousands written 9,408, 9_408, 9 408 (or with a narrow or no-break space): one number.
_GROUPING = re.compile(r"(?<=\d)[,_ \u00a0\u202f](?=\d{3}(?!\d))")


def _numbers(text: str, grouped: bool = False) -> list[int]:
    """The whole numbers in an answer; `grouped`: a count, whose digits may be grouped in thousands (a shape's
    sizes are separated by the same marks, so they are read one by one)."""
    text = text[:MAX_ANSWER_CHARS]
    return [int(n) for n in re.findall(r"\d+", _GROUPING.sub("", text) if grouped else text)]


def check(lesson: Lesson, analysis: Analysis, answer: str) -> Verdict:
    """Is `answer` right? If not, why not, in words, without giving the answer away."""
    question = lesson.question
    info = analysis.layers[question.layer - 1]
    layer = analysis.architecture.stack[question.layer - 1]
    guess = _numbers(answer, grouped=question.asked is Asked.PARAMS)
    if not guess:
        what = "a number" if question.asked is Asked.PARAMS else "the sizes, for example (4, 20, 64)"
        return Verdict(False, f"Type {what}.")
    if question.asked is Asked.PARAMS:
        return _check_count(question, info, guess)
    return _check_shape(question, layer, _answer_shape(info, question.asked), guess)


def _check_count(question: Question, info: LayerAnalysis, guess: list[int]) -> Verdict:
    if len(guess) != 1:
        return Verdict(False, "Give one number: the layer's parameters in PyTorch.")
    if guess[0] == info.params_torch:
        return Verdict(True, f"Right: {info.params_torch:,}. {info.params_formula}.")
    if guess[0] == info.params_keras:
        return Verdict(
            False, "That is Keras' count. PyTorch keeps two bias vectors per gate (bias_ih and bias_hh), Keras one."
        )
    direction = "high" if guess[0] > info.params_torch else "low"
    return Verdict(False, f"Too {direction}. {question.why}")


def _check_shape(question: Question, layer: Layer, shape: Shape, guess: list[int]) -> Verdict:
    sizes = [d.size for d in shape]
    if len(guess) == len(sizes) and all(size in (None, said) for size, said in zip(sizes, guess, strict=True)):
        return Verdict(True, f"Right: {shape_label(shape)}.")
    names = [d.name for d in shape]
    title = layer.title()
    if len(guess) != len(sizes):
        if question.asked is Asked.H_N:
            return Verdict(False, "h_n has three axes: (num_layers × directions, batch, units).")
        if "time" in names:
            return Verdict(
                False,
                f"{title} hands on its output at every step (return_sequences), so the time axis is still there: "
                "three sizes.",
            )
        return Verdict(
            False,
            f"{title} hands on only its last step, so the time axis is gone: (batch, features), two sizes.",
        )
    name, said = next((n, g) for n, size, g in zip(names, sizes, guess, strict=True) if size not in (None, g))
    return Verdict(False, f"The {name} axis is not {said}: {_axis_reason(name, layer)}")


def _axis_reason(axis: str, layer: Layer) -> str:
    recurrent = layer if isinstance(layer, RecurrentLayer) else None
    if axis == "batch":
        return "the batch never changes through a layer: as many examples come out as go in."
    if axis == "time":
        return "a recurrent layer keeps the number of steps: one output per input step."
    if axis == "layers*directions":
        return "h_n holds one row per inner layer (num_layers) and per direction (2 when bidirectional)."
    if recurrent is not None and recurrent.bidirectional and axis == "features":
        return "forward and backward outputs are joined: 2 × units."
    if recurrent is not None:
        return f"it is the layer's units, {recurrent.units}: its state's size, whatever it reads."
    return "look at the layer's own size in its box."


def _with_dropout(arch: Architecture) -> Architecture:
    return arch.with_layer(0, dropout=0.3)


def _adding_rnn(arch: Architecture) -> Architecture:
    """A simple RNN sized for the adding task: 2 features (value, marker) in, 1 number out."""
    simple = RecurrentLayer(CellType.RNN, 32)
    return replace(arch, input=replace(arch.input, features=2, seq_len=40), layers=(simple,), head=Dense(1))


TUTORIAL_KERAS = "Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5"
TUTORIAL_MANUAL = "Tutorial (PyTorch, stacked by hand): LSTM 64 → GRU 32 → Linear 5"
TUTORIAL_NUM_LAYERS = "Tutorial (PyTorch, num_layers=2): LSTM 64 → Linear 5"
BIDIRECTIONAL = "Bidirectional LSTM → bidirectional GRU"

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "return-sequences",
        "return_sequences on and off",
        TUTORIAL_KERAS,
        "A recurrent layer reads a sequence one step at a time. With return_sequences on it hands on its output "
        "at every step; off (Keras' default), only its output at the last step.",
        Question(
            Asked.OUTPUT,
            2,
            "What shape does layer 2, GRU(32) without return_sequences, hand to the Dense layer?",
            "Look at which axes survive a layer that hands on only its last step.",
        ),
    ),
    Lesson(
        "stacking",
        "Stacking an LSTM and a GRU",
        TUTORIAL_MANUAL,
        "To stack recurrent layers the lower one hands on its whole sequence and the upper one reads it step by "
        "step. The upper layer's input size is the lower layer's units: nn.GRU(64, 32) reads the LSTM's 64.",
        Question(
            Asked.PARAMS,
            2,
            "How many parameters does layer 2, the GRU(32) reading 64 features, have in PyTorch?",
            "A GRU has 3 gates. Each has input weights (units × inputs: 32 × 64), recurrent weights "
            "(units × units: 32 × 32) and, in PyTorch, two bias vectors of 32.",
        ),
    ),
    Lesson(
        "num-layers",
        "num_layers: two layers inside one module",
        TUTORIAL_NUM_LAYERS,
        "nn.LSTM(10, 64, num_layers=2) holds two LSTM layers: the second reads the first one's whole sequence. "
        "Its final states h_n and c_n keep one row per inner layer.",
        Question(
            Asked.H_N,
            1,
            "What shape is h_n, the final hidden state this module returns?",
            "h_n is (num_layers × directions, batch, units).",
        ),
    ),
    Lesson(
        "last-step",
        "Where the last step comes from",
        TUTORIAL_MANUAL,
        "PyTorch's nn.GRU always returns its output at every step; out[:, -1, :] keeps only the last one. That "
        "is what Keras hands on when return_sequences is off.",
        Question(
            Asked.OUTPUT,
            2,
            "After out[:, -1, :], what shape reaches nn.Linear(32, 5)?",
            "Indexing with -1 on the time axis removes that axis.",
        ),
    ),
    Lesson(
        "bidirectional",
        "Bidirectional layers and their final states",
        BIDIRECTIONAL,
        "A bidirectional layer runs a second copy from the end of the sequence back to the start and joins both "
        "outputs: 2 × units features. Its final states keep the two directions apart, one row each.",
        Question(
            Asked.H_N,
            2,
            "What shape is h_n of layer 2, the bidirectional GRU(16)?",
            "h_n is (num_layers × directions, batch, units): the directions are not joined there.",
        ),
    ),
    Lesson(
        "dropout",
        "Dropout between stacked layers",
        TUTORIAL_NUM_LAYERS,
        "dropout=0.3 in nn.LSTM sets 30 % of the values passed from one inner layer to the next to zero, "
        "during training only. It learns nothing itself: no weights, no change of shape.",
        Question(
            Asked.PARAMS,
            1,
            "With dropout=0.3, how many parameters does layer 1, LSTM(64, num_layers=2), have in PyTorch?",
            "Count the two inner LSTMs as without dropout: 4 gates each; the first reads 10 features, the second "
            "64; each gate has units × inputs + units × units weights and two bias vectors of 64.",
        ),
        _with_dropout,
    ),
    Lesson(
        "cells",
        "LSTM, GRU or a simple RNN: the adding task",
        TUTORIAL_NUM_LAYERS,
        "A simple RNN has one set of weights; a GRU has three and an LSTM four, and their gates let them keep a "
        "number for many steps. On the adding task only LSTM and GRU learn: try 'Compare cells' in the Train tab.",
        Question(
            Asked.PARAMS,
            1,
            "How many parameters does RNN(32) reading 2 features have in PyTorch?",
            "A simple RNN has one set: input weights (32 × 2), recurrent weights (32 × 32) and two bias vectors "
            "of 32 in PyTorch.",
        ),
        _adding_rnn,
    ),
)
BY_SLUG = {lesson.slug: lesson for lesson in LESSONS}

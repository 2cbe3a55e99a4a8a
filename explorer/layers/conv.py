"""Conv1D and pooling over time, channels last as in Keras; torch's channels-first modules get the transposes.

`"same"` padding follows Keras: the output has ceil(time / stride) steps, and the padding this needs is split
with any odd cell on the right. torch's Conv1d pads that way only with stride 1 (padding="same"), and its
pooling never does: there the builder and the exported code pad explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from explorer.findings import Diagnostic, FixAction, Severity
from explorer.layers.base import Activation, BoolField, ChoiceField, Group, Inferred, IntField, Layer, NodeStyle, rule
from explorer.layers.dense import keras_activation, softmax_over_one
from explorer.shapes import Dim, Form, Shape, shape_label

if TYPE_CHECKING:
    from torch import nn


class Padding(str, Enum):
    VALID = "valid"
    SAME = "same"


TRANSPOSE_NOTE = "torch's {module} reads (batch, features, time): transposed in and out"


@dataclass(frozen=True)
class Window:
    """A window sliding over time: its reach (dilated size), stride and padding."""

    reach: int
    stride: int
    padding: Padding

    def steps(self, time: int | None) -> int | None:
        if time is None:
            return None
        if self.padding is Padding.SAME:
            return math.ceil(time / self.stride)
        return (time - self.reach) // self.stride + 1

    def pads(self, time: int) -> tuple[int, int]:
        """Keras' "same" padding on (left, right)."""
        if self.padding is Padding.VALID:
            return 0, 0
        total = max((math.ceil(time / self.stride) - 1) * self.stride + self.reach - time, 0)
        return total // 2, total - total // 2


class TimeWindowLayer(Layer):
    """What Conv1D and the pools share: a window over time, and the diagnostics when it does not fit."""

    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.SEQUENCE})
    TORCH_MODULE: ClassVar[str]

    @property
    def window(self) -> Window:
        raise NotImplementedError

    def out_time(self, received: Shape) -> Dim:
        steps = self.window.steps(received[1].size)
        return Dim("time", steps if steps is None else max(steps, 0))

    def time_notes(self, received: Shape, lengths: bool) -> list[str]:
        notes = [TRANSPOSE_NOTE.format(module=self.TORCH_MODULE)]
        if received[1].size is None:
            notes.append(f"{self.window.padding.value}: the time axis shrinks with the input's length")
        if lengths:
            notes.append("the lengths stop here: later layers read every step, padding included (as in Keras)")
        return notes

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        time = received[1].size
        steps = self.window.steps(time)
        if time is None or steps is None or steps >= 1:
            return []
        return [
            Diagnostic(
                Severity.ERROR,
                index + 1,
                "window-too-long",
                f"layer {index + 1} ({self.kind}) slides a window of {self.window.reach} steps over only {time} "
                f"with 'valid' padding: no position fits, so the time axis would have {steps} steps.",
                f"Use padding 'same' on layer {index + 1} (or a smaller window, or a longer input).",
                FixAction(index, (("padding", Padding.SAME),)),
            )
        ]

    def _pad_lines(self, received: Shape) -> list[str]:
        """Lines that set `pad_lr`, the (left, right) padding Keras' "same" needs, where torch must pad itself."""
        window, time = self.window, received[1].size
        if window.padding is Padding.VALID:
            return []
        if time is None:  # the padding depends on each batch's length
            s, reach = window.stride, window.reach
            return [
                f"pad = max(-(-x.size(2) // {s}) * {s} - {s} + {reach} - x.size(2), 0)",
                "pad_lr = (pad // 2, pad - pad // 2)  # Keras' 'same': any odd step on the right",
            ]
        left, right = window.pads(time)
        if not left and not right:
            return []
        return [f"pad_lr = ({left}, {right})  # Keras' 'same': any odd step on the right"]


@dataclass(frozen=True)
class Conv1D(TimeWindowLayer):
    KIND: ClassVar[str] = "Conv1D"
    NODE: ClassVar[NodeStyle] = NodeStyle("box", "#e0f7fa", "⊛")
    ALIASES: ClassVar[tuple[str, ...]] = ("Conv1d", "Convolution1D")
    GROUP: ClassVar[Group] = Group.CONVOLUTION
    SUMMARY: ClassVar[str] = "slides filters over time: each output step sees kernel_size input steps"
    TORCH_MODULE: ClassVar[str] = "Conv1d"

    filters: int = rule(IntField(1, "max_units", help="output features: one per filter"))
    kernel_size: int = rule(IntField(1, "max_seq_len", help="how many time steps each filter sees"))
    stride: int = rule(IntField(1, "max_seq_len", help="steps between two windows"), 1)
    padding: Padding = rule(
        ChoiceField(Padding, help="valid: only whole windows; same: pad so that time / stride steps come out"),
        Padding.VALID,
    )
    dilation: int = rule(IntField(1, "max_seq_len", help="gaps inside the window (1: none)"), 1)
    activation: Activation | None = rule(ChoiceField(Activation, optional=True, help="applied to the outputs"), None)
    bias: bool = rule(BoolField(help="a bias per filter"), True)

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(32, 3, padding=Padding.SAME)

    def conflicts(self) -> list[str]:
        if self.dilation > 1 and self.stride > 1:
            return ["dilation above 1 together with a stride above 1 is refused by Keras; set one of them to 1"]
        return []

    @property
    def window(self) -> Window:
        return Window(self.dilation * (self.kernel_size - 1) + 1, self.stride, self.padding)

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        name = f"layer {index + 1} (Conv1D)"
        return super().warnings(index, received, lengths) + softmax_over_one(index, name, self.activation, self.filters)

    def title(self) -> str:
        options = [str(self.filters), f"kernel {self.kernel_size}"]
        options += [f"stride {self.stride}"] if self.stride > 1 else []
        options += [f"dilation {self.dilation}"] if self.dilation > 1 else []
        options += ["same"] if self.padding is Padding.SAME else []
        options += [self.activation.value] if self.activation else []
        options += [] if self.bias else ["no bias"]
        return f"Conv1D({', '.join(options)})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        width = received[-1].fixed
        count = (self.kernel_size * width + (1 if self.bias else 0)) * self.filters
        bias = f" + {self.filters} biases" if self.bias else ", no biases"
        return Inferred(
            output_shape=(received[0], self.out_time(received), Dim("features", self.filters)),
            params_torch=count,
            params_keras=count,
            params_formula=f"{self.kernel_size}×{width}×{self.filters} weights{bias}, in both: {count:,}",
            notes=tuple(self.time_notes(received, lengths)),
            keeps_lengths=False,
        )

    def _torch_padding(self) -> str:
        """torch's own padding="same" where it pads as Keras does without a copy: stride 1, an even total."""
        if self.padding is Padding.SAME and self.stride == 1 and (self.window.reach - 1) % 2 == 0:
            return ', padding="same"'
        return ""

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import ChannelsFirst

        conv = nn.Conv1d(
            received[-1].fixed,
            self.filters,
            self.kernel_size,
            stride=self.stride,
            dilation=self.dilation,
            bias=self.bias,
        )
        return ChannelsFirst(conv, self.window, activation=self.activation)

    def torch_init(self, received: Shape) -> str:
        args = [str(received[-1].fixed), str(self.filters), f"kernel_size={self.kernel_size}"]
        args += [f"stride={self.stride}"] if self.stride > 1 else []
        args += [f"dilation={self.dilation}"] if self.dilation > 1 else []
        args += [] if self.bias else ["bias=False"]
        return f"nn.Conv1d({', '.join(args)}{self._torch_padding()})"

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        channels_first = (received[0], received[2], received[1])
        lines = [f"x = x.transpose(1, 2)  # {shape_label(channels_first)}: Conv1d wants channels first"]
        if not self._torch_padding() and (pads := self._pad_lines(received)):
            lines += [*pads, "x = nn.functional.pad(x, pad_lr)"]
        flipped = (output[0], output[2], output[1])
        lines += [
            f"x = {module}(x)  # {shape_label(flipped)}",
            f"x = x.transpose(1, 2)  # {shape_label(output)}: back to channels last",
        ]
        if self.activation is not None:
            lines.append(f"x = {self.activation.torch_expr('x')}")
        return lines

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        argument, after = keras_activation(self.activation)
        args = [str(self.filters), str(self.kernel_size)]
        args += [f"strides={self.stride}"] if self.stride > 1 else []
        args += ['padding="same"'] if self.padding is Padding.SAME else []
        args += [f"dilation_rate={self.dilation}"] if self.dilation > 1 else []
        args += [argument] if argument else []
        args += [] if self.bias else ["use_bias=False"]
        return [f"layers.Conv1D({', '.join(args)})", *after]


@dataclass(frozen=True)
class Pool1D(TimeWindowLayer):
    """MaxPool1D and AvgPool1D: the same window, a different summary of it."""

    GROUP: ClassVar[Group] = Group.CONVOLUTION
    KERAS_NAME: ClassVar[str]

    pool_size: int = rule(IntField(1, "max_seq_len", help="how many time steps each window covers"))
    stride: int | None = rule(
        IntField(1, "max_seq_len", optional=True, help="steps between two windows (null: pool_size)"), None
    )
    padding: Padding = rule(
        ChoiceField(Padding, help="valid: only whole windows; same: pad so that time / stride steps come out"),
        Padding.VALID,
    )

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        return cls(2)

    @property
    def window(self) -> Window:
        return Window(self.pool_size, self.stride or self.pool_size, self.padding)

    def title(self) -> str:
        options = [str(self.pool_size)]
        options += [f"stride {self.stride}"] if self.stride not in (None, self.pool_size) else []
        options += ["same"] if self.padding is Padding.SAME else []
        return f"{self.kind}({', '.join(options)})"

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        return Inferred(
            output_shape=(received[0], self.out_time(received), received[2]),
            notes=tuple(self.time_notes(received, lengths)),
            keeps_lengths=False,
        )

    def torch_init(self, received: Shape) -> str:
        stride = f", stride={self.window.stride}" if self.window.stride != self.pool_size else ""
        return f"nn.{self.TORCH_MODULE}({self.pool_size}{stride})"

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        args = [str(self.pool_size)]
        args += [f"strides={self.stride}"] if self.stride not in (None, self.pool_size) else []
        args += ['padding="same"'] if self.padding is Padding.SAME else []
        return [f"layers.{self.KERAS_NAME}({', '.join(args)})"]


@dataclass(frozen=True)
class MaxPool1D(Pool1D):
    KIND: ClassVar[str] = "MaxPool1D"
    NODE: ClassVar[NodeStyle] = NodeStyle("invtrapezium", "#e8eaf6", "▼")
    ALIASES: ClassVar[tuple[str, ...]] = ("MaxPooling1D", "MaxPool1d")
    SUMMARY: ClassVar[str] = "keeps the largest value of each window of time steps"
    TORCH_MODULE: ClassVar[str] = "MaxPool1d"
    KERAS_NAME: ClassVar[str] = "MaxPooling1D"

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import ChannelsFirst

        pool = nn.MaxPool1d(self.pool_size, self.window.stride)
        return ChannelsFirst(pool, self.window, pad_value=float("-inf"))

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        pads = self._pad_lines(received)
        return [
            "x = x.transpose(1, 2)  # channels first for torch's pooling",
            *pads,
            *(['x = nn.functional.pad(x, pad_lr, value=float("-inf"))'] if pads else []),
            f"x = {module}(x).transpose(1, 2)  # {shape_label(output)}",
        ]


@dataclass(frozen=True)
class AvgPool1D(Pool1D):
    KIND: ClassVar[str] = "AvgPool1D"
    NODE: ClassVar[NodeStyle] = NodeStyle("invtrapezium", "#e8eaf6", "▽")
    ALIASES: ClassVar[tuple[str, ...]] = ("AveragePooling1D", "AvgPool1d", "AvgPooling1D")
    SUMMARY: ClassVar[str] = "averages each window of time steps"
    TORCH_MODULE: ClassVar[str] = "AvgPool1d"
    KERAS_NAME: ClassVar[str] = "AveragePooling1D"

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        (line,) = super().keras_layers(received, output)
        if self.padding is Padding.SAME:  # where the padding is odd: keras/src/backend/torch/nn.py, "replicate"
            line += "  # TensorFlow and JAX average the real steps only; Keras' torch backend repeats the edge"
        return [line]

    def torch_module(self, received: Shape) -> nn.Module:
        from torch import nn

        from explorer.layers.stages import ChannelsFirst

        pool = nn.AvgPool1d(self.pool_size, self.window.stride)
        return ChannelsFirst(pool, self.window, average_real=True)

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        pads = self._pad_lines(received)
        if not pads:
            return [
                "x = x.transpose(1, 2)  # channels first for torch's pooling",
                f"x = {module}(x).transpose(1, 2)  # {shape_label(output)}",
            ]
        return [
            "x = x.transpose(1, 2)  # channels first for torch's pooling",
            *pads,
            "# Keras' 'same' averages the real steps only: divide by how many each window holds",
            f"real = {module}(nn.functional.pad(torch.ones_like(x[:, :1]), pad_lr))",
            "x = nn.functional.pad(x, pad_lr)",
            f"x = ({module}(x) / real).transpose(1, 2)  # {shape_label(output)}",
        ]

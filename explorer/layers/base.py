"""What every layer kind answers, and the field declarations that read, write and edit it.

A kind is a frozen dataclass. Its fields carry their own rules (`IntField`, `RateField`, ...), so reading a
file, writing one, the editor's widgets and the limits all come from one declaration. Its methods answer the
same few questions for the analysis, the builder, the graph and the code export: what shape comes out and how
many parameters it has, which torch module computes it, and which lines of PyTorch and Keras write it.

No torch here: the analysis and the CLI's `summary` import this without torch. `torch_module` imports it
when a model is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from explorer.findings import Diagnostic
from explorer.limits import Limits
from explorer.reader import Reader
from explorer.shapes import Form, Shape

if TYPE_CHECKING:
    from torch import nn


class Activation(str, Enum):
    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"
    RELU = "relu"
    TANH = "tanh"
    LOG_SOFTMAX = "log_softmax"
    GELU = "gelu"
    ELU = "elu"
    SELU = "selu"
    LEAKY_RELU = "leaky_relu"  # slope 0.01, torch's default (Keras 3's is 0.2: its code says 0.01)

    @property
    def over_last_axis(self) -> bool:
        """softmax and log_softmax normalise over the features; the others act on each value alone."""
        return self in (Activation.SOFTMAX, Activation.LOG_SOFTMAX)

    def torch_expr(self, x: str) -> str:
        """The PyTorch expression applying it to `x`, as the exported code writes it."""
        if self.over_last_axis:
            return f"torch.{self.value}({x}, dim=-1)"
        if self in (Activation.GELU, Activation.ELU, Activation.LEAKY_RELU):
            return f"nn.functional.{self.value}({x})"
        return f"torch.{self.value}({x})"


ACTIVATION_CHOICES = {a.value.upper(): a for a in Activation}


# --- fields ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntField:
    low: int
    high: int | str  # a number, or the name of the Limits field that bounds it
    optional: bool = False  # null allowed
    help: str = ""

    def bound(self, limits: Limits) -> int:
        return self.high if isinstance(self.high, int) else int(getattr(limits, self.high))

    def read(self, r: Reader, value: Any, path: str, limits: Limits) -> Any:
        return r.integer(value, path, self.low, self.bound(limits), optional=self.optional)


@dataclass(frozen=True)
class RateField:
    help: str = ""

    def read(self, r: Reader, value: Any, path: str, limits: Limits) -> Any:
        return r.fraction(value, path)


@dataclass(frozen=True)
class BoolField:
    help: str = ""

    def read(self, r: Reader, value: Any, path: str, limits: Limits) -> Any:
        return r.boolean(value, path)


@dataclass(frozen=True)
class ChoiceField:
    options: type[Enum]
    optional: bool = False  # null allowed: "none" in the editor
    help: str = ""

    def read(self, r: Reader, value: Any, path: str, limits: Limits) -> Any:
        if value is None and self.optional:
            return None
        shown = ", ".join(str(o.value) for o in self.options) + (" or null" if self.optional else "")
        return r.choice(value, path, {str(o.value).upper(): o for o in self.options}, shown)


FieldRule = IntField | RateField | BoolField | ChoiceField


def rule(field_rule: FieldRule, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its rule: `units: int = rule(IntField(1, "max_units"))`."""
    return dataclasses.field(default=default, metadata={"rule": field_rule})


# --- what a kind tells the analysis --------------------------------------------------------


@dataclass(frozen=True)
class Inferred:
    """A layer on the shape it receives: what comes out, what it costs, and what a reader should know."""

    output_shape: Shape
    params_torch: int = 0
    params_keras: int = 0
    params_formula: str = "no parameters"
    notes: tuple[str, ...] = ()
    h_n: Shape | None = None
    c_n: Shape | None = None
    keeps_lengths: bool = True  # a padded batch's lengths still describe the output's time axis


@dataclass(frozen=True)
class NodeStyle:
    """How the graph draws a kind: a graphviz node shape, a fill colour and an icon before its title."""

    shape: str = "box"
    fill: str = "#f7f7f7"
    icon: str = ""
    dashed: bool = False


class Group(str, Enum):
    """The editor's picker groups the kinds by what they are for."""

    RECURRENT = "Recurrent"
    DENSE = "Dense"
    REGULARISATION = "Regularisation"
    CONVOLUTION = "Convolution and pooling"
    NORMALISATION = "Normalisation"
    RESHAPE = "Reshape"


@dataclass(frozen=True)
class Layer:
    """The base of every kind. Subclasses are frozen dataclasses whose fields all carry a `rule`."""

    KIND: ClassVar[str]  # the canonical `type` in files and the CLI's JSON
    ALIASES: ClassVar[tuple[str, ...]] = ()  # Keras' and PyTorch's class names
    GROUP: ClassVar[Group]
    ACCEPTS: ClassVar[frozenset[Form]] = frozenset({Form.SEQUENCE, Form.VECTOR})
    SUMMARY: ClassVar[str] = ""  # one line for the editor's help
    NODE: ClassVar[NodeStyle] = NodeStyle()
    PER_STEP: ClassVar[bool] = False  # acts on each time step alone: drawn as a row in the unrolled view
    ADVANCED: ClassVar[frozenset[str]] = frozenset()  # fields the editor keeps under "More options"

    @classmethod
    def new(cls, previous: Layer | None) -> Layer:
        """A new layer of this kind as the editor adds it after `previous`: values that make sense to start."""
        return cls()

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def depth(self) -> int:
        """Internal layers this layer stands for in one torch module (a recurrent layer's num_layers)."""
        return 1

    @classmethod
    def rules(cls) -> list[tuple[str, FieldRule]]:
        """The kind's own fields (`type` excluded), in declaration order, with their rules."""
        return [(f.name, f.metadata["rule"]) for f in dataclasses.fields(cls) if "rule" in f.metadata]

    @classmethod
    def read(cls, r: Reader, raw: dict[str, Any], path: str, limits: Limits, fixed: dict[str, Any]) -> Layer | None:
        """Read the fields of a file's layer object (its `type` already resolved into `fixed`)."""
        before = len(r.problems)
        values = dict(fixed)
        for f in dataclasses.fields(cls):
            if f.name in fixed or "rule" not in f.metadata:
                continue
            if f.name not in raw:
                if f.default is dataclasses.MISSING:
                    r.problems.append(f"{path}.{f.name} is missing")
                else:
                    values[f.name] = f.default
                continue
            values[f.name] = f.metadata["rule"].read(r, raw[f.name], f"{path}.{f.name}", limits)
        if len(r.problems) > before:
            return None
        layer = cls(**values)
        r.problems.extend(f"{path}: {problem}" for problem in layer.conflicts())
        return layer if len(r.problems) == before else None

    def node_style(self) -> NodeStyle:
        return self.NODE

    def conflicts(self) -> list[str]:
        """Fields that are each valid but not together."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """Every key written, so a file says exactly what was analysed."""
        values = {name: getattr(self, name) for name, _ in self.rules()}
        return {"type": self.kind, **{k: v.value if isinstance(v, Enum) else v for k, v in values.items()}}

    def title(self) -> str:
        """`Conv1D(64, kernel 5, relu)`: what the graph and the summary call the layer."""
        raise NotImplementedError

    def brief(self) -> str:
        """`LSTM64`, `Dense16`: the layer in a run's label."""
        return self.kind

    def infer(self, received: Shape, lengths: bool) -> Inferred:
        """The layer on the shape it receives; `lengths`: a padded variable-length batch's lengths arrive."""
        raise NotImplementedError

    def warnings(self, index: int, received: Shape, lengths: bool) -> list[Diagnostic]:
        """What is allowed but will surprise, seen from this layer alone (index: 0-based)."""
        return []

    # --- torch ---------------------------------------------------------------------------

    def torch_module(self, received: Shape) -> nn.Module:
        """A builder stage: `forward(x, lengths, activate=True) -> (y, lengths)`, its weights in `.inner`."""
        raise NotImplementedError

    def torch_init(self, received: Shape) -> str | None:
        """The exported PyTorch `__init__`'s constructor for this layer, or None where it has no module."""
        return None

    def torch_forward(self, module: str, received: Shape, output: Shape, lengths: bool) -> list[str]:
        """Lines of the exported `forward` that take `x` to this layer's output, again in `x` (`module`: the
        attribute, `self.conv1d2`; `lengths`: a padded batch's `lengths` tensor arrives with `x`)."""
        raise NotImplementedError

    # --- Keras ---------------------------------------------------------------------------

    def keras_layers(self, received: Shape, output: Shape) -> list[str]:
        """`layers.X(...)` entries of the exported Sequential, in order (the last one gets the shape comment)."""
        raise NotImplementedError

    def differences(self) -> list[str]:
        """What one framework's code leaves out because the other has no such option (said in both)."""
        return []

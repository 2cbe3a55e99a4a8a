"""Keras and tf.keras models read from source: `Sequential([...])`, `model.add(...)` chains, and functional
chains from `Input(shape=...)` to `Model(...)`, at module level or inside a function that returns the model."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from explorer.importer.common import Arguments, Draft, callee
from explorer.importer.values import Scope, Unknown

_RECURRENT = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN", "CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
_POOLS = {"MaxPooling1D": "MaxPool1D", "MaxPool1D": "MaxPool1D", "AveragePooling1D": "AvgPool1D",
          "AvgPool1D": "AvgPool1D"}  # fmt: skip
_GLOBAL_POOLS = {
    "GlobalAveragePooling1D": "GlobalAvgPool1D",
    "GlobalAvgPool1D": "GlobalAvgPool1D",
    "GlobalMaxPooling1D": "GlobalMaxPool1D",
    "GlobalMaxPool1D": "GlobalMaxPool1D",
}
_PLAIN = {"Flatten": "Flatten", "LayerNormalization": "LayerNorm", "BatchNormalization": "BatchNorm"}
_MODEL_CALLS = {"Sequential", "Model", "Functional"}
LayerRead = dict[str, Any] | None


def _input_hints(args: Arguments, draft: Draft) -> None:
    """`input_shape=(T, F)`, `batch_input_shape=(B, T, F)`, `input_dim=F`, `input_length=T` on a first layer."""
    if args.has("batch_input_shape"):
        shape = args.get("batch_input_shape")
        if isinstance(shape, tuple) and len(shape) == 3:
            draft.inputs.setdefault("batch", shape[0])
            draft.inputs.setdefault("seq_len", shape[1])
            draft.inputs.setdefault("features", shape[2])
    if args.has("input_shape"):
        shape = args.get("input_shape")
        if isinstance(shape, tuple) and len(shape) == 2:
            draft.inputs.setdefault("seq_len", shape[0])
            draft.inputs.setdefault("features", shape[1])
        elif isinstance(shape, tuple) and len(shape) == 1 and draft.inputs.get("tokens"):
            draft.inputs.setdefault("seq_len", shape[0])
    if args.has("input_dim") and not draft.inputs.get("tokens"):
        draft.inputs.setdefault("features", args.get("input_dim"))
    if args.has("input_length"):
        draft.inputs.setdefault("seq_len", args.get("input_length"))


def _recurrent(call: ast.Call, scope: Scope, draft: Draft) -> LayerRead:
    args = Arguments(call, ("units", "activation"), scope)
    kind = _RECURRENT[callee(call) or ""]
    if kind == "GRU" and args.get("reset_after", True) is False:
        draft.skip(call, "unsupported-option", "GRU(reset_after=False) counts its biases differently: not imported")
        return None
    for option in ("return_state", "go_backwards"):
        if args.get(option) is True:
            draft.skip(call, "unsupported-option", f"{kind}({option}=True) is not in the catalogue: not imported")
            return None
    activation = args.get("activation", "tanh")
    layer: dict[str, Any] = {"type": kind, "units": args.get("units")}
    layer["return_sequences"] = args.get("return_sequences", False)
    if activation not in ("tanh", None):
        layer["activation"] = activation
    layer["bias"] = args.get("use_bias", True)
    layer["input_dropout"] = args.get("dropout", 0.0)  # Keras' dropout= is the in-cell input dropout
    layer["recurrent_dropout"] = args.get("recurrent_dropout", 0.0)
    _input_hints(args, draft)
    return layer


def _activation_value(value: Any) -> Any:
    return None if value in (None, "linear") else value


def _layer(call: ast.Call, scope: Scope, draft: Draft) -> LayerRead:
    """One Keras layer constructor as a layer of the file format, or None (skipped, with the reason)."""
    name = callee(call) or ""
    if name in _RECURRENT:
        return _recurrent(call, scope, draft)
    if name == "Bidirectional":
        args = Arguments(call, ("layer", "merge_mode"), scope)
        inner = args.node("layer")
        if args.get("merge_mode", "concat") != "concat":
            draft.skip(call, "unsupported-option", "Bidirectional with a merge_mode other than concat: not imported")
            return None
        if not isinstance(inner, ast.Call) or callee(inner) not in _RECURRENT:
            draft.skip(call, "unsupported-layer", "Bidirectional around a layer that is not LSTM, GRU or SimpleRNN")
            return None
        _input_hints(args, draft)
        layer = _recurrent(inner, scope, draft)
        return None if layer is None else {**layer, "bidirectional": True}
    if name == "TimeDistributed":
        inner = Arguments(call, ("layer",), scope).node("layer")
        if isinstance(inner, ast.Call) and callee(inner) == "Dense":
            return _layer(inner, scope, draft)
        draft.skip(call, "unsupported-layer", "TimeDistributed around a layer other than Dense (4-D input)")
        return None
    reader = _READERS.get(name)
    if reader is None:
        draft.skip(call, "unsupported-layer", f"{name or ast.unparse(call.func)} is not in the layer catalogue")
        return None
    args = Arguments(call, _POSITIONAL.get(name, ()), scope)
    _input_hints(args, draft)
    return reader(args, draft)


def _embedding(args: Arguments, draft: Draft) -> LayerRead:
    draft.inputs["tokens"] = True
    draft.inputs.pop("features", None)
    _input_hints(args, draft)
    layer = {"type": "Embedding", "vocab": args.get("input_dim"), "dim": args.get("output_dim")}
    layer["mask_zero"] = args.get("mask_zero", False)
    return layer


def _dense(args: Arguments, draft: Draft) -> LayerRead:
    return {
        "type": "Dense",
        "units": args.get("units"),
        "activation": _activation_value(args.get("activation")),
        "bias": args.get("use_bias", True),
    }


def _conv(args: Arguments, draft: Draft) -> LayerRead:
    padding = args.get("padding", "valid")
    if padding == "causal":
        draft.skip(args.call, "unsupported-option", "Conv1D(padding='causal') is not in the catalogue: not imported")
        return None
    return {
        "type": "Conv1D",
        "filters": args.get("filters"),
        "kernel_size": _single(args.get("kernel_size")),
        "stride": _single(args.get("strides", 1)),
        "padding": padding,
        "dilation": _single(args.get("dilation_rate", 1)),
        "activation": _activation_value(args.get("activation")),
        "bias": args.get("use_bias", True),
    }


def _single(value: Any) -> Any:
    """Keras accepts `kernel_size=(3,)` for 3."""
    return value[0] if isinstance(value, tuple) and len(value) == 1 else value


def _pool(args: Arguments, draft: Draft) -> LayerRead:
    name = _POOLS[callee(args.call) or ""]
    return {
        "type": name,
        "pool_size": _single(args.get("pool_size", 2)),
        "stride": _single(args.get("strides")),
        "padding": args.get("padding", "valid"),
    }


def _masking(args: Arguments, draft: Draft) -> LayerRead:
    draft.inputs["seq_len"] = None  # zero-padded steps are skipped: a variable-length input, with lengths
    return None


def _without_fields(kind: str) -> Callable[[Arguments, Draft], LayerRead]:
    """The reader of a kind that has no fields (Flatten, the norms, global pooling)."""
    return lambda args, draft: {"type": kind}


_READERS: dict[str, Callable[[Arguments, Draft], LayerRead]] = {
    "Embedding": _embedding,
    "Dense": _dense,
    "Dropout": lambda args, draft: {"type": "Dropout", "rate": args.get("rate")},
    "Activation": lambda args, draft: {"type": "Activation", "activation": args.get("activation")},
    "Conv1D": _conv,
    "Convolution1D": _conv,
    **dict.fromkeys(_POOLS, _pool),
    **{name: _without_fields(kind) for name, kind in {**_GLOBAL_POOLS, **_PLAIN}.items()},
    "RepeatVector": lambda args, draft: {"type": "RepeatVector", "n": args.get("n")},
    "Masking": _masking,
}
_POSITIONAL = {
    "Embedding": ("input_dim", "output_dim"),
    "Dense": ("units", "activation"),
    "Dropout": ("rate",),
    "Activation": ("activation",),
    "Conv1D": ("filters", "kernel_size", "strides", "padding"),
    "Convolution1D": ("filters", "kernel_size", "strides", "padding"),
    **dict.fromkeys(_POOLS, ("pool_size", "strides", "padding")),
    "RepeatVector": ("n",),
}


# --- finding the models in a module --------------------------------------------------------


class _Reader:
    """Walks statements in order, following Sequential models and functional chains by variable name."""

    def __init__(self, scope: Scope, found: list[Draft], owner: str | None = None):
        self.scope = scope
        self.found = found
        self.owner = owner  # the function being read: its models are named after it
        self.sequential: dict[str, Draft] = {}
        self.tensors: dict[str, Draft] = {}  # a functional tensor and the chain that computes it

    def statements(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            self._assign(statement.targets[0], statement.value, statement)
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            self._assign(statement.target, statement.value, statement)
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            self._add(statement.value)
        elif isinstance(statement, ast.If):
            self._if(statement)
        elif isinstance(statement, (ast.For, ast.While)):
            touched = self._mentions_models(statement)
            if touched is not None:
                touched.skip(statement, "loop", "a loop over layers: its layers are not imported (write them out)")
        elif isinstance(statement, ast.FunctionDef) and self.owner is None:
            self._function(statement)
        elif isinstance(statement, ast.Return) and statement.value is not None and self.owner is not None:
            self._return(statement.value)
        elif isinstance(statement, (ast.With, ast.Try)):
            self.statements(statement.body)

    def _mentions_models(self, node: ast.AST) -> Draft | None:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name) and (inner.id in self.sequential or inner.id in self.tensors):
                return self.sequential.get(inner.id) or self.tensors.get(inner.id)
        return None

    def _if(self, statement: ast.If) -> None:
        condition = self.scope.value(statement.test)
        if isinstance(condition, Unknown):
            draft = self._mentions_models(statement)
            if draft is not None:  # which layers there are depends on a setting the source leaves open
                draft.unresolved.extend(condition.needs)
                return
            self.statements(statement.body)
            return
        self.statements(statement.body if condition else statement.orelse)

    def _name(self, target: str) -> str:
        return self.owner or target

    def _assign(self, target: ast.expr, value: ast.expr, statement: ast.stmt) -> None:
        if isinstance(target, ast.Tuple):  # `maxlen, max_features = 100, 20000`
            names = [t.id for t in target.elts if isinstance(t, ast.Name)]
            values = self.scope.value(value)
            if len(names) == len(target.elts) and isinstance(values, tuple) and len(values) == len(names):
                self.scope.bindings |= dict(zip(names, values, strict=True))
            return
        if not isinstance(target, ast.Name):
            return
        name = target.id
        if isinstance(value, ast.Call) and callee(value) in _MODEL_CALLS:
            self._model(name, value)
            return
        if isinstance(value, ast.Call) and callee(value) in ("Input", "InputLayer"):
            draft = Draft(self._name(name), "keras", value.lineno)
            self._input(Arguments(value, ("shape", "batch_size"), self.scope), draft)
            self.tensors[name] = draft
            return
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Call):  # x = Layer(...)(y)
            self._apply(name, value)
            return
        self.scope.bindings[name] = self.scope.value(value)

    def _input(self, args: Arguments, draft: Draft) -> None:
        shape = args.get("shape", args.get("batch_shape"))
        if isinstance(shape, tuple) and len(shape) == 2:
            draft.inputs.update(seq_len=shape[0], features=shape[1])
        elif isinstance(shape, tuple) and len(shape) == 1:  # (T,): token ids, read by an Embedding
            draft.inputs.update(seq_len=shape[0], tokens=True)
        if args.has("batch_size"):
            draft.inputs["batch"] = args.get("batch_size")

    def _apply(self, name: str, value: ast.Call) -> None:
        assert isinstance(value.func, ast.Call)
        source = value.args[0] if value.args else None
        if isinstance(source, ast.Name) and source.id in self.tensors:
            draft = self.tensors[source.id]
            copy = Draft(draft.name, "keras", draft.line, dict(draft.inputs), list(draft.layers), draft.skipped,
                         draft.unresolved)  # fmt: skip
            layer = _layer(value.func, self.scope, copy)
            if layer is not None:
                copy.layers.append(layer)
            self.tensors[name] = copy
            return
        owner = next((self.tensors[n.id] for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in self.tensors),
                     None)  # fmt: skip
        if owner is not None:
            owner.skip(value, "branch", f"{callee(value.func)} joins or splits branches: not a stack, not imported")
            self.tensors[name] = owner

    def _model(self, name: str, call: ast.Call) -> None:
        kind = callee(call)
        if kind == "Sequential":
            draft = Draft(self._name(name), "keras", call.lineno)
            items = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "layers"), None)
            if isinstance(items, (ast.List, ast.Tuple)):
                for item in items.elts:
                    self._sequential_item(draft, item)
            self.sequential[name] = draft
            self._record(draft)
            return
        args = Arguments(call, ("inputs", "outputs"), self.scope)
        outputs = args.node("outputs")
        if isinstance(outputs, ast.Name) and outputs.id in self.tensors:
            draft = self.tensors[outputs.id]
            draft.name, draft.line = self._name(name), call.lineno
            self._record(draft)

    def _record(self, draft: Draft) -> None:
        self.found[:] = [d for d in self.found if d.name != draft.name] + [draft]

    def _sequential_item(self, draft: Draft, item: ast.expr) -> None:
        if not isinstance(item, ast.Call):
            draft.skip(item, "custom", f"{ast.unparse(item)[:60]} is not a layer call: not imported")
            return
        if callee(item) in ("Input", "InputLayer"):
            args = Arguments(item, ("shape", "batch_size"), self.scope)
            if args.has("input_shape"):
                args.nodes["shape"] = args.nodes["input_shape"]
            self._input(args, draft)
            return
        layer = _layer(item, self.scope, draft)
        if layer is not None:
            draft.layers.append(layer)

    def _add(self, call: ast.Call) -> None:
        """`model.add(Layer(...))` on a Sequential being built."""
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "add"
            and isinstance(func.value, ast.Name)
            and func.value.id in self.sequential
            and call.args
        ):
            self._sequential_item(self.sequential[func.value.id], call.args[0])

    def _function(self, function: ast.FunctionDef) -> None:
        defaults = function.args.defaults
        positional = function.args.args[len(function.args.args) - len(defaults) :]
        bindings = {arg.arg: self.scope.value(default) for arg, default in zip(positional, defaults, strict=True)}
        keyword = function.args.kwonlyargs
        bindings |= {
            arg.arg: self.scope.value(default)
            for arg, default in zip(keyword, function.args.kw_defaults, strict=True)
            if default is not None
        }
        inner = _Reader(self.scope.child(bindings), [], owner=function.name)
        inner.statements(function.body)
        if inner.found:
            self._record(inner.found[-1])

    def _return(self, value: ast.expr) -> None:
        if isinstance(value, ast.Call) and callee(value) in _MODEL_CALLS:
            self._model(self.owner or "model", value)
        elif isinstance(value, ast.Name) and value.id in self.sequential:
            self._record(self.sequential[value.id])


def keras_models(tree: ast.Module, scope: Scope) -> list[Draft]:
    """Every Keras model the module defines, in the order defined (a later one of the same name replaces it)."""
    found: list[Draft] = []
    _Reader(scope, found).statements(tree.body)
    return [draft for draft in found if draft.layers or draft.skipped]

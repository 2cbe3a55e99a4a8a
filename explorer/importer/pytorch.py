"""PyTorch models read from source: an `nn.Module` subclass, its layers from `__init__` and its data flow from
`forward`, by a small abstract interpreter over names (which value is a sequence, which is a recurrent layer's
`(h_n, c_n)`, what `out[:, -1, :]` or `torch.cat((h_n[-2], h_n[-1]), dim=1)` selects)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from explorer.importer.common import Arguments, Draft, callee
from explorer.importer.values import Scope, Unknown

_RECURRENT = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN"}
_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "GELU": "gelu", "ELU": "elu", "SELU": "selu",
                "Softmax": "softmax", "LogSoftmax": "log_softmax", "LeakyReLU": "leaky_relu"}  # fmt: skip
_FUNCTIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "gelu": "gelu", "elu": "elu", "selu": "selu",
              "softmax": "softmax", "log_softmax": "log_softmax", "leaky_relu": "leaky_relu"}  # fmt: skip
_IGNORED_FUNCTIONS = {"pad"}
_PASS_THROUGH = {"permute", "transpose", "contiguous", "squeeze", "unsqueeze", "float", "to", "detach"}


@dataclass
class _Module:
    """A layer built in `__init__`: the file format's layer(s), and what the source declares it receives."""

    layers: list[dict[str, Any]]
    line: int
    declared_in: Any = None  # input_size, in_features, in_channels, num_features
    time_major: bool = False


@dataclass(frozen=True)
class _Tensor:
    """The stack's current end; `layer`: the draft layer that made it, where it came straight from one."""

    layer: int | None = None


@dataclass(frozen=True)
class _Sequence:
    layer: int  # index in the draft of the recurrent layer whose output sequence this is


@dataclass(frozen=True)
class _State:
    layer: int
    pair: bool = False  # an LSTM's (h_n, c_n) not yet taken apart


@dataclass
class _Forward:
    draft: Draft
    modules: dict[str, _Module]
    env: dict[str, Any] = field(default_factory=dict)
    declared: list[tuple[int, int, Any, str]] = field(default_factory=list)  # layer, line, size, constructor


def _module(call: ast.Call, scope: Scope, draft: Draft) -> _Module | None:
    name = callee(call) or ""
    line = call.lineno
    if name in _RECURRENT:
        args = Arguments(call, ("input_size", "hidden_size", "num_layers"), scope)
        layer: dict[str, Any] = {"type": _RECURRENT[name], "units": args.get("hidden_size")}
        layer |= {"num_layers": args.get("num_layers", 1), "dropout": args.get("dropout", 0.0)}
        layer |= {"bidirectional": args.get("bidirectional", False), "bias": args.get("bias", True)}
        if name == "RNN" and args.get("nonlinearity", "tanh") != "tanh":
            layer["activation"] = args.get("nonlinearity")
        return _Module([layer], line, args.get("input_size"), time_major=args.get("batch_first", False) is not True)
    if name == "Embedding":
        args = Arguments(call, ("num_embeddings", "embedding_dim", "padding_idx"), scope)
        layer = {"type": "Embedding", "vocab": args.get("num_embeddings"), "dim": args.get("embedding_dim")}
        return _Module([{**layer, "padding_idx": args.get("padding_idx")}], line)
    if name == "Linear":
        args = Arguments(call, ("in_features", "out_features", "bias"), scope)
        return _Module([{"type": "Dense", "units": args.get("out_features"), "bias": args.get("bias", True)}], line,
                       args.get("in_features"))  # fmt: skip
    if name == "Dropout":
        return _Module([{"type": "Dropout", "rate": Arguments(call, ("p",), scope).get("p", 0.5)}], line)
    if name in _ACTIVATIONS:
        return _Module([{"type": "Activation", "activation": _ACTIVATIONS[name]}], line)
    if name == "Conv1d":
        return _conv(call, scope, draft)
    if name in ("MaxPool1d", "AvgPool1d"):
        args = Arguments(call, ("kernel_size", "stride", "padding"), scope)
        if args.get("padding", 0) != 0:
            draft.skip(call, "unsupported-option", f"{name} with padding: not in the catalogue, not imported")
            return None
        kind = "MaxPool1D" if name == "MaxPool1d" else "AvgPool1D"
        return _Module([{"type": kind, "pool_size": args.get("kernel_size"), "stride": args.get("stride")}], line)
    if name in ("AdaptiveAvgPool1d", "AdaptiveMaxPool1d"):
        if Arguments(call, ("output_size",), scope).get("output_size") != 1:
            draft.skip(call, "unsupported-option", f"{name} to more than one step: not imported")
            return None
        return _Module([{"type": "GlobalAvgPool1D" if "Avg" in name else "GlobalMaxPool1D"}], line)
    if name == "LayerNorm":
        return _Module(
            [{"type": "LayerNorm"}], line, Arguments(call, ("normalized_shape",), scope).get("normalized_shape")
        )
    if name == "BatchNorm1d":
        return _Module([{"type": "BatchNorm"}], line, Arguments(call, ("num_features",), scope).get("num_features"))
    if name == "Flatten":
        return _Module([{"type": "Flatten"}], line)
    if name == "Sequential":
        layers: list[dict[str, Any]] = []
        declared = None
        for item in call.args:
            inner = _module(item, scope, draft) if isinstance(item, ast.Call) else None
            if inner is None:
                draft.skip(item, "unsupported-layer", f"{ast.unparse(item)[:60]} inside nn.Sequential: not imported")
                continue
            declared = declared if layers else inner.declared_in
            layers += inner.layers
        return _Module(layers, line, declared)
    draft.skip(call, "unsupported-layer", f"{name or ast.unparse(call.func)} is not in the layer catalogue")
    return None


def _conv(call: ast.Call, scope: Scope, draft: Draft) -> _Module | None:
    args = Arguments(call, ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"), scope)
    kernel, stride, dilation = args.get("kernel_size"), args.get("stride", 1), args.get("dilation", 1)
    padding = args.get("padding", 0)
    same = isinstance(kernel, int) and isinstance(dilation, int) and stride == 1 and dilation * (kernel - 1) % 2 == 0
    if padding in (0, "valid"):
        mode = "valid"
    elif padding == "same" or (same and isinstance(kernel, int) and padding == dilation * (kernel - 1) // 2):
        mode = "same"  # symmetric padding that keeps the length: Keras' "same"
    else:
        draft.skip(call, "unsupported-option", f"Conv1d(padding={padding!r}) is not 'valid' or 'same': not imported")
        return None
    layer = {"type": "Conv1D", "filters": args.get("out_channels"), "kernel_size": kernel, "stride": stride,
             "padding": mode, "dilation": dilation, "bias": args.get("bias", True)}  # fmt: skip
    return _Module([layer], call.lineno, args.get("in_channels"))


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _index_value(node: ast.AST) -> Any:
    """`-1` of `h_n[-1]`, `(slice, -1, slice)` of `out[:, -1, :]`."""
    if isinstance(node, ast.Tuple):
        return tuple(_index_value(e) for e in node.elts)
    if isinstance(node, ast.Slice):
        return "slice"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, int) else None
    if isinstance(node, ast.Constant):
        return node.value
    return None


class _Interpreter:
    """`forward` over names: each value is the stack's end, a recurrent layer's output sequence, or its state."""

    def __init__(self, forward: _Forward):
        self.f = forward
        self.draft = forward.draft

    def run(self, body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, ast.Assign):
                value = self.value(statement.value)
                for target in statement.targets:
                    self.bind(target, value)
            elif isinstance(statement, ast.Return) and statement.value is not None:
                self.close(self.value(statement.value))
                return
            elif isinstance(statement, (ast.If, ast.For, ast.While)):
                self.draft.skip(statement, "control-flow", "control flow in forward: its layers are not imported")

    def bind(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.f.env[target.id] = value
        elif isinstance(target, ast.Tuple):
            parts = self.unpack(value, len(target.elts))
            for element, part in zip(target.elts, parts, strict=True):
                self.bind(element, part)

    def unpack(self, value: Any, count: int) -> list[Any]:
        if isinstance(value, tuple) and len(value) == count:
            return list(value)
        if isinstance(value, _State) and value.pair and count == 2:
            return [_State(value.layer), None]  # h_n, c_n (only h_n hands anything on)
        return [value] + [None] * (count - 1)

    def settle(self, value: Any) -> Any:
        """A recurrent layer's output sequence used as a whole: that layer returns sequences."""
        if isinstance(value, _Sequence):
            self.draft.layers[value.layer]["return_sequences"] = True
            return _Tensor()
        return value

    def close(self, value: Any) -> None:
        self.settle(value)

    def apply(self, name: str, node: ast.Call, argument: Any) -> Any:
        module = self.f.modules.get(name)
        if module is None:
            self.draft.skip(node, "unsupported-layer", f"self.{name} is not a layer the importer read in __init__")
            return argument
        self.settle(argument)
        start = len(self.draft.layers)
        for n, layer in enumerate(module.layers):
            self.draft.layers.append(dict(layer))
            if n == 0 and module.declared_in is not None:
                self.f.declared.append((start, module.line, module.declared_in, ast.unparse(node.func)))
        first = module.layers[0] if module.layers else {}
        if first.get("type") in _RECURRENT.values() and len(module.layers) == 1:
            self.draft.layers[start]["return_sequences"] = False
            self.draft.layers[start]["_time_major"] = module.time_major
            return (_Sequence(start), _State(start, pair=first["type"] == "LSTM"))
        return _Tensor(len(self.draft.layers) - 1 if module.layers else None)

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return self.f.env.get(node.id)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Tuple):
            return tuple(self.value(e) for e in node.elts)
        return None

    def call(self, node: ast.Call) -> Any:
        func = node.func
        if callee(node) == "cat" and not (isinstance(func, ast.Attribute) and _is_self(func.value)):
            return self.cat(node)
        args = [self.value(a) for a in node.args]
        first = args[0] if args else None
        if isinstance(func, ast.Attribute):
            if _is_self(func.value):
                return self.apply(func.attr, node, first)
            owner = self.value(func.value)
            if owner is not None:  # a method of a value forward tracks: x.view(...), out.permute(...)
                return self.method(func.attr, node, owner)
        name = callee(node) or ""
        if name in _FUNCTIONS:
            return self.activation(first, _FUNCTIONS[name])
        if name in _IGNORED_FUNCTIONS:  # explicit padding before a Conv1d: part of what the catalogue's padding does
            return first
        if name == "flatten":
            self.settle(first)
            self.draft.layers.append({"type": "Flatten"})
            return _Tensor()
        if name == "pack_padded_sequence":
            self.draft.inputs["seq_len"] = None  # a padded batch with lengths: a variable-length input
            return first
        if name == "pad_packed_sequence":
            return (first, None)
        if first is not None:
            self.draft.skip(node, "unsupported-op", f"{ast.unparse(func)}(...) is not read: the value passes through")
        return first

    def activation(self, value: Any, activation: str) -> Any:
        """An activation function: the activation of the Dense or Conv1D right before it, where that has none (as
        the catalogue writes Linear + softmax), else an Activation layer."""
        self.settle(value)
        layers = self.draft.layers
        if isinstance(value, _Tensor) and value.layer is not None and value.layer == len(layers) - 1:
            made = layers[value.layer]
            if made["type"] in ("Dense", "Conv1D") and made.get("activation") is None:
                made["activation"] = activation
                return _Tensor(value.layer)
        layers.append({"type": "Activation", "activation": activation})
        return _Tensor()

    def method(self, name: str, node: ast.Call, owner: Any) -> Any:
        if name in _PASS_THROUGH:
            return owner
        if name in ("view", "reshape", "flatten"):
            self.settle(owner)
            self.draft.layers.append({"type": "Flatten"})
            return _Tensor()
        if name in _FUNCTIONS:
            return self.activation(owner, _FUNCTIONS[name])
        if name in ("size", "dim", "numel"):  # a number, not a tensor: nothing flows from it
            return None
        self.draft.skip(node, "unsupported-op", f".{name}(...) is not read: the value passes through")
        return owner

    def subscript(self, node: ast.Subscript) -> Any:
        owner = self.value(node.value)
        index = _index_value(node.slice)
        if isinstance(owner, _Sequence):
            layer = self.draft.layers[owner.layer]
            time_major = layer.get("_time_major", False)
            last = index == -1 if time_major else index in (("slice", -1), ("slice", -1, "slice"))
            if last:
                layer["last_step"] = "output"  # output[:, -1]: the last position, not the final state
                return _Tensor()
        if isinstance(owner, _State):
            if owner.pair and index == 0:
                return _State(owner.layer)  # hidden[0]: h_n of an LSTM's (h_n, c_n)
            if not owner.pair and index in (-1, (-1, "slice", "slice")):
                return _Tensor()  # h_n[-1]: the final state, the default last step
        if isinstance(owner, tuple) and isinstance(index, int) and -len(owner) <= index < len(owner):
            return owner[index]
        self.draft.skip(node, "unsupported-op", f"{ast.unparse(node)[:60]} is not read: the value passes through")
        return owner

    def cat(self, node: ast.Call) -> Any:
        """`torch.cat((h_n[-2], h_n[-1]), dim=1)`: a bidirectional layer's final states, the default last step."""
        parts = node.args[0] if node.args else None
        if isinstance(parts, (ast.Tuple, ast.List)) and len(parts.elts) == 2:
            states = [self.value(p.value) if isinstance(p, ast.Subscript) else None for p in parts.elts]
            indexes = [_index_value(p.slice) if isinstance(p, ast.Subscript) else None for p in parts.elts]
            positions = [i[0] if isinstance(i, tuple) else i for i in indexes]
            if all(isinstance(s, _State) for s in states) and positions == [-2, -1]:
                return _Tensor()
        self.draft.skip(node, "branch", "torch.cat of other values joins branches: not a stack, not imported")
        return _Tensor()


def _is_module_class(node: ast.ClassDef) -> bool:
    return any(callee(base) == "Module" for base in node.bases)


def _init(function: ast.FunctionDef, scope: Scope, draft: Draft) -> tuple[Scope, dict[str, _Module]]:
    args = function.args.args[1:]  # after self
    defaults = function.args.defaults
    bindings: dict[str, Any] = {a.arg: Unknown((a.arg,)) for a in args}
    bindings |= {a.arg: scope.value(d) for a, d in zip(args[len(args) - len(defaults) :], defaults, strict=True)}
    inner = scope.child(bindings)
    attributes: dict[str, Any] = {}
    inner.bindings["self"] = attributes
    modules: dict[str, _Module] = {}

    def assign(statement: ast.Assign) -> None:
        target = statement.targets[0]
        if isinstance(target, ast.Attribute) and _is_self(target.value):
            value = statement.value
            if isinstance(value, ast.Call) and (callee(value) in _KNOWN or _is_nn(value) or _is_class(value)):
                found = _module(value, inner, draft)
                if found is not None:
                    modules[target.attr] = found
            else:
                attributes[target.attr] = inner.value(value)
        elif isinstance(target, ast.Name):
            inner.bindings[target.id] = inner.value(statement.value)

    def walk(body: list[ast.stmt]) -> None:
        """The statements in order; an `if` takes the branch its condition picks (`if rnn_type == "LSTM":`), and
        one the source leaves open becomes a question."""
        for statement in body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                assign(statement)
            elif isinstance(statement, ast.If):
                condition = inner.value(statement.test)
                if isinstance(condition, Unknown):
                    draft.unresolved.extend(condition.needs)
                else:
                    walk(statement.body if condition else statement.orelse)
            elif isinstance(statement, (ast.With, ast.Try)):
                walk(statement.body)

    walk(function.body)
    return inner, modules


_KNOWN = {*_RECURRENT, *_ACTIVATIONS, "Embedding", "Linear", "Dropout", "Conv1d", "MaxPool1d", "AvgPool1d",
          "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "LayerNorm", "BatchNorm1d", "Flatten", "Sequential"}  # fmt: skip


def _is_class(call: ast.Call) -> bool:
    """`MultiHeadAttention(hidden)`: a class of the user's own, by Python's naming convention a module."""
    name = callee(call) or ""
    return name[:1].isupper()


def _is_nn(call: ast.Call) -> bool:
    """`nn.X(...)` or `torch.nn.X(...)`: a module, known or not (unknown ones are reported)."""
    func = call.func
    return isinstance(func, ast.Attribute) and callee(func.value) == "nn"


def pytorch_models(tree: ast.Module, scope: Scope) -> list[tuple[Draft, list[tuple[int, int, Any, str]]]]:
    """Every nn.Module subclass with a forward, as a draft and the input sizes its source declares per layer."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not _is_module_class(node):
            continue
        methods = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
        if "__init__" not in methods or "forward" not in methods:
            continue
        draft = Draft(node.name, "pytorch", node.lineno)
        _, modules = _init(methods["__init__"], scope, draft)
        forward = methods["forward"]
        parameters = [a.arg for a in forward.args.args[1:]]
        if not parameters:
            continue
        state = _Forward(draft, modules, {parameters[0]: _Tensor()})
        _Interpreter(state).run(forward.body)
        for layer in draft.layers:
            layer.pop("_time_major", None)
        first = draft.layers[0] if draft.layers else None
        if first is not None and first["type"] == "Embedding":
            draft.inputs["tokens"] = True
        elif state.declared and state.declared[0][0] == 0:
            draft.inputs["features"] = state.declared[0][2]
        found.append((draft, state.declared))
    return found

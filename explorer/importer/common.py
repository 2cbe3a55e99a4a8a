"""What an importer reads from a user's source: a draft model, what it left out and why, and the result."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from explorer.importer.values import Scope, needs


class SourceError(ValueError):
    """The source cannot be read (size, encoding, syntax) or holds no model: one message for the user."""


@dataclass(frozen=True)
class Skipped:
    line: int
    code: str  # unsupported-layer, unsupported-option, loop, branch, conditional, custom
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "reason": self.reason}


@dataclass
class Draft:
    """One model as read: input hints and layers whose values may still be Unknown."""

    name: str
    framework: str
    line: int
    inputs: dict[str, Any] = field(default_factory=dict)  # features, seq_len, batch, tokens
    layers: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # names that decide which layers there are

    def skip(self, node: ast.AST, code: str, reason: str) -> None:
        self.skipped.append(Skipped(getattr(node, "lineno", 0), code, reason))

    def needs(self) -> list[str]:
        found = list(self.unresolved)
        for value in [*self.inputs.values(), *(v for layer in self.layers for v in layer.values())]:
            found += needs(value)
        return list(dict.fromkeys(found))


def callee(node: ast.AST) -> str | None:
    """The name a call calls, without its module: `LSTM` for `keras.layers.LSTM(...)`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class Arguments:
    """A call's arguments by name, positional ones named by the callee's signature, evaluated in a scope."""

    def __init__(self, call: ast.Call, positional: tuple[str, ...], scope: Scope):
        self.call = call
        self.scope = scope
        self.nodes: dict[str, ast.expr] = dict(zip(positional, call.args, strict=False))
        self.extra_positional = call.args[len(positional) :]
        self.nodes |= {k.arg: k.value for k in call.keywords if k.arg is not None}
        self.spread = any(k.arg is None for k in call.keywords)  # **kwargs: unknowable

    def has(self, name: str) -> bool:
        return name in self.nodes

    def get(self, name: str, default: Any = None) -> Any:
        node = self.nodes.get(name)
        return default if node is None else self.scope.value(node)

    def node(self, name: str) -> ast.expr | None:
        return self.nodes.get(name)

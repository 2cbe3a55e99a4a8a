"""What a size or setting in a user's source evaluates to, without running anything.

Only literals, names the source itself binds to literals (module constants, default arguments), dict and
attribute reads of those, and plain arithmetic are evaluated. Everything else is `Unknown`: it names the
expressions the user must give a value for (`--set hidden_size=64`), exactly as the source spells them.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 40  # of an expression evaluated here: deeper is Unknown, whatever the caller's stack allows
MAX_NUMBER = 10**12  # arithmetic stops being evaluated past this (a size is far smaller)


@dataclass(frozen=True)
class Unknown:
    """A value the source does not fix: `needs` are the expressions, as spelled, that would fix it."""

    needs: tuple[str, ...]


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def spelling(node: ast.AST) -> str:
    return ast.unparse(node)


def plain_name(node: ast.AST) -> str | None:
    """The last plain name of an expression: `units` for `config['units']`, `n_hidden` for `self.n_hidden`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def parse_setting(text: str) -> Any:
    """A `--set` value: a number, true/false/none, or a word."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


class Scope:
    """Names bound to what the source fixes, and the user's settings, which win."""

    def __init__(self, bindings: Mapping[str, Any], settings: Mapping[str, Any]):
        self.bindings = dict(bindings)
        self.settings = settings

    def child(self, bindings: Mapping[str, Any]) -> Scope:
        return Scope({**self.bindings, **bindings}, self.settings)

    def value(self, node: ast.AST | None, depth: int = 0) -> Any:
        if node is None:
            return None
        # Spelled out (ast.unparse) only where a setting could name it: not at every level of every expression.
        if self.settings and spelling(node) in self.settings:
            return self.settings[spelling(node)]
        if depth > MAX_DEPTH:
            return Unknown((spelling(node),))
        found = self._value(node, depth)
        name = plain_name(node)
        if (
            isinstance(found, Unknown)
            and name is not None
            and name in self.settings
            and found.needs == (spelling(node),)
        ):
            return self.settings[name]
        return found

    def _value(self, node: ast.AST, depth: int) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.bindings.get(node.id, Unknown((node.id,)))
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.value(element, depth + 1) for element in node.elts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.value(node.operand, depth + 1)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else operand
            return _unknown(node, operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.value(node.left, depth + 1), self.value(node.right, depth + 1)
            if _number(left) and _number(right):
                try:
                    result = _BINARY[type(node.op)](left, right)
                except (ZeroDivisionError, OverflowError):
                    return Unknown((spelling(node),))
                return result if abs(result) <= MAX_NUMBER else Unknown((spelling(node),))
            return _unknown(node, left, right)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left, right = self.value(node.left, depth + 1), self.value(node.comparators[0], depth + 1)
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return _unknown(node, left, right)
            try:
                return _COMPARE[type(node.ops[0])](left, right)
            except TypeError:
                return Unknown((spelling(node),))
        if isinstance(node, ast.IfExp):  # `0 if n_layers < 2 else dropout`
            test = self.value(node.test, depth + 1)
            if isinstance(test, Unknown):
                return test
            return self.value(node.body if test else node.orelse, depth + 1)
        if isinstance(node, ast.BoolOp):
            values = [self.value(v, depth + 1) for v in node.values]
            if any(isinstance(v, Unknown) for v in values):
                return _unknown(node, *values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self.value(node.operand, depth + 1)
            return operand if isinstance(operand, Unknown) else not operand
        if isinstance(node, ast.Subscript):
            container, key = self.value(node.value, depth + 1), self.value(node.slice, depth + 1)
            if isinstance(container, dict) and not isinstance(key, Unknown) and key in container:
                return container[key]
            return Unknown((spelling(node),))
        if isinstance(node, ast.Dict):
            keys = [self.value(k, depth + 1) if k is not None else None for k in node.keys]
            values = [self.value(v, depth + 1) for v in node.values]
            if all(isinstance(k, (str, int)) for k in keys):
                return dict(zip(keys, values, strict=True))
        if isinstance(node, ast.Attribute):
            owner = self.value(node.value, depth + 1)
            if isinstance(owner, dict) and node.attr in owner:  # a config object written as a dict
                return owner[node.attr]
        return Unknown((spelling(node),))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_NUMBER


def _unknown(node: ast.AST, *parts: Any) -> Unknown:
    """What an expression needs: its unknown parts' names (`hidden_size` of `hidden_size * 2`)."""
    needs = tuple(name for part in parts if isinstance(part, Unknown) for name in part.needs)
    return Unknown(needs or (spelling(node),))


def needs(value: Any) -> tuple[str, ...]:
    """Every name a value (or a tuple of them) still needs."""
    if isinstance(value, Unknown):
        return value.needs
    if isinstance(value, tuple):
        return tuple(name for part in value for name in needs(part))
    return ()

"""Reading untrusted JSON values: every problem collected with the path of its field, values quoted safely."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any


class SpecError(ValueError):
    """An architecture that cannot be read. `problems` lists every one found, each naming its field."""

    def __init__(self, problems: list[str] | tuple[str, ...]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


MAX_SHOWN_CHARS = 40  # of a value or key from the user, quoted in a message
MAX_PROBLEMS_SHOWN = 10


def describe(value: Any) -> str:
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


def key_text(key: str) -> str:
    """A key as a path shows it: `colour` as it is, anything else quoted like a value."""
    return key if _PLAIN_KEY.fullmatch(key) else describe(key)


def problems_text(problems: tuple[str, ...] | list[str], separator: str = "; ") -> str:
    """The problems of one input joined, the first MAX_PROBLEMS_SHOWN of them and a count of the rest."""
    shown = separator.join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    return shown + (f"{separator}… and {hidden:,} more" if hidden > 0 else "")


class Reader:
    """Collects problems instead of stopping at the first, so a user fixes a file in one pass."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, requirement: str, value: Any) -> None:
        self.problems.append(f"{path} must be {requirement}, received {describe(value)}")

    def obj(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "an object", value)
            return None
        unknown = [k for k in value if k not in allowed]
        for key in unknown:
            self.problems.append(f"{path}.{key_text(key)} is not a known key (known: {', '.join(allowed)})")
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

    def fraction(self, value: Any, path: str) -> float | None:
        """A rate: a number from 0 up to (not including) 1."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            self.fail(path, "a number from 0 up to (not including) 1", value)
            return None
        return float(value)

    def choice(self, value: Any, path: str, options: Mapping[str, Any], shown: str) -> Any:
        # ASCII only: upper() maps lookalikes onto the real letters ("ſimpleRNN", "lſtm", "sıgmoıd").
        found = options.get(value.upper()) if isinstance(value, str) and value.isascii() else None
        if found is None:
            self.fail(path, f"one of {shown}", value)
        return found

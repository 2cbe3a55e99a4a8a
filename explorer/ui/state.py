"""The page's state: one Architecture in st.session_state, mirrored into widget keys and the URL.

Every change, from a widget, a button, a preset, a link or a file, goes through `apply`: it is
validated by explorer's parser; a change that fails leaves the last good architecture in place and
shows why. Widgets are rendered from their keys only, and `store` rewrites those keys, so a Fix or a
reorder never leaves a widget showing a stale value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from explorer.edit import validated
from explorer.layers.base import ChoiceField, FieldRule, Layer
from explorer.layers.recurrent import CellType, RecurrentLayer
from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.share import decode, encode
from explorer.spec import Architecture, Limits, SpecError, parse_architecture, problems_text

ARCH = "arch"
NOTICE = "notice"
REFUSED = "refused"  # {widget key: why the value typed there was refused}, shown next to that widget
LINK_PARAM = "a"
RUN_PARAM = "run"  # while a run trains on a cluster: another server of the site follows it from the address
NO_ACTIVATION = "none"  # an optional choice (an activation, ...) left empty, as its select shows it


def layer_key(index: int, field: str) -> str:
    return f"layer{index}.{field}"


CELL_RULE = ChoiceField(CellType, help="the cell: LSTM, GRU or a simple RNN")


def editor_rules(layer: Layer) -> list[tuple[str, FieldRule]]:
    """The fields the editor shows for a layer, with their rules: a recurrent layer's cell type first."""
    return ([("type", CELL_RULE)] if isinstance(layer, RecurrentLayer) else []) + layer.rules()


def to_widget(rule: FieldRule, value: Any) -> Any:
    """A field's value as its widget holds it: an enum by its name, an empty choice as "none"."""
    if isinstance(rule, ChoiceField):
        return NO_ACTIVATION if value is None else value.value
    return value


def from_widget(rule: FieldRule, raw: Any) -> Any:
    if isinstance(rule, ChoiceField):
        return None if raw == NO_ACTIVATION else rule.options(raw)
    return raw


@st.cache_resource
def limits() -> Limits:
    return Limits.from_env()


def current() -> Architecture:
    return st.session_state[ARCH]


def store(arch: Architecture) -> None:
    state = st.session_state
    state[ARCH] = arch
    state["input.tokens"] = arch.input.tokens
    state["input.features"] = arch.input.features or 10
    state["input.variable"] = arch.input.seq_len is None
    state["input.seq_len"] = arch.input.seq_len or 20
    state["input.open_batch"] = arch.input.batch is None
    state["input.batch"] = arch.input.batch or 4
    state["head.on"] = arch.head is not None
    state["head.units"] = arch.head.units if arch.head else 5
    state["head.bias"] = arch.head.bias if arch.head else True
    activation = arch.head.activation if arch.head else None
    state["head.activation"] = activation.value if activation else NO_ACTIVATION
    for i, layer in enumerate(arch.layers):
        for field, rule in editor_rules(layer):
            state[layer_key(i, field)] = to_widget(rule, getattr(layer, field))
    st.query_params[LINK_PARAM] = encode(arch)


def notify(kind: str, text: str) -> None:
    st.session_state[NOTICE] = (kind, text)


_FIELD_PATH = re.compile(r"^(layers\[\d+\]|input|head)\.")


def apply(change: Callable[[Architecture], Architecture], done: str | None = None, field_key: str = "") -> None:
    """Run an edit; keep the last good architecture when the result does not pass the checks.

    A change typed into one field (`field_key`) is refused next to that field, the rest at the top of the page."""
    st.session_state.pop(REFUSED, None)
    try:
        arch = validated(change(current()), limits())
    except (SpecError, ValueError, TypeError) as exc:
        problems = exc.problems if isinstance(exc, SpecError) else (str(exc),)
        if field_key:
            said = problems_text([_FIELD_PATH.sub("", p) for p in problems])
            st.session_state[REFUSED] = {field_key: f"Not applied: {said}. The last good value stays."}
        else:
            notify(
                "error", f"That change was not applied: {problems_text(problems)}. The last good architecture stays."
            )
        store(current())  # put the widgets back to what is really in place
        return
    store(arch)
    if done:
        notify("success", done)


def field_error(key: str) -> str | None:
    return st.session_state.get(REFUSED, {}).get(key)


def load_text(raw: bytes | str, source: str) -> None:
    """A file or pasted JSON: same parser, same limits as the CLI."""
    try:
        arch = parse_architecture(raw, limits())
    except SpecError as exc:
        notify("error", f"{source} was not loaded: {problems_text(exc.problems)}. The current architecture stays.")
        return
    store(arch)
    notify("success", f"{source} loaded.")


def init() -> None:
    """First run of a session: the architecture from the link if it has a good one, else the default."""
    if ARCH in st.session_state:
        return
    st.session_state[ARCH] = load_preset(DEFAULT_PRESET)
    link = st.query_params.get(LINK_PARAM)
    if link is None:
        store(current())
        return
    try:
        store(decode(link, limits()))
    except SpecError as exc:
        store(current())
        notify("error", f"The link's architecture was not loaded: {problems_text(exc.problems)}. Showing the default.")

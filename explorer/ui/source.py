"""The "Your model" panel: paste Keras or PyTorch code (or upload a .py), answer the sizes it leaves open, Import.

The code is read by explorer.importer with `ast` and never run. The imported architecture goes through
state.apply like every other change; what was left out is listed, by line, in the notice.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.explain import explain
from explorer.importer import InputOverrides, SourceError, import_source, parse_setting, setting_name
from explorer.literal import markdown_literal
from explorer.spec import problems_text
from explorer.ui import state
from explorer.userdata import safe_name

OPEN_NAMES = "source.open"  # the names the last import asked for: one field each
MODELS = "source.models"  # the models the last imported source defines: the user may pick another
MAX_SHOWN_SKIPPED = 8


def _answers() -> tuple[dict[str, Any], InputOverrides]:
    """The values typed for the open names; `features` is the input's, the rest are settings."""
    settings: dict[str, Any] = {}
    features = None
    for n, name in enumerate(st.session_state.get(OPEN_NAMES, ())):
        raw = str(st.session_state.get(f"source.value{n}", "")).strip()
        if not raw:
            continue
        value = parse_setting(raw)
        if name == "features" and isinstance(value, int):
            features = value
        else:
            settings[setting_name(name)] = value
    return settings, InputOverrides(features=features)


def _source_text() -> bytes | str:
    upload = st.session_state.get("source.upload")
    return upload.getvalue() if upload is not None else st.session_state.get("source.text", "")


def _import() -> None:
    settings, inputs = _answers()
    model = st.session_state.get("source.model") or None
    if model not in st.session_state.get(MODELS, ()):
        model = None  # the pick of an earlier source
    try:
        result = import_source(_source_text(), model, settings, inputs, state.limits())
    except SourceError as exc:
        state.notify("error", f"The code was not imported: {exc}. The current architecture stays.")
        return
    st.session_state[MODELS] = result.models
    if result.architecture is None:
        st.session_state[OPEN_NAMES] = result.unresolved
        names = problems_text(list(result.unresolved), ", ")
        state.notify("info", f"The code leaves these open: {names}. Give each a value below, then Import again.")
        return
    st.session_state[OPEN_NAMES] = ()
    skipped = [f"line {s.line}: {s.reason}" for s in result.skipped]
    left_out = ""
    if skipped:
        shown = "; ".join(skipped[:MAX_SHOWN_SKIPPED])
        more = f"; and {len(skipped) - MAX_SHOWN_SKIPPED} more" if len(skipped) > MAX_SHOWN_SKIPPED else ""
        left_out = f" Not imported, or to check: {shown}{more}."
    architecture = result.architecture
    state.apply(lambda _: architecture, f"Imported {result.model} ({result.framework}).{left_out}")


def source_panel() -> None:
    with st.expander("Your model: paste Keras or PyTorch code (read, never run)"):
        st.text_area(
            "Code",
            key="source.text",
            height=200,
            placeholder="model = keras.Sequential([...])   or   class Net(nn.Module): ...",
            help="Parsed with Python's ast: nothing in it runs. Sizes it leaves open are asked for below.",
        )
        st.file_uploader("Or upload a .py file", type=["py"], key="source.upload")
        upload = st.session_state.get("source.upload")
        if upload is not None:
            st.caption(markdown_literal(f"Reading {safe_name(upload.name)} (clear it to use the pasted code)."))
        open_names = st.session_state.get(OPEN_NAMES, ())
        for n, name in enumerate(open_names):
            st.text_input(
                markdown_literal(f"Value of {name}"),  # a label renders markdown: the name as the source spells it
                key=f"source.value{n}",
                help="A number, true/false, or a word (e.g. GRU)",
            )
        columns = st.columns([2, 1], vertical_alignment="bottom")
        models = st.session_state.get(MODELS, ())
        if len(models) > 1:  # the source defines several: the last is imported unless another is picked
            columns[0].selectbox("Model", models, index=len(models) - 1, key="source.model")
        columns[1].button("Import", key="source.import", type="primary", on_click=_import)


EXPLANATION = "explain.result"


def _explain() -> None:
    text = str(st.session_state.get("explain.text", ""))
    st.session_state[EXPLANATION] = explain(state.current(), text) if text.strip() else None


def explain_box() -> None:
    """Paste a PyTorch or Keras shape error: the layer it points to here, what it expected and got, the fix."""
    with st.expander("Explain an error message (PyTorch or Keras)"):
        st.text_area(
            "Error message",
            key="explain.text",
            height=100,
            placeholder="RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x640 and 64x5)",
        )
        st.button("Explain", key="explain.go", on_click=_explain)
        found = st.session_state.get(EXPLANATION)
        if found is None:
            return
        if not found.recognised:
            st.info(markdown_literal(found.message))
            return
        where = f"**Layer {found.layer}**: " if found.layer is not None else ""
        lines = [where + markdown_literal(found.message)]
        lines.append(f"**Expected** {markdown_literal(found.expected or '')}, **received** "
                     f"{markdown_literal(found.received or '')}.")  # fmt: skip
        if found.fix:
            lines.append(f"**Fix:** {markdown_literal(found.fix)}")
        st.warning("\n\n".join(lines))

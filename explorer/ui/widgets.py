"""Streamlit rendering: every widget has a key, every change goes through state.apply."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace

import pandas
import streamlit as st

from explorer.analysis import Analysis, Diagnostic, Severity, apply_fix
from explorer.codegen import keras_code, pytorch_code
from explorer.edit import add_layer_explained, inserted, moved, removed, set_field
from explorer.graph import architecture_graph, dot_binary, render_svg, unrolled_graph
from explorer.layers.base import BoolField, FieldRule, IntField, RateField
from explorer.layers.registry import CANONICAL, canonical_kind
from explorer.literal import markdown_literal
from explorer.presets import PRESETS, load_preset
from explorer.report import summary_rows
from explorer.spec import Activation, Dense, InputSpec, Limits, architecture_to_json
from explorer.ui import state
from explorer.userdata import safe_name


def _layers_change(change) -> None:
    state.apply(lambda arch: replace(arch, layers=change(arch.layers)))


def _field_changed(index: int, field: str) -> None:
    raw = st.session_state[state.layer_key(index, field)]
    rule = dict(state.editor_rules(state.current().layers[index]))[field]
    state.apply(lambda arch: set_field(arch, index, field, state.from_widget(rule, raw)))


def _input_changed() -> None:
    s = st.session_state
    spec = InputSpec(
        features=None if s["input.tokens"] else s["input.features"],
        seq_len=None if s["input.variable"] else s["input.seq_len"],
        batch=None if s["input.open_batch"] else s["input.batch"],
        tokens=s["input.tokens"],
    )
    state.apply(lambda arch: replace(arch, input=spec))


def _head_changed() -> None:
    s = st.session_state
    activation = None if s["head.activation"] == state.NO_ACTIVATION else Activation(s["head.activation"])
    head = Dense(s["head.units"], activation, s["head.bias"]) if s["head.on"] else None
    state.apply(lambda arch: replace(arch, head=head))


def _upload_changed() -> None:
    upload = st.session_state.get("upload")
    if upload is not None:
        state.load_text(upload.getvalue(), f"The file {safe_name(upload.name)}")


def sidebar() -> None:
    limits = state.limits()
    with st.sidebar:
        st.header("Presets")
        st.selectbox("Preset", list(PRESETS), key="preset")
        st.button(
            "Load preset",
            key="load_preset",
            on_click=lambda: state.apply(lambda _: load_preset(st.session_state["preset"]), "Preset loaded."),
        )
        st.header("Input")
        st.checkbox(
            "Token ids (read by an Embedding)",
            key="input.tokens",
            on_change=_input_changed,
            help="Integer ids (batch, time) instead of real-valued features: the first layer must be an Embedding.",
        )
        tokens = st.session_state["input.tokens"]
        st.number_input(
            "Features", 1, limits.max_features, key="input.features", on_change=_input_changed, disabled=tokens
        )
        st.checkbox("Variable length (padded batch with lengths)", key="input.variable", on_change=_input_changed)
        variable = st.session_state["input.variable"]
        st.number_input(
            "Sequence length", 1, limits.max_seq_len, key="input.seq_len", on_change=_input_changed, disabled=variable
        )
        st.checkbox("Batch unspecified", key="input.open_batch", on_change=_input_changed)
        open_batch = st.session_state["input.open_batch"]
        st.number_input("Batch", 1, limits.max_batch, key="input.batch", on_change=_input_changed, disabled=open_batch)
        st.header("Head")
        st.checkbox("Dense head", key="head.on", on_change=_head_changed)
        no_head = not st.session_state["head.on"]
        st.number_input("Head units", 1, limits.max_units, key="head.units", on_change=_head_changed, disabled=no_head)
        activations = [state.NO_ACTIVATION] + [a.value for a in Activation]
        st.selectbox("Activation", activations, key="head.activation", on_change=_head_changed, disabled=no_head)
        st.checkbox("Head bias", key="head.bias", on_change=_head_changed, disabled=no_head)
        st.header("Save and share")
        st.caption("The address bar holds the whole architecture: copy the link to share it.")
        st.download_button(
            "Download architecture (JSON)",
            architecture_to_json(state.current()),
            file_name="architecture.json",
            mime="application/json",
            key="download_json",
        )
        st.file_uploader("Load an architecture file", type=["json"], key="upload", on_change=_upload_changed)


def _add(index: int) -> None:
    """A new layer of the picker's kind at `index`; the notice says what else changed to keep the stack working."""
    arch, done = add_layer_explained(state.current(), index, st.session_state["new_layer_type"])
    state.apply(lambda _: arch, done)


def _layer_actions(i: int) -> list[tuple[str, str, str, Callable[[], None]]]:
    """(material icon, key suffix, tooltip, callback) for the buttons of layer i."""
    return [
        ("arrow_upward", "up", "Move up", lambda: _layers_change(lambda ls: moved(ls, i, -1))),
        ("arrow_downward", "down", "Move down", lambda: _layers_change(lambda ls: moved(ls, i, 1))),
        ("content_copy", "duplicate", "Duplicate", lambda: _layers_change(lambda ls: inserted(ls, i + 1, ls[i]))),
        (
            "add",
            "insert",
            "Add a layer of the type chosen under 'New layer' after this one",
            lambda: _add(i + 1),
        ),
        ("delete", "remove", "Remove", lambda: _layers_change(lambda ls: removed(ls, i))),
    ]


def _field_widget(column, i: int, name: str, rule: FieldRule, limits: Limits) -> None:
    """The widget a field's rule calls for: a number box within its limits, a toggle or a select."""
    common = {
        "key": state.layer_key(i, name),
        "on_change": _field_changed,
        "args": (i, name),
        "help": rule.help or None,
    }
    label = "cell" if name == "type" else name
    if isinstance(rule, IntField):
        column.number_input(label, rule.low, rule.bound(limits), step=1, placeholder="none", **common)
    elif isinstance(rule, RateField):
        column.number_input(label, 0.0, 0.95, step=0.05, **common)
    elif isinstance(rule, BoolField):
        column.toggle(label, **common)
    else:
        options = [str(o.value) for o in rule.options]
        column.selectbox(label, [state.NO_ACTIVATION, *options] if rule.optional else options, **common)


def _fields(i: int, rules: list[tuple[str, FieldRule]], limits: Limits) -> None:
    for start in range(0, len(rules), 2):
        columns = st.columns(2)
        for column, (name, rule) in zip(columns, rules[start : start + 2], strict=False):
            _field_widget(column, i, name, rule, limits)


def _kind_label(name: str) -> str:
    """`Convolution and pooling · Conv1D`: the picker's options, grouped by what they are for."""
    return f"{canonical_kind(name)[0].GROUP.value} · {name}"


def layer_editor() -> None:
    arch, limits = state.current(), state.limits()
    st.subheader("Layers")
    for i, layer in enumerate(arch.layers):
        with st.container(border=True):
            top = st.columns([8, 1, 1, 1, 1, 1], vertical_alignment="bottom")
            top[0].markdown(f"**Layer {i + 1}** · {markdown_literal(layer.title())}", help=layer.SUMMARY or None)
            for column, (icon, name, tip, action) in zip(top[1:], _layer_actions(i), strict=True):
                column.button("", icon=f":material/{icon}:", key=f"layer{i}.{name}", help=tip, on_click=action)
            rules = state.editor_rules(layer)
            _fields(i, [(n, r) for n, r in rules if n not in layer.ADVANCED], limits)
            advanced = [(n, r) for n, r in rules if n in layer.ADVANCED]
            if advanced:
                with st.expander("More options"):
                    _fields(i, advanced, limits)
    add = st.columns([2, 1], vertical_alignment="bottom")
    add[0].selectbox("New layer", CANONICAL, key="new_layer_type", format_func=_kind_label)
    add[1].button(
        "Add layer",
        key="add_layer",
        on_click=lambda: _add(len(state.current().layers)),
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _svg(dot_source: str, binary: str | None) -> bytes | None:
    if binary is None:
        return None
    try:
        return render_svg(dot_source, binary)
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return None


def graph_panel(analysis: Analysis) -> None:
    options = st.columns(2)
    unrolled = options[0].toggle("Unrolled in time", key="view.unrolled")
    show_states = options[1].toggle("Show h_n / c_n", key="view.states", disabled=unrolled)
    graph = unrolled_graph(analysis) if unrolled else architecture_graph(analysis, show_states)
    svg = _svg(graph.source, dot_binary())
    if svg is None:
        st.graphviz_chart(graph.source)  # laid out in the browser: slower, but needs no program here
    else:
        # Laid out on the server (a few ms) and inlined: redraws several times faster than
        # st.graphviz_chart's in-browser layout. Safe as HTML: every label is numbers and enum names.
        text = svg.decode()
        # Graphviz sizes the SVG in points; let it shrink to the column instead of overflowing it.
        inline = text[text.index("<svg") :].replace("<svg ", '<svg style="max-width: 100%; height: auto" ', 1)
        st.markdown(f'<div class="dataflow">{inline}</div>', unsafe_allow_html=True)
    downloads = st.columns(2)
    view = "unrolled" if unrolled else "architecture"  # the file is named after the view drawn
    downloads[0].download_button("Graph (DOT)", graph.source, file_name=f"{view}.gv", key="download_dot")
    if svg is None:
        downloads[1].caption("SVG download needs graphviz-pure (pip) or Graphviz's dot on the server.")
    else:
        downloads[1].download_button(
            "Graph (SVG)", svg, file_name=f"{view}.svg", mime="image/svg+xml", key="download_svg"
        )


def diagnostic_list(found: Sequence[Diagnostic], key_prefix: str) -> None:
    """Each diagnostic with its fix in words and, where it has one, a button that applies it."""
    for n, d in enumerate(found):
        show = st.error if d.severity is Severity.ERROR else st.warning
        columns = st.columns([6, 1])
        with columns[0]:
            message, fix = markdown_literal(d.message), markdown_literal(d.fix)
            show(f"**{d.severity.value.capitalize()}**: {message}\n\n**Fix:** {fix}")
        if d.action is not None:
            columns[1].button(
                "Fix",
                key=f"{key_prefix}{n}",
                type="primary",
                on_click=lambda a=d.action: state.apply(lambda arch: apply_fix(arch, a), "Fixed."),
            )


def summary(analysis: Analysis) -> None:
    layers = summary_rows(analysis)
    rows = [
        {
            "#": str(r.index),
            "Layer": r.title,
            "Output shape": r.output_shape,
            "Params PyTorch": r.params_torch,
            "Params Keras": r.params_keras,
            "Notes": r.notes,
        }
        for r in layers
    ]
    rows.append(
        {
            "#": "",
            "Layer": "Total",
            "Output shape": "",
            "Params PyTorch": analysis.total_params_torch,
            "Params Keras": analysis.total_params_keras,
            "Notes": "",
        }
    )
    # A static table, not st.dataframe: its cells wrap, so the notes (what each layer hands on, and why) are
    # read whole instead of cut at the column's edge. The layer number is the index: no extra 0, 1, 2 column.
    # Plain numbers: a pandas Styler for thousands separators would cost 4 ms more on every rerun.
    st.table(pandas.DataFrame(rows).set_index("#"), border="horizontal")
    with st.expander("How the parameters add up, and why PyTorch and Keras count differently"):
        explanation = (
            "Each gate has input weights (units × features in), recurrent weights (units × units) and b bias "
            "vectors of units each. PyTorch keeps two (`bias_ih`, `bias_hh`), Keras one, except its GRU "
            "(`reset_after=True`, the default). The shapes are the same; only the biases differ."
        )
        formulas = [f"{r.index}. `{r.title}`: {r.params_formula}" for r in layers]
        st.markdown("\n\n".join([explanation, *formulas]))  # one element, not one per layer, on every rerun


def code(analysis: Analysis) -> None:
    if not analysis.valid:
        st.info("Fix the errors above to get PyTorch and Keras code.")
        return
    arch = analysis.architecture
    for tab, (name, source, file_name) in zip(
        st.tabs(["PyTorch", "Keras"]),
        [("pytorch", pytorch_code(arch), "stacked_rnn_torch.py"), ("keras", keras_code(arch), "stacked_rnn_keras.py")],
        strict=True,
    ):
        with tab:
            st.code(source, language="python")
            st.download_button(f"Download {file_name}", source, file_name=file_name, key=f"download_{name}")


def notice() -> None:
    found = st.session_state.pop(state.NOTICE, None)
    if found:
        kind, text = found
        show = {"error": st.error, "info": st.info}.get(kind, st.success)
        show(markdown_literal(text))  # a notice may quote a key or value from a link or file: shown as typed

"""Streamlit rendering: every widget has a key, every change goes through state.apply."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pandas
import streamlit as st

from explorer.analysis import Analysis, Diagnostic, Severity, apply_fix
from explorer.codegen import keras_code, pytorch_code
from explorer.edit import add_layer_explained, inserted, moved, removed, set_field
from explorer.graph import NOTHING_HIDDEN, Hidden, architecture_graph, dot_binary, render_svg, sized_svg, unrolled_graph
from explorer.layers.base import BoolField, FieldRule, IntField, RateField
from explorer.layers.registry import CANONICAL, canonical_kind
from explorer.literal import markdown_literal
from explorer.presets import PRESETS, SHORT_NAMES, load_preset
from explorer.report import summary_rows
from explorer.shapes import shape_label
from explorer.spec import Activation, Dense, InputSpec, architecture_to_json
from explorer.ui import legend, state
from explorer.userdata import safe_name


def _layers_change(change) -> None:
    state.apply(lambda arch: replace(arch, layers=change(arch.layers)))


def _field_changed(index: int, field: str) -> None:
    key = state.layer_key(index, field)
    rule = dict(state.editor_rules(state.current().layers[index]))[field]
    value = state.from_widget(rule, st.session_state[key])
    state.apply(lambda arch: set_field(arch, index, field, value), field_key=key)


def _input_changed(key: str = "") -> None:
    s = st.session_state
    spec = InputSpec(
        features=None if s["input.tokens"] else s["input.features"],
        seq_len=None if s["input.variable"] else s["input.seq_len"],
        batch=None if s["input.open_batch"] else s["input.batch"],
        tokens=s["input.tokens"],
    )
    state.apply(lambda arch: replace(arch, input=spec), field_key=key)


def _head_changed(key: str = "") -> None:
    s = st.session_state
    activation = None if s["head.activation"] == state.NO_ACTIVATION else Activation(s["head.activation"])
    head = Dense(s["head.units"], activation, s["head.bias"]) if s["head.on"] else None
    state.apply(lambda arch: replace(arch, head=head), field_key=key)


def _upload_changed() -> None:
    upload = st.session_state.get("upload")
    if upload is not None:
        state.load_text(upload.getvalue(), f"The file {safe_name(upload.name)}")


def _bounded_number(label: str, key: str, changed: Callable[[str], None], disabled: bool) -> None:
    """A whole-number box bounded by explorer's parser, not the browser: a refused value is said under it."""
    st.number_input(label, step=1, key=key, on_change=changed, args=(key,), disabled=disabled)
    refused = state.field_error(key)
    if refused:
        st.error(markdown_literal(refused))


def sidebar() -> None:
    with st.sidebar:
        st.header("Presets")
        st.selectbox("Preset", list(PRESETS), key="preset", format_func=SHORT_NAMES.__getitem__)
        st.caption(st.session_state["preset"])  # the full name: what the preset holds
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
        _bounded_number("Features", "input.features", _input_changed, disabled=tokens)
        st.checkbox(
            "Variable length (padded batch with lengths)",
            key="input.variable",
            on_change=_input_changed,
            help="Sequences of different lengths, zero-padded to the longest: the time axis has no size (the graph "
            "writes just 'time'), and each sequence's length travels with it.",
        )
        _bounded_number("Sequence length", "input.seq_len", _input_changed, disabled=st.session_state["input.variable"])
        st.checkbox(
            "Batch unspecified",
            key="input.open_batch",
            on_change=_input_changed,
            help="Any number of examples at once, as in Keras' summary (the graph writes just 'batch').",
        )
        _bounded_number("Batch", "input.batch", _input_changed, disabled=st.session_state["input.open_batch"])
        st.header("Head")
        st.checkbox(
            "Dense head",
            key="head.on",
            on_change=_head_changed,
            help="A last fully connected layer (nn.Linear, keras Dense) that turns what the stack hands on into "
            "the outputs: the last box of the graph.",
        )
        no_head = not st.session_state["head.on"]
        _bounded_number("Head units", "head.units", _head_changed, disabled=no_head)
        activations = [state.NO_ACTIVATION] + [a.value for a in Activation]
        st.selectbox(
            "Activation",
            activations,
            key="head.activation",
            on_change=_head_changed,
            disabled=no_head,
            help="What the head applies to its outputs: softmax for class probabilities, none for numbers.",
        )
        st.checkbox(
            "Head bias",
            key="head.bias",
            on_change=_head_changed,
            disabled=no_head,
            help="A bias added to each output: units more parameters in the head's box.",
        )
        st.header("Save and share")
        st.caption("The address bar holds the whole architecture: copy the link to share it.")
        if state.RUN_PARAM in st.query_params:
            # A run's id is a key to it: whoever opens the address follows the run, and may stop it.
            shared = {key: value for key, value in st.query_params.items() if key != state.RUN_PARAM}
            st.caption("While your run trains on the cluster, the address names it too. To share the stack alone:")
            st.code(f"{st.context.url}?{urlencode(shared)}", language=None, wrap_lines=True)
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
    """(label, key suffix, tooltip, callback) for the buttons of layer i: words, which a screen reader reads as
    they are (an icon is announced by its name, "arrow_upward icon")."""
    return [
        ("Up", "up", "Move this layer one place up", lambda: _layers_change(lambda ls: moved(ls, i, -1))),
        ("Down", "down", "Move this layer one place down", lambda: _layers_change(lambda ls: moved(ls, i, 1))),
        ("Duplicate", "duplicate", "A copy of this layer after it", lambda: _dup(i)),
        ("Insert", "insert", "Add a layer of the type chosen under 'New layer' after this one", lambda: _add(i + 1)),
        ("Remove", "remove", "Remove this layer", lambda: _layers_change(lambda ls: removed(ls, i))),
    ]


def _dup(i: int) -> None:
    _layers_change(lambda ls: inserted(ls, i + 1, ls[i]))


# px: "return_sequences" and its toggle on one line, in normal and in presentation type; fields wrap to the pane
FIELD_WIDTH = {False: 180, True: 200}


def _field_widget(i: int, name: str, rule: FieldRule, width: int) -> None:
    """The widget a field's rule calls for. Number boxes have no bounds of their own: a browser-side bound refuses
    silently (a red box and a "!"), while explorer's parser says what the limits are (see `_fields`)."""
    key = state.layer_key(i, name)
    common: dict[str, Any] = {"key": key, "on_change": _field_changed, "args": (i, name), "help": rule.help or None}
    label = "cell" if name == "type" else name
    if isinstance(rule, IntField):
        st.number_input(label, step=1, placeholder="none", width=width, **common)
    elif isinstance(rule, RateField):
        st.number_input(label, step=0.05, format="%.2f", width=width, **common)
    elif isinstance(rule, BoolField):
        st.toggle(label, width=width, **common)
    else:
        options = [str(o.value) for o in rule.options]
        st.selectbox(label, [state.NO_ACTIVATION, *options] if rule.optional else options, width=width, **common)


def _fields(i: int, rules: list[tuple[str, FieldRule]], condensed: bool = False) -> None:
    """The fields in a row that wraps to the card's width; under it, in words, why a value typed was refused."""
    with st.container(horizontal=True, gap="small"):
        for name, rule in rules:
            _field_widget(i, name, rule, FIELD_WIDTH[condensed])
    for name, _ in rules:
        refused = state.field_error(state.layer_key(i, name))
        if refused:
            st.error(markdown_literal(refused))


def _kind_label(name: str) -> str:
    """`Convolution and pooling · Conv1D`: the picker's options, grouped by what they are for."""
    return f"{canonical_kind(name)[0].GROUP.value} · {name}"


def layer_editor(condensed: bool = False) -> None:
    """A card per layer. Condensed (presentation mode): the fields only, without moving, copying or adding."""
    arch = state.current()
    st.subheader("Layers", anchor=False)
    for i, layer in enumerate(arch.layers):
        with st.container(border=True, key=f"card{i}"):
            st.markdown(f"**Layer {i + 1}** · {markdown_literal(layer.title())}", help=layer.SUMMARY or None)
            if not condensed:
                with st.container(horizontal=True, gap="small"):
                    for label, name, tip, action in _layer_actions(i):
                        st.button(label, key=f"layer{i}.{name}", help=tip, on_click=action, type="tertiary")
            rules = state.editor_rules(layer)
            _fields(i, [(n, r) for n, r in rules if n not in layer.ADVANCED], condensed)
            advanced = [(n, r) for n, r in rules if n in layer.ADVANCED]
            if advanced and not condensed:
                with st.expander("More options"):
                    _fields(i, advanced)
    if condensed:
        return
    with st.container(horizontal=True, vertical_alignment="bottom", key="add_row"):
        st.selectbox("New layer", CANONICAL, key="new_layer_type", format_func=_kind_label, width=280)
        st.button("Add layer", key="add_layer", on_click=lambda: _add(len(state.current().layers)))


@st.cache_data(max_entries=256, show_spinner=False)
def _svg(dot_source: str, binary: str | None) -> bytes | None:
    if binary is None:
        return None
    try:
        return render_svg(dot_source, binary)
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return None


ZOOMS = {"1×": 1.0, "1.5×": 1.5, "2×": 2.0}


def graph_panel(analysis: Analysis, min_label_px: float, hidden: Hidden = NOTHING_HIDDEN) -> None:
    """The graph with its switches, legend and downloads; `hidden`: the labels a lesson keeps back for now."""
    options = st.container(horizontal=True, vertical_alignment="center", key="graph_options")
    unrolled = options.toggle(
        "Unrolled in time",
        key="view.unrolled",
        help="Draws each layer once per time step, as the loop really runs: arrows to the right carry the state "
        "from one step to the next.",
    )
    if hidden.states is not None:
        st.session_state["view.states"] = True  # the lesson asks about a final state: it is drawn, as "?"
    show_states = options.toggle(
        "Show h_n / c_n",
        key="view.states",
        disabled=unrolled or hidden.states is not None,
        help="Adds the final states each recurrent layer returns beside its output (dashed grey boxes): PyTorch's "
        "h_n (and c_n for an LSTM), shaped (num_layers × directions, batch, units).",
    )
    zoom = options.segmented_control(
        "Zoom", list(ZOOMS), key="view.zoom", help="Larger text for a projector: the graph scrolls where it is wider."
    )
    # The unrolled view has no labels a lesson asks about; it shows no shapes.
    graph = unrolled_graph(analysis) if unrolled else architecture_graph(analysis, show_states, hidden)
    svg = _svg(graph.source, dot_binary())
    if svg is None:
        st.graphviz_chart(graph.source)  # laid out in the browser: slower, but needs no program here
    else:
        # Laid out on the server (a few ms) and inlined: redraws several times faster than
        # st.graphviz_chart's in-browser layout. Safe as HTML: every label is numbers and enum names.
        inline = sized_svg(svg.decode(), min_label_px * ZOOMS.get(zoom or "", 1.0))
        st.markdown(f'<div class="dataflow">{inline}</div>', unsafe_allow_html=True)
    legend.graph_legend(analysis, unrolled, show_states and not unrolled)
    downloads = st.container(horizontal=True, vertical_alignment="center")
    view = "unrolled" if unrolled else "architecture"  # the file is named after the view drawn
    downloads.download_button("Graph (DOT)", graph.source, file_name=f"{view}.gv", key="download_dot")
    if svg is None:
        downloads.caption("SVG download needs graphviz-pure (pip) or Graphviz's dot on the server.")
    else:
        downloads.download_button("Graph (SVG)", svg, file_name=f"{view}.svg", mime="image/svg+xml", key="download_svg")


def diagnostics(analysis: Analysis) -> None:
    """The diagnostics where the eye is, beside the graph, each with its Fix button."""
    if not analysis.diagnostics:
        st.markdown(":green-badge[:material/check: No problems: this stack works]")
        return
    diagnostic_list(analysis.diagnostics, "fix")


def diagnostic_list(found: Sequence[Diagnostic], key_prefix: str) -> None:
    """Each diagnostic with its fix in words and, where it has one, a button that applies it."""
    for n, d in enumerate(found):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        show = row.error if d.severity is Severity.ERROR else row.warning
        message, fix = markdown_literal(d.message), markdown_literal(d.fix)
        show(f"**{d.severity.value.capitalize()}**: {message}\n\n**Fix:** {fix}")
        if d.action is not None:
            row.button(
                "Fix",
                key=f"{key_prefix}{n}",
                type="primary",
                on_click=lambda a=d.action: state.apply(lambda arch: apply_fix(arch, a), "Fixed."),
            )


def summary(analysis: Analysis) -> None:
    layers = summary_rows(analysis)
    # Written as the graph writes them: (batch=4, time=20, features=64) and 19,456.
    rows = [
        {
            "#": str(r.index),
            "Layer": r.title,
            "Output shape": shape_label(info.output_shape),
            "Params PyTorch": f"{r.params_torch:,}",
            "Params Keras": f"{r.params_keras:,}",
            "Notes": r.notes,
        }
        for r, info in zip(layers, analysis.layers, strict=True)
    ]
    rows.append(
        {
            "#": "",
            "Layer": "Total",
            "Output shape": "",
            "Params PyTorch": f"{analysis.total_params_torch:,}",
            "Params Keras": f"{analysis.total_params_keras:,}",
            "Notes": "",
        }
    )
    # A static table, not st.dataframe: its cells wrap, so the notes (what each layer hands on, and why) are
    # read whole instead of cut at the column's edge. The layer number is the index: no extra 0, 1, 2 column.
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
        literal = markdown_literal(text)  # a notice may quote a key or value from a link or file: shown as typed
        if kind == "success":  # a confirmation floats in a corner instead of pushing the page down
            st.toast(literal, icon=":material/check:", duration="long" if len(text) > 60 else "short")
        else:  # a refusal or an instruction stays until the next change
            (st.error if kind == "error" else st.info)(literal)

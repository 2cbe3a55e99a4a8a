"""Stacked-RNN Architecture Explorer: the page. Assembly only; logic lives in explorer/, widgets in explorer/ui/."""

import streamlit as st

from explorer.analysis import analyze
from explorer.ui import source, state, training, widgets

st.set_page_config(page_title="Stacked-RNN Architecture Explorer", page_icon="🔁", layout="wide")
state.init()
st.title("Stacked-RNN Architecture Explorer")
st.caption("Build a stack of recurrent layers and see every shape, parameter and mistake as it flows through.")
# Parts whose length varies sit in one container each, so the tabs below keep their place in the
# page and a rerun after Fix or a notice does not switch the user back to the first tab.
with st.container():
    widgets.notice()
source.source_panel()
analysis = analyze(state.current())

editor, view = st.columns([5, 6], gap="large")
with view:  # drawn first: the graph's update reaches the browser before the editor's widgets
    st.subheader("Data flow")
    widgets.graph_panel(analysis)
with editor:
    widgets.layer_editor()

with st.container():
    st.subheader("Diagnostics" if analysis.diagnostics else "Diagnostics: none, this stack works")
    widgets.diagnostic_list(analysis.diagnostics, "fix")
    source.explain_box()
summary_tab, code_tab, train_tab = st.tabs(["Summary", "Code", "Train"])
with summary_tab:
    widgets.summary(analysis)
with code_tab:
    widgets.code(analysis)
with train_tab:
    training.train_tab(analysis)
widgets.sidebar()  # last: where it appears does not depend on when it is drawn

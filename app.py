"""Stacked-RNN Architecture Explorer: the page. Assembly only; logic lives in explorer/, widgets in explorer/ui/."""

import streamlit as st

from explorer.analysis import analyze
from explorer.graph import NOTHING_HIDDEN
from explorer.ui import lesson, page, source, state, training, widgets

page.setup()
state.init()
lesson.init()
page.header(lesson.toggle)
# Parts whose length varies sit in one container each, so the tabs below keep their place in the
# page and a rerun after Fix or a notice does not switch the user back to the first tab.
with st.container():
    widgets.notice()
source.source_panel()
analysis = analyze(state.current())
presenting = page.presenting()
lesson.panel(analysis)
hidden = lesson.hidden(analysis)  # the label a lesson asks about, kept back until answered

# The graph pane, and beside it (below it where the page is narrow) the editor; presenting, the diagnostics move
# out of the graph pane to sit beside the larger graph, above a condensed editor.
with st.container(horizontal=True, gap="large", key="workspace"):
    with st.container(key="view_pane"):  # drawn first: the graph reaches the browser before the editor's widgets
        if not presenting:
            widgets.diagnostics(analysis)
        widgets.graph_panel(analysis, page.PRESENT_MIN_LABEL_PX if presenting else page.MIN_LABEL_PX, hidden)
    with st.container(key="side_pane" if presenting else "editor_pane"):
        if presenting:
            widgets.diagnostics(analysis)
        widgets.layer_editor(condensed=presenting)

with st.container():
    source.explain_box()
summary_tab, code_tab, train_tab = st.tabs(["Summary", "Code", "Train"])
with summary_tab:
    if hidden == NOTHING_HIDDEN:
        widgets.summary(analysis)
    else:
        st.caption("The summary would give the lesson's answer away: it shows once the question is answered.")
with code_tab:
    widgets.code(analysis)
with train_tab:
    training.train_tab(analysis)
widgets.sidebar()  # last: where it appears does not depend on when it is drawn

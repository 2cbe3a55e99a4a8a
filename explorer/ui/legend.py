"""The graph's legend on the page: one line per mark the drawing has, under the graph."""

from __future__ import annotations

import streamlit as st

from explorer.analysis import Analysis
from explorer.legend import legend


def graph_legend(analysis: Analysis, unrolled: bool, show_states: bool) -> None:
    with st.expander("What the marks in the graph mean"):
        # Our own sentences, no user text: markdown is safe here.
        st.markdown("\n".join(f"- **{e.mark}**: {e.meaning}" for e in legend(analysis, unrolled, show_states)))

"""The page's frame: its configuration, its layout rules and the presentation mode.

The layout is CSS of our own (no user text in it). The graph and the editor sit side by side where the page is
wide enough and one above the other, graph first, where it is not: a 1024×768 projector with the sidebar open,
or a phone. Presentation mode (a toggle, or `present=1` in the link) collapses the sidebar, sets larger type,
condenses the editor and puts the diagnostics with their Fix buttons beside a larger graph.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

PRESENT = "present"  # the session key and the link's parameter

# Graph labels are never drawn smaller than this (CSS px); below it the graph scrolls instead of shrinking.
MIN_LABEL_PX = 14
PRESENT_MIN_LABEL_PX = 20

_CSS = """
<style>
/* The workspace: graph pane and editor pane wrap to one column when both cannot have their minimum width. */
.st-key-workspace { flex-wrap: wrap; row-gap: 1.5rem; }
/* (Streamlit wraps each child of a horizontal container in a stLayoutWrapper: that is the flex item.) */
.st-key-workspace > div:has(> .st-key-view_pane) { flex: 6 1 26rem !important; min-width: 0; }
.st-key-workspace > div:has(> .st-key-editor_pane) { flex: 5 1 24rem !important; min-width: 0; }
.st-key-workspace > div:has(> .st-key-side_pane) { flex: 4 1 20rem !important; min-width: 0; }
/* A graph wider than its pane scrolls sideways rather than shrinking its labels out of reach. */
.dataflow { overflow-x: auto; }
/* The graph follows the page's theme: its background, black lines and free-standing text take the page's own
   colours (currentColor), so that a dark theme gets no white block; text inside the pale boxes stays dark. */
.dataflow svg g.graph > polygon[fill="white"] { fill: none; }
.dataflow svg [stroke="black"] { stroke: currentColor; }
.dataflow svg g.edge polygon[fill="black"] { fill: currentColor; }
.dataflow svg g.edge text:not([fill]), .dataflow svg g.cluster text:not([fill]),
.dataflow svg g.node:not(:has(path, polygon, ellipse)) text:not([fill]) { fill: currentColor; }
/* A title sized for a projector: one line at 1024 px, the mode switch beside it. */
h1 { font-size: 1.9rem !important; padding: 0 !important; }
.st-key-header > div:has(h1) { flex: 0 1 auto !important; width: auto !important; }
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
</style>
"""

_PRESENT_CSS = """
<style>
html { font-size: 18px; }
.st-key-workspace > div:has(> .st-key-view_pane) { flex: 3 1 18rem !important; }
.st-key-workspace > div:has(> .st-key-side_pane) { flex: 2 1 16rem !important; }
h1 { font-size: 1.8rem !important; }
</style>
"""


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT))


def _present_changed() -> None:
    if st.session_state[PRESENT]:
        st.query_params[PRESENT] = "1"
    else:
        st.query_params.pop(PRESENT, None)


def setup() -> None:
    """The page's configuration: call first. Presentation mode comes from the link on a session's first run."""
    if PRESENT not in st.session_state:
        st.session_state[PRESENT] = st.query_params.get(PRESENT) in ("1", "true", "yes")
    st.set_page_config(
        page_title="Stacked-RNN Architecture Explorer",
        page_icon="🔁",
        layout="wide",
        initial_sidebar_state="collapsed" if presenting() else "auto",
    )
    st.html(_CSS + (_PRESENT_CSS if presenting() else ""))


def header(*switches: Callable[[DeltaGenerator], None]) -> None:
    """The title and the page's mode switches beside it."""
    top = st.container(horizontal=True, vertical_alignment="center", key="header")
    top.title("Stacked-RNN Architecture Explorer", anchor=False)
    top.toggle(
        "Presentation mode",
        key=PRESENT,
        on_change=_present_changed,
        help="For a projector: larger type and graph, the diagnostics beside it, the sidebar folded away. "
        "The link then carries `present=1`, so the class can open the same view.",
    )
    for switch in switches:
        switch(top)
    if not presenting():
        st.caption("Build a stack of recurrent layers and see every shape, parameter and mistake as it flows through.")

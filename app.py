"""Stacked-RNN Architecture Explorer: the page. Assembly only; the logic lives in explorer/."""

import streamlit as st

from explorer.analysis import analyze
from explorer.codegen import keras_code, pytorch_code
from explorer.report import summary_rows
from explorer.spec import parse_architecture

st.set_page_config(page_title="Stacked-RNN Architecture Explorer", layout="wide")
st.title("Stacked-RNN Architecture Explorer")
with open("assets/tutorial_keras.json", "rb") as handle:
    arch = parse_architecture(handle.read())
analysis = analyze(arch)
st.dataframe([row.__dict__ for row in summary_rows(analysis)], hide_index=True)
for d in analysis.diagnostics:
    st.error(f"{d.message} Fix: {d.fix}")
torch_tab, keras_tab = st.tabs(["PyTorch", "Keras"])
torch_tab.code(pytorch_code(arch), language="python")
keras_tab.code(keras_code(arch), language="python")

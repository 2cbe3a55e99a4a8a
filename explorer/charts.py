"""Plotly figures from training reports and tensors. Pure functions: the page only shows them."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

# No plotly template: the page draws charts in Streamlit's theme, and naming one costs ~8 ms a figure.
_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 320}


def learning_curves(runs: Sequence[tuple[str, list[dict]]], metric: str) -> go.Figure:
    """Loss (train solid, validation dashed) and the validation metric, one colour per run.

    Two side-by-side panels laid out by hand rather than with make_subplots: the live chart is rebuilt every
    second for each training session, and this is about seven times cheaper."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    traces = []
    for n, (label, reports) in enumerate(runs):
        color = palette[n % len(palette)]
        steps = [r["step"] for r in reports]
        series = [
            ("train_loss", f"{label} train", "solid", "", True),
            ("val_loss", f"{label} validation", "dash", "", True),
            ("val_metric", f"{label} {metric}", "solid", "2", False),
        ]
        for key, name, dash, panel, legend in series:
            traces.append(
                {
                    "type": "scatter",
                    "x": steps,
                    "y": [r[key] for r in reports],
                    "name": name,
                    "line": {"color": color, "dash": dash},
                    "legendgroup": label,
                    "showlegend": legend,
                    "xaxis": f"x{panel}",
                    "yaxis": f"y{panel}",
                }
            )
    panels = [("loss", [0.0, 0.45]), (f"validation {metric}", [0.55, 1.0])]
    layout = {
        **_LAYOUT,
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {"domain": panels[0][1], "anchor": "y", "title": {"text": "step"}},
        "yaxis": {"anchor": "x", "type": "log"},
        "xaxis2": {"domain": panels[1][1], "anchor": "y2", "title": {"text": "step"}},
        "yaxis2": {"anchor": "x2"},
        "annotations": [
            {
                "text": title,
                "x": sum(domain) / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
            for title, domain in panels
        ],
    }
    return go.Figure({"data": traces, "layout": layout})


def gradient_norms(reports: list[dict]) -> go.Figure:
    """Gradient norm per layer over training, on a log scale: vanishing gradients sink towards zero."""
    figure = go.Figure()
    layers = list(reports[0]["grad_norms"]) if reports else []
    for layer in layers:
        figure.add_scatter(x=[r["step"] for r in reports], y=[r["grad_norms"][layer] for r in reports], name=layer)
    figure.update_layout(**_LAYOUT, title="gradient norm per layer", xaxis_title="step", yaxis_type="log")
    return figure


def hidden_state_heatmap(states: Sequence[Sequence[float]], title: str) -> go.Figure:
    """One sample's hidden state: time down, units across."""
    figure = go.Figure(go.Heatmap(z=states, colorscale="RdBu", zmid=0, colorbar={"title": "value"}))
    figure.update_layout(**_LAYOUT, title=title, xaxis_title="unit", yaxis_title="time step")
    figure.update_yaxes(autorange="reversed")
    return figure


def forecast_plot(history: Sequence[float], target: Sequence[float], prediction: Sequence[float]) -> go.Figure:
    figure = go.Figure()
    past = list(range(len(history)))
    future = list(range(len(history), len(history) + len(target)))
    figure.add_scatter(x=past, y=list(history), name="input", line={"color": "#7f7f7f"})
    figure.add_scatter(x=future, y=list(target), name="target", mode="lines+markers", line={"color": "#2ca02c"})
    figure.add_scatter(
        x=future, y=list(prediction), name="prediction", mode="lines+markers", line={"color": "#d62728", "dash": "dash"}
    )
    figure.update_layout(**_LAYOUT, title="forecast of one validation sequence", xaxis_title="time step")
    return figure

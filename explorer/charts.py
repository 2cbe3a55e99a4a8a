"""Plotly figures from training reports and tensors. Pure functions: the page only shows them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from explorer.train import Report

# Figures are built from plain dicts, with no plotly template: the page draws them in Streamlit's theme, and
# plotly's helpers (make_subplots, add_scatter, templates) cost 5-10x more on every rerun that shows a chart.
_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 320}
# Okabe and Ito's colour-blind-safe palette: its colours stay apart projected and for every form of colour
# blindness (plotly's default dark and light blues do not, on a classroom projector).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def learning_curves(runs: Sequence[tuple[str, Sequence[Report]]], metric: str) -> go.Figure:
    """Loss (train solid, validation dashed) and the validation metric, one colour per run.

    Two side-by-side panels laid out by hand rather than with make_subplots: the live chart is rebuilt every
    second for each training session, and this is about seven times cheaper."""
    traces = []
    for n, (label, reports) in enumerate(runs):
        color = PALETTE[n % len(PALETTE)]
        steps = [r.step for r in reports]
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
                    "y": [getattr(r, key) for r in reports],
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
        "xaxis": _axis("step", domain=panels[0][1], anchor="y"),
        "yaxis": _log_axis([loss for _, reports in runs for r in reports for loss in (r.train_loss, r.val_loss)]),
        "xaxis2": _axis("step", domain=panels[1][1], anchor="y2"),
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


def _figure(traces: list[dict], title: str, **layout: dict) -> go.Figure:
    return go.Figure({"data": traces, "layout": {**_LAYOUT, "title": {"text": title}, **layout}})


def _axis(title: str, **options) -> dict:
    return {"title": {"text": title}, **options}


def _log_axis(values: Iterable[float]) -> dict:
    """A log axis. Over a decade or more, one tick per power of ten (0.1, 0.01, 0.001, 1e-4): plotly's own
    choice labels the 2s and 5s in between with their first digit only, and "5" under "0.1" reads as five."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if positive and max(positive) >= 10 * min(positive):
        return {"type": "log", "dtick": 1, "exponentformat": "e"}
    return {"type": "log"}


def gradient_norms(reports: Sequence[Report]) -> go.Figure:
    """Gradient norm per layer over training, on a log scale: vanishing gradients sink towards zero."""
    layers = list(reports[0].grad_norms) if reports else []
    steps = [r.step for r in reports]
    traces = [
        {
            "type": "scatter",
            "x": steps,
            "y": [r.grad_norms[layer] for r in reports],
            "name": layer,
            "line": {"color": PALETTE[n % len(PALETTE)]},
        }
        for n, layer in enumerate(layers)
    ]
    norms = [norm for r in reports for norm in r.grad_norms.values()]
    return _figure(traces, "gradient norm per layer", xaxis=_axis("step"), yaxis=_log_axis(norms))


def state_heatmap(
    values: Sequence[Sequence[float]],
    title: str,
    gate: bool = False,
    steps: Sequence[int] | None = None,
    units: Sequence[int] | None = None,
) -> go.Figure:
    """One sample's states or gates: time down, units across (`steps` and `units` number them where only a part
    is shown). States diverge around 0; a gate runs from 0 (shut) to 1 (open), so it gets a sequential scale
    fixed to that range."""
    scale = {"colorscale": "Viridis", "zmin": 0, "zmax": 1} if gate else {"colorscale": "RdBu", "zmid": 0}
    heatmap = {"type": "heatmap", "z": values, **scale, "colorbar": {"title": {"text": "value"}}}
    if steps is not None:
        heatmap["y"] = list(steps)
    if units is not None:
        heatmap["x"] = list(units)
    return _figure([heatmap], title, xaxis=_axis("unit"), yaxis=_axis("time step", autorange="reversed"))


def forecast_plot(history: Sequence[float], target: Sequence[float], prediction: Sequence[float]) -> go.Figure:
    past = list(range(len(history)))
    future = list(range(len(history), len(history) + len(target)))
    traces = [
        {"type": "scatter", "x": past, "y": list(history), "name": "input", "line": {"color": "#7f7f7f"}},
        {
            "type": "scatter",
            "x": future,
            "y": list(target),
            "name": "target",
            "mode": "lines+markers",
            "line": {"color": "#2ca02c"},
        },
        {
            "type": "scatter",
            "x": future,
            "y": list(prediction),
            "name": "prediction",
            "mode": "lines+markers",
            "line": {"color": "#d62728", "dash": "dash"},
        },
    ]
    return _figure(traces, "forecast of one validation sequence", xaxis=_axis("time step"))


def input_heatmap(values: Sequence[Sequence[float]], steps: Sequence[int], title: str) -> go.Figure:
    """One sample's input beside its states: time down on the same rows, features across."""
    heatmap = {"type": "heatmap", "z": values, "y": list(steps), "colorscale": "Cividis", "showscale": False}
    return _figure([heatmap], title, xaxis=_axis("feature"), yaxis=_axis("time step", autorange="reversed"))

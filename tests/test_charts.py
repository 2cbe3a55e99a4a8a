"""The figures hold the reports' numbers, on the panels and scales the page describes."""

from __future__ import annotations

import json

import plotly.io as pio

from explorer.charts import PALETTE, forecast_plot, gradient_norms, learning_curves, state_heatmap
from explorer.train import Report


def reports(scale: float, count: int = 5) -> list[Report]:
    return [
        Report(
            step=10 * (n + 1),
            steps=10 * count,
            train_loss=scale / (n + 1),
            val_loss=1.5 * scale / (n + 1),
            val_metric=n / count,
            metric="accuracy",
            steps_per_s=100.0,
            elapsed_s=0.1 * (n + 1),
            grad_norms={"1 LSTM": 0.1 * n, "2 GRU": 0.2 * n},
        )
        for n in range(count)
    ]


def test_learning_curves_put_loss_left_on_a_log_scale_and_the_metric_right() -> None:
    runs = [("#1 LSTM64", reports(1.0)), ("#2 GRU32", reports(2.0, count=3))]
    figure = json.loads(pio.to_json(learning_curves(runs, "accuracy")))  # plotly validates it on the way
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert set(traces) == {
        f"{label} {series}" for label in ("#1 LSTM64", "#2 GRU32") for series in ("train", "validation", "accuracy")
    }
    first = traces["#1 LSTM64 validation"]
    assert first["x"] == [10, 20, 30, 40, 50] and first["y"] == [r.val_loss for r in runs[0][1]]
    assert first["line"]["dash"] == "dash" and (first["xaxis"], first["yaxis"]) == ("x", "y")
    metric = traces["#2 GRU32 accuracy"]
    assert (metric["xaxis"], metric["yaxis"]) == ("x2", "y2") and metric["y"] == [0.0, 1 / 3, 2 / 3]
    assert not metric["showlegend"]  # one legend entry per curve of loss; the metric shares its colour
    assert metric["line"]["color"] == traces["#2 GRU32 train"]["line"]["color"] != first["line"]["color"]
    layout = figure["layout"]
    assert layout["yaxis"]["type"] == "log" and layout["yaxis2"].get("type") != "log"
    assert layout["yaxis"]["dtick"] == 1  # losses 0.2 to 3 span a decade: a tick per power of ten, no lone "5"s
    left, right = layout["xaxis"]["domain"], layout["xaxis2"]["domain"]
    assert left[1] < right[0]  # side by side, not overlapping
    assert [a["text"] for a in layout["annotations"]] == ["loss", "validation accuracy"]


def test_gradient_norms_draw_one_curve_per_layer() -> None:
    history = reports(1.0)
    figure = json.loads(pio.to_json(gradient_norms(history)))
    assert [trace["name"] for trace in figure["data"]] == ["1 LSTM", "2 GRU"]
    assert figure["data"][1]["y"] == [r.grad_norms["2 GRU"] for r in history]
    assert figure["layout"]["yaxis"]["type"] == "log"
    assert "dtick" not in figure["layout"]["yaxis"]  # norms 0.1 to 0.8 (and a zero) within a decade: plotly's ticks


def test_hidden_states_run_time_down_and_the_forecast_follows_its_input() -> None:
    states = [[0.5, -0.25, 0.0], [0.1, 0.2, -0.3]]  # 2 time steps × 3 units
    heatmap = json.loads(pio.to_json(state_heatmap(states, "hidden states of layer 1 LSTM")))
    assert heatmap["data"][0]["z"] == states and heatmap["data"][0]["zmid"] == 0
    gate = json.loads(pio.to_json(state_heatmap([[0.2, 0.9]], "forget gate f_t", gate=True)))["data"][0]
    assert (gate["zmin"], gate["zmax"]) == (0, 1) and "zmid" not in gate  # shut to open, not around zero
    assert heatmap["layout"]["yaxis"]["autorange"] == "reversed"
    assert heatmap["layout"]["title"]["text"] == "hidden states of layer 1 LSTM"
    forecast = json.loads(pio.to_json(forecast_plot([1.0, 2.0, 3.0], [4.0, 5.0], [4.5, 4.75])))
    by_name = {trace["name"]: trace for trace in forecast["data"]}
    assert by_name["input"]["x"] == [0, 1, 2]
    assert by_name["target"]["x"] == by_name["prediction"]["x"] == [3, 4]
    assert by_name["prediction"]["y"] == [4.5, 4.75]


def test_every_curve_has_its_own_colour_from_a_colour_blind_safe_palette() -> None:
    names = [f"{n} LSTM" for n in range(1, 6)]
    history = [
        Report(step=s, steps=2, train_loss=1.0, val_loss=1.0, val_metric=0.5, metric="accuracy", steps_per_s=1.0,
               elapsed_s=1.0, grad_norms=dict.fromkeys(names, 0.1))
        for s in (1, 2)
    ]  # fmt: skip
    figure = gradient_norms(history)
    colours = [trace.line.color for trace in figure.data]
    assert colours == PALETTE[:5] and len(set(colours)) == 5
    runs = learning_curves([(f"#{n}", reports(1.0)) for n in range(3)], "accuracy").data
    assert {trace.line.color for trace in runs} == set(PALETTE[:3])

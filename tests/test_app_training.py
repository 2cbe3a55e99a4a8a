"""Training from the page, headless: Train draws the curves and the results, Stop stops, misfits offer fixes."""

from __future__ import annotations

import json
import time

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from explorer.inside import layer_steps

from helpers import ASSETS, shown

APP = str(ASSETS.parent / "app.py")


def progress_text(at: AppTest) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def wait_until(at: AppTest, words: tuple[str, ...], timeout: float = 90) -> str:
    """Rerun the page (AppTest does not tick fragments) until the progress text holds one of `words`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        text = progress_text(at)
        if any(word in text for word in words):
            return text
        time.sleep(0.3)
    raise AssertionError(f"the run never reached {words}; last progress: {progress_text(at)!r}")


def inside_heatmap(app: AppTest, of: str = " of layer ") -> dict:
    """The heatmap whose title holds `of`: a layer's states or gates, or (`of="sample"` alone) the input."""
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    heatmaps = [f for f in figures if f["data"] and f["data"][0]["type"] == "heatmap"]
    (heatmap,) = [f for f in heatmaps if of in f["layout"]["title"]["text"]]
    return heatmap


def test_train_draws_the_curves_and_the_results(app: AppTest) -> None:
    app.number_input(key="train.steps").set_value(40).run()
    app.button(key="train.start").click().run()
    assert app.button(key="train.stop").disabled is False
    wait_until(app, ("done",))
    app.run()
    assert not app.exception
    assert progress_text(app).startswith("Run #1: done, ") and "left" not in progress_text(app)
    figures = [json.dumps(json.loads(chart.proto.spec), ensure_ascii=False) for chart in app.get("plotly_chart")]
    assert len(figures) >= 3  # learning curves, gradient norms, hidden states
    assert any("validation accuracy" in spec and "#1 LSTM64→GRU32" in spec for spec in figures)
    assert any("gradient norm per layer" in spec and "2 GRU" in spec for spec in figures)
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["validation accuracy"]) > float(metrics["baseline (majority class)"])
    assert metrics["steps"] == "40"

    # Inside: the first layer's hidden states on validation sample 0 are what torch computes...
    run = app.session_state["runs"][-1]
    x = run.trained.validation_samples.x[:1]
    with torch.no_grad():
        torch_output = run.trained.model.unfused_twin(torch.device("cpu")).recurrent_blocks[0].rnn(x)[0][0]
    heatmap = inside_heatmap(app)
    assert heatmap["layout"]["title"]["text"] == "hidden state h_t of layer 1 LSTM (time × units), sample 0"
    assert torch.allclose(torch.tensor(heatmap["data"][0]["z"]), torch_output, atol=1e-5)
    # Beside it, row for row, what went in, and what the answer should be.
    inputs = inside_heatmap(app, "input x_t, sample 0")
    assert torch.allclose(torch.tensor(inputs["data"][0]["z"]), x[0], atol=1e-6)
    assert inputs["data"][0]["y"] == heatmap["data"][0]["y"] == list(range(20))
    label = int(run.trained.validation_samples.y[0])
    assert f"Its label: class {label}." in shown(app.caption)
    # ...and its forget gate, on a 0-to-1 scale; the GRU offers its own gates.
    app.selectbox(key="inside.view.LSTM").set_value("f").run()
    heatmap = inside_heatmap(app)
    assert heatmap["layout"]["title"]["text"].startswith("forget gate f_t of layer 1 LSTM")
    assert (heatmap["data"][0]["zmin"], heatmap["data"][0]["zmax"]) == (0, 1)
    assert torch.allclose(torch.tensor(heatmap["data"][0]["z"]), layer_steps(run.trained.model, x, 0)["f"][0])
    app.selectbox(key="inside.layer").set_value(1).run()
    assert app.selectbox(key="inside.view.GRU").options == ["hidden state h_t", "update gate z_t", "reset gate r_t"]
    app.selectbox(key="inside.view.GRU").set_value("z").run()
    assert inside_heatmap(app)["layout"]["title"]["text"].startswith("update gate z_t of layer 2 GRU")
    assert not app.exception


def test_stop_stops_a_long_run(app: AppTest) -> None:
    app.number_input(key="train.steps").set_value(5000).run()
    app.button(key="train.start").click().run()
    wait_until(app, ("running",))
    app.button(key="train.stop").click().run()
    text = wait_until(app, ("stopped",), timeout=10)
    assert "stopped" in text
    run = app.session_state["runs"][-1]
    assert run.final.stopped and run.final.steps_done < 5000


def test_a_task_that_does_not_fit_offers_fixes_and_blocks_training(app: AppTest) -> None:
    app.selectbox(key="train.task").set_value("label").run()
    assert app.button(key="train.start").disabled
    messages = shown(app.error)
    assert any("one prediction per time step" in m for m in messages)
    for _ in range(3):  # each fix changes the architecture, and the list of misfits with it
        fixes = [b for b in app.button if b.key and b.key.startswith("taskfix")]
        if not fixes:
            break
        fixes[0].click().run()
    assert not app.button(key="train.start").disabled
    assert app.toggle(key="layer1.return_sequences").value is True
    assert app.number_input(key="head.units").value == 4


def test_choosing_a_task_suggests_its_steps_and_learning_rate(app: AppTest) -> None:
    app.selectbox(key="train.task").set_value("adding").run()
    assert app.number_input(key="train.steps").value == 600
    assert app.number_input(key="train.lr").value == pytest.approx(0.01)


def test_a_long_sequence_is_looked_inside_through_a_window_the_user_moves(app: AppTest) -> None:
    """1,000 steps of a 64-unit LSTM: the page sends 300 steps at a time, and the slider moves them."""
    app.number_input(key="input.seq_len").set_value(1000).run()
    app.number_input(key="train.steps").set_value(2).run()
    app.button(key="train.start").click().run()
    wait_until(app, ("done",), timeout=180)
    app.run()
    heatmap = inside_heatmap(app)["data"][0]
    assert len(heatmap["z"]) == 300 and heatmap["y"][0] == 0 and heatmap["y"][-1] == 299
    assert any("time steps 0–299 of 1000" in text for text in shown(app.caption))
    app.slider(key="inside.first").set_value(700).run()
    heatmap = inside_heatmap(app)["data"][0]
    run = app.session_state["runs"][-1]
    full = run.trained.inside(0, 0)["h"]
    assert heatmap["y"] == list(range(700, 1000))
    assert torch.allclose(torch.tensor(heatmap["z"]), full[700:1000], atol=1e-6)
    assert not app.exception


def test_the_train_tab_recommends_a_task_compares_the_cells_and_keeps_the_last_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tutorial hands on one vector: the adding task is recommended; once the stack fits it, Compare cells
    trains LSTM, GRU and RNN versions one after another, each in its turn, and overlays them. Every finished run
    joins the comparison, labelled by what differs; past the limit of runs kept the oldest is removed with a note."""
    monkeypatch.setenv("EXPLORER_MAX_RUNS_KEPT", "3")
    st.cache_resource.clear()  # the limits are read once per server
    try:
        app = AppTest.from_file(APP, default_timeout=60).run()
        (advice,) = [text for text in shown(app.info) if "For this stack, try" in text]
        assert "Long-range memory: the adding problem" in advice and "compares nothing" in advice
        app.button(key="train.use_recommended").click().run()
        assert app.selectbox(key="train.task").value == "adding"
        assert any("The task that shows most for this stack" in c.value for c in app.caption)
        for _ in range(4):  # the adding task's misfits (2 features, 40 steps, 1 output), fixed one by one
            fixes = [b for b in app.button if b.key and b.key.startswith("taskfix")]
            if not fixes:
                break
            fixes[0].click().run()
        app.number_input(key="train.steps").set_value(10).run()
        app.button(key="train.compare_cells").click().run()
        assert any("GRU, RNN still to train" in c.value for c in app.caption)
        deadline, most_at_once = time.monotonic() + 180, 0
        while "Run #3: done" not in progress_text(app) and time.monotonic() < deadline:
            # One run at a time: the next starts only when the one before has ended.
            most_at_once = max(most_at_once, sum(run.running for run in app.session_state["runs"]))
            time.sleep(0.3)
            app.run()
        app.run()
        assert [run.number for run in app.session_state["runs"]] == [1, 2, 3] and most_at_once == 1
        compared = app.multiselect(key="compare.runs")
        assert [compared.format_func(n) for n in compared.value] == [
            "#1 LSTM64→LSTM32 · adding",
            "#2 GRU64→GRU32 · adding",
            "#3 RNN64→RNN32 · adding",
        ]
        assert not app.session_state["train.queue"]

        app.button(key="train.start").click().run()  # the page's own stack, a fourth run: one too many kept
        notes = shown(app.info)  # a notice shows once, on the rerun after the click
        wait_until(app, ("Run #4: done",))
        app.run()
        runs = app.session_state["runs"]
        assert [run.number for run in runs] == [2, 3, 4]
        assert any("Run #1 was removed to make room: a session keeps its last 3 runs" in text for text in notes)
        # Only the newest run's trained model stays loaded (the page looks inside it); the others' stay on disk.
        assert [run._trained is None for run in runs] == [True, True, False]
        compared = app.multiselect(key="compare.runs")
        assert [compared.format_func(n) for n in compared.value] == [
            "#2 GRU64→GRU32 · adding",
            "#3 RNN64→RNN32 · adding",
            "#4 LSTM64→GRU32 · adding",
        ]
        assert not app.exception
    finally:
        st.cache_resource.clear()


@pytest.mark.parametrize(("kind", "words"), [("csv-forecast", "one time series per column"),
                                             ("csv-classify", "one sequence per row, its label first")])  # fmt: skip
def test_a_csv_task_says_on_the_page_what_the_file_must_hold(app: AppTest, kind: str, words: str) -> None:
    app.selectbox(key="train.task").set_value(kind).run()
    (format_said,) = [c for c in shown(app.caption) if c.startswith("The file: ")]
    assert words in format_said and "At most 2 MB and 20,000 rows" in format_said


def test_a_refused_setting_is_said_under_its_box_and_the_last_good_value_stays(app: AppTest) -> None:
    before = app.number_input(key="train.steps").value
    app.number_input(key="train.steps").set_value(10**9).run()
    (refusal,) = shown(app.error)
    assert "must be from 1 to" in refusal and "received 1000000000" in refusal and "last good value" in refusal
    assert app.number_input(key="train.steps").value == before
    app.number_input(key="train.lr").set_value(-0.5).run()
    (refusal,) = shown(app.error)  # the steps' message has gone with the next change
    assert "learning rate must be a number above 0" in refusal
    app.number_input(key="train.seed").set_value(7).run()
    assert not app.error and app.number_input(key="train.seed").value == 7

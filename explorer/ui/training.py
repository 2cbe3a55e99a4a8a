"""The Train tab: pick a task, train in a worker process, watch it live, look inside, compare runs."""

from __future__ import annotations

import csv
import io

import streamlit as st

from explorer import charts
from explorer.analysis import Analysis, short_layer_names
from explorer.inside import GATES, VIEWS
from explorer.runs import ServerBusy, TrainingRun, TrainingSlots
from explorer.tasks import TASKS, Kind, Task, check_task
from explorer.train import TrainConfig
from explorer.ui import state
from explorer.ui.widgets import diagnostic_list
from explorer.userdata import USER_TASKS, DataError, safe_name, user_task

RUNS = "runs"


@st.cache_resource
def _slots() -> TrainingSlots:
    """One per server: every session's runs count against the same limit."""
    limits = state.limits()
    return TrainingSlots(limits.max_concurrent_trainings, limits.max_unwatched_seconds)


def _runs() -> list[TrainingRun]:
    return st.session_state.setdefault(RUNS, [])


def _active() -> TrainingRun | None:
    runs = _runs()
    return runs[-1] if runs else None


USER_TITLES = {"csv-forecast": "Your CSV: forecasting", "csv-classify": "Your CSV: classification"}
USER_DATA = "train.user_data"  # (kind, file name, bytes, Task) of the last good upload


def _title(name: str) -> str:
    return TASKS[name].title if name in TASKS else USER_TITLES[name]


def _chosen_task() -> Task | None:
    """The built-in task chosen, or the user's parsed CSV for a csv-* choice (None before an upload)."""
    name = st.session_state["train.task"]
    if name in TASKS:
        return TASKS[name]
    loaded = st.session_state.get(USER_DATA)
    return loaded[3] if loaded and loaded[0] == name else None


def _task_changed() -> None:
    task = TASKS.get(st.session_state["train.task"], TASKS["forecast"])
    st.session_state["train.steps"] = task.suggested_steps
    st.session_state["train.lr"] = task.suggested_lr


def _csv_changed() -> None:
    upload, kind = st.session_state.get("train.csv"), st.session_state["train.task"]
    if upload is None:
        return
    try:
        task = user_task(kind, upload.getvalue(), upload.name, state.limits())
    except DataError as exc:
        name = safe_name(upload.name)
        state.notify("error", f"{name} was not used: {exc}. The format is in the README (Your own data).")
        return
    st.session_state[USER_DATA] = (kind, upload.name, upload.getvalue(), task)


def _start() -> None:
    s = st.session_state
    config = TrainConfig(
        steps=s["train.steps"],
        batch_size=s["train.batch"],
        lr=s["train.lr"],
        seed=s["train.seed"],
        device=s["train.device"],
        report_every=max(1, s["train.steps"] // 100),  # about a hundred points per curve
        max_seconds=state.limits().max_train_seconds,
    )
    runs = _runs()
    csv_bytes = s[USER_DATA][2] if s["train.task"] in USER_TASKS else None
    try:
        config.check(state.limits())
        run = _slots().start(len(runs) + 1, state.current(), _chosen_task(), config, csv=csv_bytes)
    except (ValueError, ServerBusy) as exc:
        state.notify("error", f"Training did not start: {exc}")
        return
    runs.append(run)


def _stop() -> None:
    run = _active()
    if run is not None:
        run.stop()


def metrics_csv(run: TrainingRun) -> str:
    buffer = io.StringIO()
    layers = list(run.reports[0]["grad_norms"]) if run.reports else []
    writer = csv.writer(buffer)
    writer.writerow(
        ["step", "train_loss", "val_loss", f"val_{run.task.metric}", "steps_per_s"]
        + [f"grad_norm {name}" for name in layers]
    )
    for r in run.reports:
        writer.writerow(
            [r["step"], r["train_loss"], r["val_loss"], r["val_metric"], r["steps_per_s"]]
            + [r["grad_norms"][name] for name in layers]
        )
    return buffer.getvalue()


def train_tab(analysis: Analysis) -> None:
    s = st.session_state
    if "train.task" not in s:
        s["train.task"] = "classify"
        _task_changed()
    columns = st.columns([2, 1, 1, 1, 1, 1])
    columns[0].selectbox("Task", [*TASKS, *USER_TASKS], key="train.task", format_func=_title, on_change=_task_changed)
    limits = state.limits()
    columns[1].number_input("Steps", 1, limits.max_steps, key="train.steps")
    columns[2].number_input("Learning rate", 1e-5, 1.0, key="train.lr", format="%.4f", step=1e-3)
    columns[3].number_input("Batch size", 1, limits.max_batch_size, 64, key="train.batch")
    columns[4].number_input("Seed", 0, 2**31 - 1, 0, key="train.seed")
    columns[5].selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train.device")
    if s["train.task"] in USER_TASKS:
        st.file_uploader(
            "Your CSV (format: README, Your own data)", type=["csv", "txt"], key="train.csv", on_change=_csv_changed
        )
    task = _chosen_task()
    if task is None:
        st.caption("Upload a CSV to train on your own data.")
    else:
        st.caption(task.description + f" Baseline to beat: {task.baseline_name}.")

    misfits = check_task(analysis.architecture, task) if analysis.valid and task else []
    diagnostic_list(misfits, "taskfix")
    run = _active()
    busy = run is not None and run.running
    buttons = st.columns([1, 1, 6])
    buttons[0].button(
        "Train",
        key="train.start",
        type="primary",
        on_click=_start,
        disabled=busy or bool(misfits) or not analysis.valid or task is None,
    )
    buttons[1].button("Stop", key="train.stop", on_click=_stop, disabled=not busy)
    if not analysis.valid:
        buttons[2].caption("Fix the architecture's errors first.")
    if run is None:
        return
    _live(run)
    if not run.running:
        _after(run)
    _compare()


def _live(run: TrainingRun) -> None:
    # Polls once a second while the worker trains; the rest of the page is not rerun. Faster polling
    # costs the worker CPU on a small machine (0.82× of headless speed at 0.5 s, 0.94× at 1 s).
    @st.fragment(run_every=1.0 if run.running else None)
    def live() -> None:
        run.touch()
        eta = "" if run.eta_s is None else f", about {run.eta_s:.0f} s left"
        speed = f", {run.reports[-1]['steps_per_s']:.0f} steps/s" if run.reports else ""
        st.progress(run.progress, text=f"Run #{run.number}: {run.status}{speed}{eta}")
        if run.reports:
            st.plotly_chart(charts.learning_curves([(run.label, run.reports)], run.task.metric), key="live_curves")
        if not run.running and st.session_state.get("train.shown") != run.number:
            st.session_state["train.shown"] = run.number
            st.rerun()  # the run ended: redraw the whole tab with the results

    live()


def _after(run: TrainingRun) -> None:
    if run.final is None:
        if run.stop_requested:
            st.info(f"Run #{run.number} was stopped before its first step.")
        else:
            st.error(f"Run #{run.number} failed: {run.error}")
        return
    final = run.final
    if final["failure"]:
        st.error(final["failure"])
    elif final.get("stop_reason") and "time limit" in final["stop_reason"]:
        st.info(f"Run #{run.number} {final['stop_reason']}.")
    if final["device_note"]:
        st.warning(final["device_note"])
    if not run.reports:
        return
    metric = run.task.metric
    value, base = final[f"val_{metric}"], final["baseline"]
    cols = st.columns(4)
    better = value - base if run.task.kind is Kind.CLASSIFICATION else base - value
    cols[0].metric(f"validation {metric}", f"{value:.4f}", f"{better:+.4f} vs baseline", delta_color="normal")
    cols[1].metric(f"baseline ({run.task.baseline_name})", f"{base:.4f}")
    cols[2].metric("steps", f"{final['steps_done']:,}")
    cols[3].metric("steps/s", f"{final['steps_per_s']:.0f}" if final["steps_per_s"] else "—")
    st.plotly_chart(charts.gradient_norms(run.reports), key="grad_norms")
    _inside(run)
    downloads = st.columns(2)
    downloads[0].download_button(
        "Trained weights (state_dict)",
        run.weights_path.read_bytes,  # read on the click, not held in every session's memory on each rerun
        file_name=f"run{run.number}_weights.pt",
        key="download_weights",
    )
    downloads[1].download_button(
        "Metrics (CSV)",
        metrics_csv(run),
        file_name=f"run{run.number}_metrics.csv",
        mime="text/csv",
        key="download_metrics",
    )


def _inside(run: TrainingRun) -> None:
    """What the trained network did on one validation sequence."""
    val = run.validation_samples
    columns = st.columns(3)
    sample = columns[0].number_input("Validation sample", 0, len(val) - 1, 0, key="inside.sample")
    names = short_layer_names(run.arch)
    layer = columns[1].selectbox("Layer", range(len(names)), format_func=lambda i: names[i], key="inside.layer")
    cell = run.arch.layers[layer].type
    views = VIEWS[cell]
    view = columns[2].selectbox(
        "Show",
        list(views),
        format_func=views.get,
        key=f"inside.view.{cell.value}",  # one choice per kind of cell: each offers its own states and gates
        help="h_t is what the layer hands on. An LSTM also carries a cell state c_t, its memory, with "
        "h_t = o_t ⊙ tanh(c_t): the output gate o_t lets part of it through; the forget gate f_t keeps the old "
        "c_t, the input gate i_t writes new content. A GRU's update gate z_t keeps the old h_t where it is near "
        "1; its reset gate r_t decides how much of it the new content reads. Gates lie between 0 and 1.",
    )
    values = run.inside(sample, layer)[view]
    title = f"{views[view]} of layer {names[layer]} (time × units), sample {sample}"
    st.plotly_chart(charts.state_heatmap(values.tolist(), title, gate=view in GATES), key="heatmap")
    if run.task.name == "forecast":
        x = val.x[sample : sample + 1]
        prediction = run.model(x)[0].detach()
        st.plotly_chart(
            charts.forecast_plot(x[0, :, 0].tolist(), val.y[sample].tolist(), prediction.tolist()), key="forecast"
        )


def _compare() -> None:
    finished = [r for r in _runs() if not r.running and r.reports]
    if len(finished) < 2:
        return
    st.subheader("Compare runs")
    labels = {r.label: r for r in finished}
    chosen = st.multiselect("Runs", list(labels), default=list(labels)[-3:], key="compare.runs")
    picked = [labels[name] for name in chosen]
    if not picked:
        return
    metrics = {r.task.metric for r in picked}
    metric = metrics.pop() if len(metrics) == 1 else "metric"
    st.plotly_chart(charts.learning_curves([(r.label, r.reports) for r in picked], metric), key="compare_curves")
    st.dataframe(
        [
            {
                "run": r.label,
                "params": r.final["params"],
                f"val {r.task.metric}": round(r.final[f"val_{r.task.metric}"], 4),
                "baseline": round(r.final["baseline"], 4),
                "steps/s": round(r.final["steps_per_s"] or 0),
                "device": r.final["device"],
            }
            for r in picked
        ],
        hide_index=True,
        key="compare_table",
    )

"""The Train tab: pick a task, train in a worker process, watch it live, look inside, compare runs."""

from __future__ import annotations

import csv
import io
import re

import streamlit as st

from explorer import charts
from explorer.analysis import Analysis, short_layer_names
from explorer.edit import with_cell
from explorer.inside import GATES, MAX_STEPS_SHOWN, VIEWS, heatmap_window, input_window, sample_target
from explorer.layers.recurrent import CellType, RecurrentLayer
from explorer.literal import markdown_literal
from explorer.ray_runs import ray_address
from explorer.runs import ServerBusy, TrainingRun, TrainingSlots, run_labels
from explorer.spec import Architecture
from explorer.tasks import TASKS, Kind, Task, check_task, recommended_task
from explorer.train import StopReason, TrainConfig
from explorer.ui import state
from explorer.ui.widgets import diagnostic_list
from explorer.userdata import USER_TASKS, DataError, csv_format, safe_name, user_task
from explorer.worker import check_run

RUNS = "runs"
FOLLOW_NOTE = "train.follow_note"
QUEUE = "train.queue"  # (cell, stack) a "Compare cells" still has to train, in order: stacks taken at the click
CELLS = (CellType.LSTM, CellType.GRU, CellType.RNN)


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
    _settings_good()


def _csv_changed() -> None:
    upload, kind = st.session_state.get("train.csv"), st.session_state["train.task"]
    if upload is None:
        return
    try:
        task = user_task(kind, upload.getvalue(), upload.name, state.limits())
    except DataError as exc:
        name = safe_name(upload.name)
        state.notify("error", f"{name} was not used: {exc}. What the file must hold is written under the upload box.")
        return
    st.session_state[USER_DATA] = (kind, upload.name, upload.getvalue(), task)


def _config() -> TrainConfig:
    s = st.session_state
    return TrainConfig(
        steps=s["train.steps"],
        batch_size=s["train.batch"],
        lr=s["train.lr"],
        seed=s["train.seed"],
        device=s["train.device"],
        report_every=max(1, s["train.steps"] // 100),  # about a hundred points per curve
        max_seconds=state.limits().max_train_seconds,
    )


SETTINGS = {"train.steps": "Steps", "train.lr": "Learning rate", "train.batch": "Batch size", "train.seed": "Seed"}
GOOD = "train.good"  # the last settings that passed TrainConfig.check: a refused value goes back to its own


def _setting_changed(key: str) -> None:
    """A setting typed in: checked by the trainer's own rules, refused in words under its box if it breaks one."""
    s = st.session_state
    s.pop(state.REFUSED, None)
    try:
        _config().check(state.limits())
    except (ValueError, TypeError) as exc:
        s[state.REFUSED] = {key: f"Not applied: {exc}. The last good value stays."}
        s[key] = s[GOOD][key]
        return
    _settings_good()


def _settings_good() -> None:
    st.session_state[GOOD] = {key: st.session_state[key] for key in SETTINGS}


def _start(arch: Architecture | None = None) -> None:
    """A run of `arch` (the page's stack when None) on the chosen task and settings."""
    s = st.session_state
    arch = arch or state.current()
    config = _config()
    runs, limits, task = _runs(), state.limits(), _chosen_task()
    if task is None:  # Train is disabled until a CSV task has its data
        return
    csv_name, csv_bytes = s[USER_DATA][1:3] if s["train.task"] in USER_TASKS else (None, None)
    number = runs[-1].number + 1 if runs else 1
    try:
        check_run(arch, task, config, limits)  # refused here, before any process starts
        run = _slots().start(number, arch, task, config, csv=csv_bytes, csv_name=csv_name)
    except (ValueError, ServerBusy) as exc:
        state.notify("error", f"Training did not start: {exc}")
        s.pop(QUEUE, None)  # a comparison waiting for its next arm stops here too
        return
    _add(run)


def _add(run: TrainingRun) -> None:
    """The session's newest run; on a cluster its id goes in the address, where another server finds it."""
    runs, limits = _runs(), state.limits()
    for older in runs:
        older.release()  # only the newest run's trained model is looked inside: the others' stay on disk
    runs.append(run)
    if run.run_id is not None:
        st.query_params[state.RUN_PARAM] = run.run_id
    if len(runs) > limits.max_runs_kept:
        dropped = runs.pop(0)
        dropped.discard()
        state.notify(
            "info",
            f"Run #{dropped.number} was removed to make room: a session keeps its last {limits.max_runs_kept} runs "
            "(EXPLORER_MAX_RUNS_KEPT).",
        )


def _compare_cells() -> None:
    """LSTM, GRU and simple-RNN versions of the stack, trained one after another with the same settings: each
    starts when the one before it ends, so a comparison holds one of the server's training slots at a time."""
    arch = state.current()
    st.session_state[QUEUE] = [(cell.value, with_cell(arch, cell)) for cell in CELLS[1:]]
    _start(with_cell(arch, CELLS[0]))


def _next_arm() -> None:
    """The comparison's next cell, once the run before it has ended."""
    queue = st.session_state.get(QUEUE)
    if queue:
        _start(queue.pop(0)[1])


def _stop() -> None:
    st.session_state.pop(QUEUE, None)
    run = _active()
    if run is not None:
        run.stop()


def metrics_csv(run: TrainingRun) -> str:
    buffer = io.StringIO()
    layers = list(run.reports[0].grad_norms) if run.reports else []
    writer = csv.writer(buffer)
    writer.writerow(
        ["step", "train_loss", "val_loss", f"val_{run.task.metric}", "steps_per_s"]
        + [f"grad_norm {name}" for name in layers]
    )
    for r in run.reports:
        writer.writerow(
            [r.step, r.train_loss, r.val_loss, r.val_metric, r.steps_per_s] + [r.grad_norms[name] for name in layers]
        )
    return buffer.getvalue()


def _follow_moved_run() -> None:
    """A page opened with a run's id in its address and no run of its own: the user was moved here from another
    server of the site (or reloaded the page). The run goes on; this page follows it, with its settings shown."""
    s = st.session_state
    run_id = st.query_params.get(state.RUN_PARAM)
    if run_id is None or _runs():
        return
    st.query_params.pop(state.RUN_PARAM, None)  # put back below while the run trains
    if not ray_address():
        return  # a run of this server's own never outlives its page
    run = None
    if re.fullmatch(r"[0-9a-f]{32}", run_id):
        try:
            run = _slots().follow(run_id, state.limits())
        except ServerBusy as exc:
            s[FOLLOW_NOTE] = f"The run named in this page's address is not shown: {exc}"
            return
    if run is None:
        s[FOLLOW_NOTE] = (
            "This page's address named a training run that is not running any more: it has finished or was "
            "stopped, and its results stayed with the page that followed it. Press Train to train this stack here."
        )
        return
    _add(run)
    config = run.config  # the Train tab shows the run's own task and settings
    s.update({"train.task": run.task.name, "train.device": config.device, "train.steps": config.steps})
    s.update({"train.lr": config.lr, "train.batch": config.batch_size, "train.seed": config.seed})
    _settings_good()


def train_tab(analysis: Analysis) -> None:
    s = st.session_state
    _follow_moved_run()
    if "train.task" not in s:
        s["train.task"] = "tokens" if analysis.architecture.input.tokens else "classify"
        s["train.batch"], s["train.seed"] = 64, 0
        _task_changed()
    limits = state.limits()
    # Settings wrap to the tab's width: at 1024 px with the sidebar open each box keeps room for its value.
    with st.container(horizontal=True, gap="small", key="train_settings"):
        st.selectbox(
            "Task", [*TASKS, *USER_TASKS], key="train.task", format_func=_title, on_change=_task_changed, width=330
        )
        for key, label in SETTINGS.items():
            with st.container(width=150, gap=None):
                lr = key == "train.lr"
                st.number_input(
                    label,
                    key=key,
                    step=1e-3 if lr else 1,
                    format="%.4f" if lr else None,
                    on_change=_setting_changed,
                    args=(key,),
                )
                refused = state.field_error(key)
                if refused:
                    st.error(markdown_literal(refused))
        st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train.device", width=150)
    if s["train.task"] in USER_TASKS:
        st.file_uploader("Your CSV", type=["csv", "txt"], key="train.csv", on_change=_csv_changed)
        st.caption(csv_format(s["train.task"], limits))
    task = _chosen_task()
    if task is None:
        st.caption("Upload a CSV to train on your own data.")
    else:
        st.caption(markdown_literal(f"{task.description} Baseline to beat: {task.baseline_name}."))  # CSV labels
    _recommend(analysis)

    misfits = check_task(analysis.architecture, task) if analysis.valid and task else []
    diagnostic_list(misfits, "taskfix")
    run = _active()
    if run is not None and not run.running and s.get(QUEUE):
        _next_arm()
        run = _active()
    busy = run is not None and run.running
    cannot = busy or bool(misfits) or not analysis.valid or task is None
    buttons = st.container(horizontal=True, vertical_alignment="center")
    buttons.button("Train", key="train.start", type="primary", on_click=_start, disabled=cannot)
    buttons.button("Stop", key="train.stop", on_click=_stop, disabled=not busy)
    buttons.button(
        "Compare cells",
        key="train.compare_cells",
        on_click=_compare_cells,
        disabled=cannot or not analysis.recurrent,
        help="Trains LSTM, GRU and simple-RNN versions of this stack one after another, with the same task, "
        "settings and seed, and overlays their curves below.",
    )
    if s.get(QUEUE):
        waiting = ", ".join(cell for cell, _ in s[QUEUE])
        buttons.caption(f"Comparing cells: {waiting} still to train, one after another.")
    if not analysis.valid:
        buttons.caption("Fix the architecture's errors first.")
    if run is None:
        if s.get(FOLLOW_NOTE):
            st.info(markdown_literal(s[FOLLOW_NOTE]))  # may quote the cluster's own words
        return
    s.pop(FOLLOW_NOTE, None)
    if run.started_elsewhere:
        st.caption(
            f"Run #{run.number} was started on another server of this site. Your connection moved to this one, and "
            "this page follows the run: it kept training meanwhile, and Stop works from here too."
        )
    if not run.running:
        st.query_params.pop(state.RUN_PARAM, None)  # over: nothing left for another server to follow
    _live(run)
    if not run.running:
        _after(run)
    _compare()


def _use_task(name: str) -> None:
    st.session_state["train.task"] = name
    _task_changed()


def _recommend(analysis: Analysis) -> None:
    """The task that shows most for this stack: said, with a button, where another one is chosen."""
    recommendation = recommended_task(analysis)
    if recommendation is None:
        return
    title = TASKS[recommendation.task].title
    if st.session_state["train.task"] == recommendation.task:
        st.caption(f"The task that shows most for this stack: {recommendation.why}")
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    row.info(f"For this stack, try **{title}**: {recommendation.why}")  # our own words
    row.button("Use it", key="train.use_recommended", on_click=_use_task, args=(recommendation.task,))


def _live(run: TrainingRun) -> None:
    # Polls once a second while the worker trains; the rest of the page is not rerun. Faster polling
    # costs the worker CPU on a small machine (0.82× of headless speed at 0.5 s, 0.94× at 1 s).
    @st.fragment(run_every=1.0 if run.running else None)
    def live() -> None:
        run.touch()
        eta = "" if run.eta_s is None else f", about {run.eta_s:.0f} s left"
        speed = f", {run.reports[-1].steps_per_s:.0f} steps/s" if run.reports else ""
        st.progress(run.progress, text=f"Run #{run.number}: {run.status}{speed}{eta}")
        if run.reports:
            label = run_labels([run])[run.number]
            st.plotly_chart(charts.learning_curves([(label, run.reports)], run.task.metric), key="live_curves")
        if not run.running and st.session_state.get("train.shown") != run.number:
            st.session_state["train.shown"] = run.number
            st.rerun()  # the run ended: redraw the whole tab with the results

    live()


def _ending(run: TrainingRun) -> None:
    """How the run ended, in words, where it did not simply finish."""
    final = run.final
    if final is None:
        if not run.stop_requested:
            st.error(markdown_literal(f"Run #{run.number} failed: {run.error}"))
        elif run.stop_reason is StopReason.TIME_LIMIT:
            st.info(
                f"Run #{run.number} reached the server's time limit of {run.config.max_seconds:g} s "
                "(EXPLORER_MAX_TRAIN_SECONDS) in the middle of a long step, and was ended without its weights."
            )
        elif run.reports:
            st.info(f"Run #{run.number} was ended in the middle of a long step, without its weights.")
        else:
            st.info(f"Run #{run.number} was stopped before its first report.")
        return
    if final.failure:
        st.error(markdown_literal(final.failure))
    elif final.stop_reason is StopReason.TIME_LIMIT:
        st.info(f"Run #{run.number} stopped at the server's time limit of {run.config.max_seconds:g} s.")
    if final.device_note:
        st.warning(markdown_literal(final.device_note))


def _after(run: TrainingRun) -> None:
    _ending(run)
    final = run.final
    if final is None or not run.reports or final.val_metric is None:
        return
    metric = run.task.metric
    value, base = final.val_metric, final.baseline
    cols = st.columns(4)
    better = value - base if run.task.kind is Kind.CLASSIFICATION else base - value
    cols[0].metric(f"validation {metric}", f"{value:.4f}", f"{better:+.4f} vs baseline", delta_color="normal")
    cols[1].metric(f"baseline ({run.task.baseline_name})", f"{base:.4f}")
    cols[2].metric("steps", f"{final.steps_done:,}")
    cols[3].metric("steps/s", f"{final.steps_per_s:.0f}" if final.steps_per_s else "—")
    st.plotly_chart(charts.gradient_norms(run.reports), key="grad_norms")
    _inside(run)
    downloads = st.columns(2)
    downloads[0].download_button(
        "Trained weights (state_dict)",
        run.trained.exported_weights,  # made on the click, not held in every session's memory on each rerun
        help="Named as in the exported PyTorch code: model.load_state_dict(torch.load(file, weights_only=True)).",
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
    trained = run.trained
    val = trained.validation_samples
    columns = st.columns(3)
    sample = columns[0].number_input("Validation sample", 0, len(val) - 1, 0, key="inside.sample")
    names = short_layer_names(run.arch)
    recurrent = [i for i, layer in enumerate(run.arch.layers) if isinstance(layer, RecurrentLayer)]
    if not recurrent:
        st.caption("This model has no recurrent layer to look inside.")
        return
    chosen = columns[1].selectbox("Layer", recurrent, format_func=lambda i: names[i], key="inside.layer")
    layer = recurrent[0] if chosen is None or chosen not in recurrent else chosen  # a stale choice of another model
    picked_layer = run.arch.layers[layer]
    assert isinstance(picked_layer, RecurrentLayer)
    cell = picked_layer.type
    views = VIEWS[cell]
    picked = columns[2].selectbox(
        "Show",
        list(views),
        format_func=lambda key: views[key],
        key=f"inside.view.{cell.value}",  # one choice per kind of cell: each offers its own states and gates
        help="h_t is what the layer hands on. An LSTM also carries a cell state c_t, its memory, with "
        "h_t = o_t ⊙ tanh(c_t): the output gate o_t lets part of it through; the forget gate f_t keeps the old "
        "c_t, the input gate i_t writes new content. A GRU's update gate z_t keeps the old h_t where it is near "
        "1; its reset gate r_t decides how much of it the new content reads. Gates lie between 0 and 1.",
    )
    view = picked or "h"
    values = trained.inside(int(sample), layer)[view]
    first = 0
    if values.size(0) > MAX_STEPS_SHOWN:  # a long sequence: a window of it, moved by the user
        first = st.slider("First time step shown", 0, values.size(0) - MAX_STEPS_SHOWN, 0, key="inside.first")
    window = heatmap_window(values, first)
    if window.note:
        st.caption(window.note)
    title = f"{views[view]} of layer {names[layer]} (time × units), sample {sample}"
    figure = charts.state_heatmap(window.values, title, view in GATES, window.steps, window.units)
    # What went in, row for row beside what the layer made of it, and what the answer should be.
    st.caption(sample_target(val.y[sample], run.task.kind is Kind.CLASSIFICATION, window))
    what_went_in, states = st.columns([1, 3])
    what = "token ids" if run.arch.input.tokens else "input x_t"
    what_went_in.plotly_chart(
        charts.input_heatmap(input_window(val.x[sample], window), window.steps, f"{what}, sample {sample}"),
        key="input_heatmap",
    )
    states.plotly_chart(figure, key="heatmap")
    if run.task.name == "forecast":
        x = val.x[sample : sample + 1]
        prediction = trained.model(x)[0].detach()
        st.plotly_chart(
            charts.forecast_plot(x[0, :, 0].tolist(), val.y[sample].tolist(), prediction.tolist()), key="forecast"
        )


def _compare() -> None:
    finished = [r for r in _runs() if not r.running and r.reports and r.final is not None]
    if len(finished) < 2:
        return
    st.subheader("Compare runs")
    labels = run_labels(finished)
    by_number = {r.number: r for r in finished}
    s = st.session_state
    # Runs that finished since the last rerun join the comparison (a keyed multiselect keeps its first value);
    # chosen by number, since a label grows when a new run differs in one more field.
    new = [n for n in by_number if n not in s.get("compare.known", set())]
    kept = [n for n in s.get("compare.runs", []) if n in by_number]
    s["compare.runs"] = kept + new if "compare.known" in s else list(by_number)[-3:]
    s["compare.known"] = set(by_number)
    chosen = st.multiselect("Runs", list(by_number), format_func=lambda n: labels[n], key="compare.runs")
    picked = [by_number[n] for n in chosen]
    if not picked:
        return
    metrics = {r.task.metric for r in picked}
    metric = metrics.pop() if len(metrics) == 1 else "metric"
    curves = [(labels[r.number], r.reports) for r in picked]
    st.plotly_chart(charts.learning_curves(curves, metric), key="compare_curves")
    st.dataframe(
        [
            {
                "run": labels[r.number],
                "params": r.final.params,
                f"val {r.task.metric}": round(r.final.val_metric or 0.0, 4),
                "baseline": round(r.final.baseline, 4),
                "steps/s": round(r.final.steps_per_s or 0),
                "device": r.final.device,
            }
            for r in picked
            if r.final is not None
        ],
        hide_index=True,
        key="compare_table",
    )

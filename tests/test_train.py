"""The trainer really learns, is reproducible, stops cleanly, and explains failures."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys

import pytest
import torch
from hypothesis import assume, given, settings

from explorer.analysis import analyze, apply_fix
from explorer.build import build, count_parameters
from explorer.layers.dense import Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm
from explorer.layers.reshape import GlobalAvgPool1D
from explorer.presets import load_preset
from explorer.spec import Activation, Architecture, CellType, Dense, InputSpec, RecurrentLayer
from explorer.tasks import TASKS, check_task, make_splits, recommended_task
from explorer.train import TaskMismatch, TrainConfig, Trainer, layer_groups, resolve_device

from helpers import ASSETS, valid_stacks

TUTORIAL = load_preset("Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5")
LABELLING = load_preset("Sequence labelling: one label per time step")


def forecaster() -> Architecture:
    return Architecture(InputSpec(1, 30), (RecurrentLayer(CellType.GRU, 32),), Dense(5))


def test_tutorial_stack_learns_the_classification_task() -> None:
    result = Trainer(TUTORIAL, TASKS["classify"], TrainConfig(steps=300, report_every=50)).run()
    assert result.failure is None and not result.stopped
    assert result.final.val_metric >= 0.9
    assert result.baseline < 0.3  # five balanced classes: the majority class is a poor guess


def test_labelling_and_forecasting_beat_their_baselines_clearly() -> None:
    labelling = Trainer(LABELLING, TASKS["label"], TrainConfig(steps=300, report_every=100)).run()
    assert labelling.final.val_metric > labelling.baseline + 0.3
    forecasting = Trainer(forecaster(), TASKS["forecast"], TrainConfig(steps=300, report_every=100)).run()
    assert forecasting.final.val_metric < 0.5 * forecasting.baseline


def test_lstm_and_gru_remember_where_a_plain_rnn_does_not() -> None:
    task = TASKS["adding"]
    config = TrainConfig(steps=task.suggested_steps, lr=task.suggested_lr, report_every=task.suggested_steps)
    mse = {}
    for cell in CellType:
        arch = Architecture(InputSpec(2, 40), (RecurrentLayer(cell, 32),), Dense(1))
        result = Trainer(arch, task, config).run()
        mse[cell] = result.final.val_metric
        baseline = result.baseline
    assert mse[CellType.LSTM] < 0.2 * baseline and mse[CellType.GRU] < 0.2 * baseline
    assert mse[CellType.RNN] > 0.5 * baseline


def _curve(seed: int) -> list[float]:
    result = Trainer(TUTORIAL, TASKS["classify"], TrainConfig(steps=40, report_every=10, seed=seed)).run()
    return [r.train_loss for r in result.reports] + [r.val_loss for r in result.reports]


def test_same_seed_same_loss_curve() -> None:
    assert _curve(3) == _curve(3)
    assert _curve(3) != _curve(4)


def test_stop_at_any_step_leaves_a_consistent_model() -> None:
    calls = []

    def stop_after_25() -> bool:
        calls.append(1)
        return len(calls) > 25

    result = Trainer(TUTORIAL, TASKS["classify"], TrainConfig(steps=300, report_every=10)).run(stop_after_25)
    assert result.stopped and result.failure is None
    assert [r.step for r in result.reports] == [10, 20]
    output = result.model(torch.randn(2, 20, 10))
    assert output.shape == (2, 5) and torch.isfinite(output).all()


def test_a_nan_loss_stops_training_and_names_the_learning_rate() -> None:
    config = TrainConfig(steps=200, lr=1e30, clip=None, report_every=5)
    result = Trainer(forecaster(), TASKS["forecast"], config).run()
    assert result.failure is not None and "learning rate" in result.failure and "1e+30" in result.failure
    assert result.final is None or result.final.step < 200


def test_gradient_norms_are_reported_for_every_layer_also_inside_fused_modules() -> None:
    lstm = RecurrentLayer(CellType.LSTM, 8, return_sequences=True)
    arch = Architecture(InputSpec(10, 20), (lstm, lstm, RecurrentLayer(CellType.GRU, 8)), Dense(5))
    model = build(arch)
    assert len(model.recurrent_blocks) == 2  # the two LSTMs are fused
    groups = layer_groups(model, ["1 LSTM", "2 LSTM", "3 GRU", "4 Dense"])
    assert sum(p.numel() for params in groups.values() for p in params) == count_parameters(model)
    assert [sum(p.numel() for p in groups[n]) for n in ("1 LSTM", "2 LSTM")] == [
        4 * (8 * 10 + 64 + 16),
        4 * (64 + 64 + 16),
    ]
    report = Trainer(arch, TASKS["classify"], TrainConfig(steps=5, report_every=5)).run().final
    assert set(report.grad_norms) == {"1 LSTM", "2 LSTM", "3 GRU", "4 Dense"}
    assert all(v > 0 for v in report.grad_norms.values())


def test_a_misfit_is_explained_in_shapes_and_the_fixes_make_it_fit() -> None:
    arch = load_preset("Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5")
    misfits = check_task(arch, TASKS["label"])
    messages = " ".join(d.message for d in misfits)
    assert "one prediction per time step (batch, time, features=4)" in messages
    assert "one per sequence (batch=4, features=5)" in messages
    with pytest.raises(TaskMismatch, match="Set return_sequences=True on layer 2"):
        Trainer(arch, TASKS["label"])
    for d in misfits:
        arch = apply_fix(arch, d.action)
    assert check_task(arch, TASKS["label"]) == []
    wrong_features = check_task(forecaster(), TASKS["classify"])
    assert any("takes features=1" in d.message and d.fix == "Set the input features to 10." for d in wrong_features)
    no_head = check_task(Architecture(InputSpec(1, 30), (RecurrentLayer(CellType.GRU, 8),)), TASKS["forecast"])
    fixed = apply_fix(Architecture(InputSpec(1, 30), (RecurrentLayer(CellType.GRU, 8),)), no_head[0].action)
    assert fixed.head == Dense(5, None)


def test_a_missing_device_falls_back_to_the_cpu_with_a_reason() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    device, note = resolve_device("cuda")
    assert device.type == "cpu" and "no CUDA GPU" in note
    assert resolve_device("auto") == (torch.device("cpu"), None) or torch.backends.mps.is_available()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda() -> None:
    result = Trainer(TUTORIAL, TASKS["classify"], TrainConfig(steps=200, device="cuda", report_every=50)).run()
    assert result.device.startswith("cuda") and result.final.val_metric >= 0.9


def test_variable_length_training_uses_lengths() -> None:
    arch = load_preset("Variable-length sequences")
    arch = Architecture(InputSpec(10, None), arch.layers, Dense(5, None))
    result = Trainer(arch, TASKS["classify"], TrainConfig(steps=150, report_every=50)).run()
    assert result.final.val_metric > 0.6


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, **kwargs)


def test_cli_train_json(tmp_path) -> None:
    weights = tmp_path / "w.pt"
    result = cli(
        "train",
        str(ASSETS / "tutorial_keras.json"),
        "--task",
        "classify",
        "--steps",
        "20",
        "--report-every",
        "10",
        "--json",
        "--save-weights",
        str(weights),
        "--nice",
        "5",  # as the page's worker runs: below the server's priority
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["report", "report", "final"]
    assert lines[1]["step"] == 20 and "val_accuracy" in lines[1] and "1 LSTM" in lines[1]["grad_norms"]
    assert 0 <= lines[-1]["val_accuracy"] <= 1 and lines[-1]["params"] == 29_029
    state = torch.load(weights, weights_only=True)
    assert sum(t.numel() for t in state.values()) == 29_029


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], "invalid choice"),
        (["--task", "classify", "--steps", "0"], "must be a finite number > 0, received 0"),
        (["--task", "classify", "--lr", "nan"], "finite number > 0"),
        (["--task", "label"], "Set return_sequences=True on layer 2"),
    ],
)
def test_cli_train_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = cli("train", str(ASSETS / "tutorial_keras.json"), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_cli_train_stops_on_sigterm_and_still_reports() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explorer",
            "train",
            str(ASSETS / "tutorial_keras.json"),
            "--task",
            "classify",
            "--steps",
            "5000",
            "--report-every",
            "5",
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    assert first["type"] == "report"
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=30)[0].splitlines()
    final = json.loads(rest[-1])
    assert process.returncode == 0
    assert final["type"] == "final" and final["stopped"] is True and final["steps_done"] < 5000


def _fitted(arch: Architecture, task: str) -> Architecture:
    """The architecture with each task misfit fixed by its own Fix, as a user presses the buttons."""
    for _ in range(4):
        misfits = check_task(arch, TASKS[task])
        if not misfits:
            return arch
        arch = apply_fix(arch, misfits[0].action)
    raise AssertionError(f"still does not fit {task}: {[d.message for d in check_task(arch, TASKS[task])]}")


def test_an_embedding_stack_learns_the_token_task_far_past_its_baseline() -> None:
    arch = _fitted(load_preset("Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense"), "tokens")
    assert arch.layers[-1] == Dense(4, Activation.SOFTMAX)  # its Dense(1, sigmoid) fitted to four classes
    result = Trainer(arch, TASKS["tokens"], TrainConfig(steps=200, report_every=100)).run()
    assert result.failure is None
    assert result.baseline < 0.35 and result.final.val_metric > 0.9


def test_a_conv_front_end_forecaster_beats_the_naive_forecast() -> None:
    arch = load_preset("CNN-LSTM forecaster: Conv1D → MaxPool → LSTM → Dense")
    assert not check_task(arch, TASKS["forecast"])
    result = Trainer(arch, TASKS["forecast"], TrainConfig(steps=300, report_every=100)).run()
    assert result.final.val_metric < 0.5 * result.baseline


def test_token_data_need_token_input_and_an_embedding_that_knows_every_id() -> None:
    codes = {d.code for d in check_task(TUTORIAL, TASKS["tokens"])}
    assert "task-tokens" in codes
    small = Architecture(
        InputSpec(None, 20, tokens=True), (Embedding(10, 8), RecurrentLayer(CellType.GRU, 8)), Dense(4, None)
    )
    (misfit,) = check_task(small, TASKS["tokens"])
    assert misfit.code == "task-vocab" and "Set the Embedding's vocab to 50" in misfit.fix
    assert not check_task(apply_fix(small, misfit.action), TASKS["tokens"])


@settings(max_examples=12, deadline=None)
@given(arch=valid_stacks(max_layers=4))
def test_every_valid_stack_of_any_kinds_trains(arch: Architecture) -> None:
    """Fitted to a task by its own Fix buttons, as a user would, any stack trains: finite losses, no failure."""
    task = "tokens" if arch.input.tokens else "classify"
    for _ in range(6):
        misfits = check_task(arch, TASKS[task])
        assume(all(d.action is not None for d in misfits))  # a stack whose time axis no single switch decides
        if not misfits:
            break
        arch = apply_fix(arch, misfits[0].action)
    assume(not check_task(arch, TASKS[task]) and analyze(arch).valid)
    result = Trainer(arch, TASKS[task], TrainConfig(steps=3, report_every=3, batch_size=16)).run()
    assert result.failure is None and result.final is not None
    assert math.isfinite(result.final.train_loss) and math.isfinite(result.final.val_loss)


def test_validation_runs_dropout_and_batch_norm_in_evaluation_mode() -> None:
    """Validating twice gives the same loss although dropout zeroes half the values in training, and BatchNorm
    uses its running statistics, not the batch's: validation chunks of different sizes agree."""
    arch = Architecture(
        InputSpec(10, 20),
        (RecurrentLayer(CellType.LSTM, 16, return_sequences=True), BatchNorm(), Dropout(0.5), GlobalAvgPool1D()),
        Dense(5, Activation.SOFTMAX),
    )
    trainer = Trainer(arch, TASKS["classify"], TrainConfig(steps=5, report_every=5))
    model = trainer.run().model
    _, val = make_splits(TASKS["classify"], arch, seed=1, n_train=8, n_val=100)
    model.train()  # as the training loop leaves it
    first = trainer._evaluate(model, val)
    assert not model.training
    model.train()
    assert trainer._evaluate(model, val) == first
    in_one_chunk = Trainer(arch, TASKS["classify"], TrainConfig(batch_size=100))._evaluate(model, val)
    assert in_one_chunk == pytest.approx(first, rel=1e-5)


@pytest.mark.parametrize(
    ("preset", "task"),
    [
        ("Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5", "adding"),
        ("Sequence labelling: one label per time step", "label"),
        ("Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense", "tokens"),
        ("Teaching: broken stack (a middle layer without return_sequences)", None),
    ],
)
def test_the_recommended_task_is_the_one_that_shows_most_for_the_stack(preset: str, task: str | None) -> None:
    found = recommended_task(analyze(load_preset(preset)))
    assert (found.task if found else None) == task

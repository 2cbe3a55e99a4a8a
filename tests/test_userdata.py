"""Your own CSV as a task: documented formats, capped sizes, clear errors, and it really trains."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest
import torch

from explorer import userdata
from explorer.analysis import apply_fix
from explorer.spec import (
    DEFAULT_LIMITS,
    Activation,
    Architecture,
    CellType,
    Dense,
    InputSpec,
    Limits,
    RecurrentLayer,
)
from explorer.tasks import check_task
from explorer.train import TrainConfig, Trainer
from explorer.userdata import DataError, classification_task, forecast_task, parse_series_csv


def series_csv(length: int = 300) -> bytes:
    rng = random.Random(0)
    lines = ["temperature,load"]
    lines += [f"{math.sin(t * 0.2) + 0.05 * rng.random():.4f},{2 * math.cos(t * 0.13):.4f}" for t in range(length)]
    return ("\n".join(lines) + "\n").encode()


def labelled_csv(rows: int = 200, equal: bool = True) -> bytes:
    rng = random.Random(1)
    lines = []
    for i in range(rows):
        label = ["rising", "falling", "flat"][i % 3]
        n = 24 if equal else rng.randint(12, 24)
        slope = {"rising": 0.1, "falling": -0.1, "flat": 0.0}[label]
        lines.append(label + "," + ",".join(f"{slope * t + rng.gauss(0, 0.3):.3f}" for t in range(n)))
    return ("\n".join(lines) + "\n").encode()


def test_a_series_csv_trains_a_forecaster_that_beats_persistence() -> None:
    task = forecast_task(series_csv())
    arch = Architecture(InputSpec(1, 20), (RecurrentLayer(CellType.GRU, 32),), Dense(5))
    assert check_task(arch, task) == []
    result = Trainer(arch, task, TrainConfig(steps=200, report_every=100)).run()
    assert result.final.val_metric < 0.5 * result.baseline


def test_a_labelled_csv_trains_a_classifier() -> None:
    task = classification_task(labelled_csv())
    assert task.outputs == 3 and task.fixed_seq_len == 24 and "falling, flat, rising" in task.description
    arch = Architecture(InputSpec(1, 24), (RecurrentLayer(CellType.GRU, 16),), Dense(3, Activation.SOFTMAX))
    result = Trainer(arch, task, TrainConfig(steps=150, report_every=50)).run()
    assert result.final.val_metric > result.baseline + 0.3


def test_rows_of_different_lengths_need_a_variable_length_input() -> None:
    task = classification_task(labelled_csv(equal=False))
    arch = Architecture(InputSpec(1, 24), (RecurrentLayer(CellType.GRU, 8),), Dense(3))
    (misfit,) = check_task(arch, task)
    assert "differ in length" in misfit.message and misfit.fix == "Make the sequence length variable."
    fixed = apply_fix(arch, misfit.action)
    assert fixed.input.seq_len is None and check_task(fixed, task) == []
    result = Trainer(fixed, task, TrainConfig(steps=60, report_every=30)).run()
    assert result.failure is None


def test_a_fixed_length_mismatch_names_the_length() -> None:
    task = classification_task(labelled_csv())
    arch = Architecture(InputSpec(1, 20), (RecurrentLayer(CellType.GRU, 8),), Dense(3))
    (misfit,) = check_task(arch, task)
    assert "have 24 steps but the input takes seq_len=20" in misfit.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"a,b\n1,2\n", "at least two rows"),
        (b"a,b\n1,2\n3\n", "row 3 has 1 values"),
        (b"a\n1\nx\n", "not a number"),
        (b"a\n1\nnan\n", "NaN or an infinite"),
        (b"a\n1\n1e308\n2\n", "row 3 holds a value beyond ±1e\\+30, too large to normalise"),
        (b"a,b\n1,2\n1,3\n1,4\n", "the series 'a' \\(column 1\\) is constant"),
        (b"\xff\xfe", "not UTF-8"),
        (b"a\n" + b"1\n" * (DEFAULT_LIMITS.max_csv_bytes // 2), "more than the limit"),
    ],
)
def test_series_csv_errors(raw: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_series_csv(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"a,1,2\n" * 5, "at least 10"),
        (b"a,1,2\n" * 12, "at least two"),
        (b"a,1,2\nb,1\n" * 6, "no sequence after its label"),
        (b"a,1,x\nb,1,2\n" * 6, "not a number"),
        (b"a,3,3\nb,3,3\n" * 6, "every value in the file is the same"),
        (b"a,1,-1e300\nb,1,2\n" * 6, "too large to normalise"),
    ],
)
def test_labelled_csv_errors(raw: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        classification_task(raw)


def test_a_series_too_short_for_the_window_is_explained() -> None:
    task = forecast_task(series_csv(length=20))
    arch = Architecture(InputSpec(1, 30), (RecurrentLayer(CellType.GRU, 8),), Dense(5))
    with pytest.raises(DataError, match="more than 35 values"):
        Trainer(arch, task, TrainConfig(steps=5)).run()


def test_cli_trains_on_a_csv_and_refuses_a_bad_one(tmp_path) -> None:
    arch = tmp_path / "arch.json"
    arch.write_text(
        '{"input": {"features": 1, "seq_len": 20}, "layers": [{"type": "GRU", "units": 8}], "head": {"units": 5}}'
    )
    data = tmp_path / "series.csv"
    data.write_bytes(series_csv())
    run = [sys.executable, "-m", "explorer", "train", str(arch), "--task", "csv-forecast", "--steps", "20"]
    ok = subprocess.run([*run, "--csv", str(data)], capture_output=True, text=True)
    assert ok.returncode == 0 and "validation mse" in ok.stdout
    data.write_bytes(b"a\n1\nx\n")
    bad = subprocess.run([*run, "--csv", str(data)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a number" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run(run, capture_output=True, text=True)
    assert missing.returncode == 2 and "needs your data: --csv FILE" in missing.stderr
    gone = tmp_path / "gone.csv"
    unreadable = subprocess.run([*run, "--csv", str(gone)], capture_output=True, text=True)
    assert unreadable.returncode == 2 and f"error: cannot read {gone}: No such file" in unreadable.stderr


def test_row_limits_count_rows_of_numbers_exactly() -> None:
    limit = userdata.MAX_ROWS
    rows = [f"{'ab'[i % 2]},{i % 7},{i % 5}" for i in range(limit + 1)]
    with pytest.raises(DataError, match=f"{limit + 1:,} rows of numbers, more than the limit of {limit:,}"):
        classification_task(("\n".join(rows) + "\n").encode(), limits=Limits(max_csv_bytes=10**7))
    assert len(
        classification_task(("\n".join(rows[:limit]) + "\n").encode(), limits=Limits(max_csv_bytes=10**7)).description
    )
    series = "a\n" + "\n".join(str(i % 9) for i in range(limit))
    assert forecast_task(series.encode(), limits=Limits(max_csv_bytes=10**7)).examples > 0  # header + 20,000 rows


def test_zeros_in_classification_rows_are_data_not_padding() -> None:
    """0/1 data: the zeros are real values, normalised like the ones; only steps past a row's end are padding."""
    rows = [f"{'ab'[i % 2]}," + ",".join(str((i + t) % 2) for t in range(6 if i % 3 else 4)) for i in range(30)]
    task = classification_task(("\n".join(rows) + "\n").encode())
    train, val = task.user_splits(6, 0)
    data = torch.cat([train.x, val.x])
    lengths = torch.cat([train.lengths, val.lengths])
    valid = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    values = data[..., 0][valid]
    assert len(values.unique()) == 2 and (values != 0).all()  # the zeros were normalised like the ones
    assert values.mean().abs() < 1e-5 and (values.std() - 1).abs() < 1e-5  # z-scored over the real values
    assert (data[..., 0][~valid] == 0).all()  # padding stays 0


def test_labels_shown_in_the_description_are_bounded_and_printable() -> None:
    long_label = "x" * 500
    rows = [f"{long_label if i % 2 else 'b'},1,{i}" for i in range(12)] + ["c\x1b[31m,2,3"] * 2
    description = classification_task(("\n".join(rows) + "\n").encode()).description
    assert "x" * 30 not in description and "\x1b" not in description

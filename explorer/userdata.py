"""Your own data as a task, from a CSV file: forecasting (one series per column) or classification
(one sequence per row, the label first: the UCR archive's layout). Sizes are capped, every cell is
checked, and nothing in the file is executed.

Forecasting: a header row names the series; each example is a window of `seq_len` values of one series,
z-scored per series, and the target is its next 5 values. The last 20 % of every series' windows are
held out for validation, so validation lies after training in time.

Classification: no header; each row is `label,v1,v2,...`. Labels may be words or numbers; rows may
differ in length (then the input must be variable-length). 20 % of rows, picked by the seed, validate.
"""

from __future__ import annotations

import csv
import io
import math
import re

import torch

from explorer.literal import printable
from explorer.spec import DEFAULT_LIMITS, Limits
from explorer.tasks import FORECAST_HORIZON, Data, Kind, Task

MAX_ROWS = 20_000  # rows of numbers (a forecasting file's header row comes on top)
MAX_WINDOWS = 20_000
# Values are z-scored in float64 and trained in float32: past this magnitude their squares overflow.
MAX_MAGNITUDE = 1e30


class DataError(ValueError):
    """A CSV that cannot be used; the message says where and why."""


def _rows(raw: bytes, max_bytes: int, header: bool) -> list[list[str]]:
    if len(raw) > max_bytes:
        raise DataError(f"the file is {len(raw):,} bytes, more than the limit of {max_bytes:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise DataError(f"the file is not valid CSV: {exc}") from None
    if len(rows) - header > MAX_ROWS:
        raise DataError(f"the file has {len(rows) - header:,} rows of numbers, more than the limit of {MAX_ROWS:,}")
    return rows


def _numbers(cells: list[str], row: int) -> list[float]:
    try:
        values = [float(cell) for cell in cells]
    except ValueError:
        shown = [printable(cell, 20) for cell in cells[:5]]
        raise DataError(f"row {row} holds something that is not a number: {shown}") from None
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"row {row} holds NaN or an infinite value")
    if any(abs(v) > MAX_MAGNITUDE for v in values):
        raise DataError(f"row {row} holds a value beyond ±{MAX_MAGNITUDE:g}, too large to normalise: rescale the data")
    return values


def parse_series_csv(raw: bytes, max_bytes: int = DEFAULT_LIMITS.max_csv_bytes) -> torch.Tensor:
    """One time series per column under a header row of names: a (time, series) tensor."""
    rows = _rows(raw, max_bytes, header=True)
    if len(rows) < 3:
        raise DataError("the file needs a header row and at least two rows of numbers")
    header, body = rows[0], rows[1:]
    values = []
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"row {r} has {len(row)} values but the header names {len(header)} columns")
        values.append(_numbers(row, r))
    series = torch.tensor(values, dtype=torch.float64)
    spread = series.std(0)
    for column, name in enumerate(header):
        if spread[column] == 0:
            shown = printable(name, 40)
            raise DataError(f"the series {shown!r} (column {column + 1}) is constant: there is nothing to forecast")
    return series


def forecast_task(raw: bytes, name: str = "your series", limits: Limits = DEFAULT_LIMITS) -> Task:
    series = parse_series_csv(raw, limits.max_csv_bytes)
    series = ((series - series.mean(0)) / series.std(0)).float()  # z-score each series, in float64

    def splits(seq_len: int, seed: int) -> tuple[Data, Data]:
        span = seq_len + FORECAST_HORIZON
        if series.size(0) < span + 1:
            raise DataError(
                f"each series needs more than {span} values for windows of {seq_len} steps and "
                f"{FORECAST_HORIZON} targets; the file has {series.size(0)}"
            )
        windows = series.T.unfold(1, span, 1)  # (series, windows, span)
        cut = max(1, int(windows.size(1) * 0.8))
        train, val = windows[:, :cut].reshape(-1, span), windows[:, cut:].reshape(-1, span)
        g = torch.Generator().manual_seed(seed)
        train = train[torch.randperm(len(train), generator=g)[:MAX_WINDOWS]]
        val = val[:MAX_WINDOWS]

        def data(w: torch.Tensor) -> Data:
            return Data(w[:, :seq_len, None], w[:, seq_len:], torch.full((len(w),), seq_len, dtype=torch.long))

        return data(train), data(val)

    return Task(
        "csv-forecast",
        f"Forecasting {name}",
        f"Your {series.size(1)} series: predict the next five values.",
        Kind.REGRESSION,
        1,
        FORECAST_HORIZON,
        False,
        30,
        None,
        "repeat the last value",
        user_splits=splits,
        examples=min(series.numel(), 2 * MAX_WINDOWS),  # a window per value at most, capped in each split
    )


def classification_task(raw: bytes, name: str = "your sequences", limits: Limits = DEFAULT_LIMITS) -> Task:
    rows = _rows(raw, limits.max_csv_bytes, header=False)
    max_seq_len = limits.max_seq_len
    if len(rows) < 10:
        raise DataError(f"the file has {len(rows)} rows; classification needs at least 10 (one sequence a row)")
    labels = [row[0].strip() for row in rows]
    names = sorted(set(labels))
    if len(names) < 2:
        raise DataError("every row has the same label: classification needs at least two")
    sequences = []
    for r, row in enumerate(rows, start=1):
        if len(row) < 3:
            raise DataError(f"row {r} has no sequence after its label (at least two values are needed)")
        if len(row) - 1 > max_seq_len:
            raise DataError(f"row {r} has {len(row) - 1} values, more than the sequence limit of {max_seq_len}")
        sequences.append(_numbers(row[1:], r))
    lengths = torch.tensor([len(s) for s in sequences])
    longest = int(lengths.max())
    x = torch.zeros(len(rows), longest, 1, dtype=torch.float64)
    for i, values in enumerate(sequences):
        x[i, : len(values), 0] = torch.tensor(values, dtype=torch.float64)
    # z-score the real values (zeros among them too); the padding after each row's end stays 0
    valid = (torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    spread = x[valid].std()
    if spread == 0:
        raise DataError("every value in the file is the same: there is nothing to tell the classes apart by")
    x = ((x - x[valid].mean()) / spread * valid).float()
    y = torch.tensor([names.index(label) for label in labels])
    equal = bool((lengths == longest).all())

    def splits(seq_len: int, seed: int) -> tuple[Data, Data]:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        cut = max(1, int(len(y) * 0.8))
        train, val = order[:cut], order[cut:]
        return Data(x[train], y[train], lengths[train]), Data(x[val], y[val], lengths[val])

    return Task(
        "csv-classify",
        f"Classifying {name}",
        f"Your {len(rows)} sequences in {len(names)} classes "
        f"({', '.join(printable(n, 30) for n in names[:6])}{'…' if len(names) > 6 else ''}).",
        Kind.CLASSIFICATION,
        1,
        len(names),
        False,
        longest,
        None,
        "majority class",
        user_splits=splits,
        fixed_seq_len=longest if equal else None,
        variable_lengths=not equal,
        examples=len(rows),
    )


USER_TASKS = {"csv-forecast": forecast_task, "csv-classify": classification_task}


def csv_format(kind: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """What a file for `kind` must look like, said where the file is chosen (page users never see the README)."""
    layout = {
        "csv-forecast": "a header row of names, then one time series per column, numbers only. Each example is a "
        "window of the input's sequence length and its target the next five values; the input takes 1 feature.",
        "csv-classify": "no header; one sequence per row, its label first: rising,0.1,0.3,0.2,... Labels may be "
        "words or numbers; rows may differ in length (make the input variable-length then).",
    }[kind]
    size = f"{limits.max_csv_bytes / 2**20:g} MB"
    return f"The file: {layout} At most {size} and {MAX_ROWS:,} rows; no empty cells, NaN or text among the numbers."


def user_task(kind: str, raw: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> Task:
    return USER_TASKS[kind](raw, safe_name(name), limits)


def safe_name(name: str) -> str:
    """A file name as shown on the page: letters, digits and . _ - only, so it cannot inject markdown or HTML."""
    kept = re.sub(r"[^\w.\-]+", "_", name)[:60].strip("_.")
    return kept or "your file"

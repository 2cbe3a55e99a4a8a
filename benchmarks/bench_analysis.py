"""Analysis of a 12-layer recurrent stack and of a 30-layer mixed stack (every kind): median time, against a
real torch forward pass of the same model measured in the same run. Target: under a millisecond for 30 layers.

torchinfo and torchview learn shapes by running the model (a forward pass, and for torchview a traced
graph); the analysis derives them from the architecture alone. Where either package is installed it is
timed as well. Run: python benchmarks/bench_analysis.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from explorer.analysis import analyze
from explorer.build import build
from explorer.layers.conv import AvgPool1D, Conv1D, MaxPool1D, Padding
from explorer.layers.dense import ActivationLayer, Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm, LayerNorm
from explorer.layers.reshape import Flatten, GlobalMaxPool1D, RepeatVector
from explorer.spec import Activation, Architecture, CellType, Dense, InputSpec, RecurrentLayer


def twelve_layer_stack() -> Architecture:
    cells = [CellType.LSTM, CellType.GRU, CellType.RNN]
    layers = tuple(
        RecurrentLayer(cells[i % 3], 64, return_sequences=i < 11, bidirectional=i % 4 == 0) for i in range(12)
    )
    return Architecture(InputSpec(10, 20, 4), layers, Dense(5))


def thirty_layer_mixed_stack() -> Architecture:
    """Token input, a conv front end, pooling, recurrent layers with norms and dropout between them, an
    encoder–decoder and a Dense stack: 30 layers of every kind."""
    layers = (
        Embedding(5000, 64),
        Conv1D(64, 5, padding=Padding.SAME, activation=Activation.RELU),
        BatchNorm(),
        MaxPool1D(2),
        Conv1D(64, 3, activation=Activation.RELU),
        AvgPool1D(2, padding=Padding.SAME),
        RecurrentLayer(CellType.LSTM, 64, return_sequences=True, bidirectional=True),
        LayerNorm(),
        Dropout(0.2),
        RecurrentLayer(CellType.GRU, 64, return_sequences=True),
        RecurrentLayer(CellType.GRU, 64, return_sequences=True),
        Dense(64, Activation.TANH),
        Dropout(0.2),
        RecurrentLayer(CellType.LSTM, 64, return_sequences=True, num_layers=2),
        ActivationLayer(Activation.GELU),
        RecurrentLayer(CellType.LSTM, 32),
        RepeatVector(10),
        RecurrentLayer(CellType.RNN, 32, return_sequences=True),
        LayerNorm(),
        RecurrentLayer(CellType.GRU, 32, return_sequences=True, bidirectional=True),
        GlobalMaxPool1D(),
        Dense(128, Activation.RELU),
        BatchNorm(),
        Dropout(0.3),
        Dense(64, Activation.RELU),
        Dropout(0.3),
        Dense(32, Activation.ELU),
        RepeatVector(4),
        Flatten(),
        Dense(3, Activation.SOFTMAX),
    )
    return Architecture(InputSpec(None, 40, 4, tokens=True), layers)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _mixed(args.repeats)
    arch = twelve_layer_stack()
    model = build(arch).eval()
    x = torch.randn(4, 20, 10)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    rows = [("explorer.analyze (no torch)", median_seconds(lambda: analyze(arch), args.repeats))]
    rows.append(("torch forward, no_grad (baseline)", median_seconds(forward, max(args.repeats // 4, 5))))
    try:
        import torchinfo

        rows.append(("torchinfo.summary", median_seconds(lambda: torchinfo.summary(model, (4, 20, 10), verbose=0), 10)))
    except ImportError:
        pass
    try:
        import torchview

        rows.append(
            ("torchview.draw_graph", median_seconds(lambda: torchview.draw_graph(model, input_size=(4, 20, 10)), 3))
        )
    except ImportError:
        pass

    baseline = rows[1][1]
    print(f"12-layer stack, input (4, 20, 10), {args.repeats} repeats, torch threads 1")
    print(f"{'what':38} {'median':>12} {'vs forward':>11}")
    for name, seconds in rows:
        print(f"{name:38} {seconds * 1e6:>9.1f} µs {seconds / baseline:>10.3f}×")


def _mixed(repeats: int) -> None:
    arch = thirty_layer_mixed_stack()
    assert len(arch.layers) == 30 and analyze(arch).valid
    model = build(arch).eval()
    x = torch.randint(0, 5000, (4, 40))

    def forward() -> None:
        with torch.no_grad():
            model(x)

    analysis = median_seconds(lambda: analyze(arch), repeats)
    baseline = median_seconds(forward, max(repeats // 4, 5))
    print(f"30-layer mixed stack (every kind), token input (4, 40), {repeats} repeats, torch threads 1")
    print(f"{'what':38} {'median':>12} {'vs forward':>11}")
    for name, seconds in [("explorer.analyze (no torch)", analysis), ("torch forward, no_grad (baseline)", baseline)]:
        print(f"{name:38} {seconds * 1e6:>9.1f} µs {seconds / baseline:>10.3f}×")
    print(f"target: analysis under 1 ms: {'met' if analysis < 1e-3 else 'NOT MET'}\n")


if __name__ == "__main__":
    main()

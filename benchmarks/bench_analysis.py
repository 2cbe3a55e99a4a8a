"""Analysis of a 12-layer stack: median time, against a real torch forward pass measured in the same run.

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
from explorer.spec import Architecture, CellType, Dense, InputSpec, RecurrentLayer


def twelve_layer_stack() -> Architecture:
    cells = [CellType.LSTM, CellType.GRU, CellType.RNN]
    layers = tuple(
        RecurrentLayer(cells[i % 3], 64, return_sequences=i < 11, bidirectional=i % 4 == 0) for i in range(12)
    )
    return Architecture(InputSpec(10, 20, 4), layers, Dense(5))


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


if __name__ == "__main__":
    main()

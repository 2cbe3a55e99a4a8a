"""The training memory estimate against real runs: peak resident memory of a worker that trains a few steps.

    python -m benchmarks.bench_memory            # a spread of stacks; prints estimate, measured and their ratio
    python -m benchmarks.bench_memory --quick    # four stacks

The estimate (explorer.budget) must stay above every measurement (ratio >= 1): it is what the server refuses
runs by. Each run is its own process, and its peak is read from the kernel (wait4's ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from explorer.budget import MB, estimate_training_memory
from explorer.layers.conv import Conv1D, MaxPool1D, Padding
from explorer.layers.dense import Dropout
from explorer.layers.embedding import Embedding
from explorer.layers.norm import BatchNorm, LayerNorm
from explorer.layers.reshape import GlobalAvgPool1D
from explorer.spec import Activation, Architecture, CellType, Dense, InputSpec, RecurrentLayer, architecture_to_json
from explorer.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
# (cell, units, seq_len, batch, bidirectional, num_layers)
STACKS = [
    (CellType.LSTM, 64, 20, 64, False, 1),
    (CellType.LSTM, 256, 200, 64, False, 1),
    (CellType.LSTM, 512, 200, 128, False, 1),
    (CellType.LSTM, 256, 1000, 64, False, 2),
    (CellType.GRU, 512, 500, 64, True, 1),
    (CellType.RNN, 1024, 500, 64, False, 1),
    (CellType.LSTM, 128, 2000, 256, True, 1),
    (CellType.GRU, 1024, 100, 512, False, 1),
]


def mixed_stacks() -> list[tuple[str, Architecture, str, int, int]]:
    """(name, architecture, task, seq_len, batch): stacks whose memory is mostly in the layers around the
    recurrent ones (a conv front end, a large Embedding, a wide Dense at every step)."""
    classify_head = Dense(5, Activation.SOFTMAX)
    conv = Architecture(
        InputSpec(10, 2000),
        (
            Conv1D(512, 5, padding=Padding.SAME, activation=Activation.RELU),
            BatchNorm(),
            MaxPool1D(2),
            RecurrentLayer(CellType.LSTM, 128),
        ),
        classify_head,
    )
    embedding = Architecture(
        InputSpec(None, 400, tokens=True),
        (Embedding(50000, 512), Dropout(0.2), RecurrentLayer(CellType.LSTM, 256), Dense(4, Activation.SOFTMAX)),
    )
    per_step = Architecture(
        InputSpec(10, 200),
        (
            RecurrentLayer(CellType.LSTM, 256, return_sequences=True),
            Dense(2048, Activation.RELU),
            Dropout(0.3),
            LayerNorm(),
            GlobalAvgPool1D(),
        ),
        classify_head,
    )
    return [
        ("Conv1D 512 → BatchNorm → MaxPool → LSTM 128, T=2000 batch=64", conv, "classify", 2000, 64),
        ("Embedding 50,000 × 512 → LSTM 256, T=400 batch=64", embedding, "tokens", 400, 64),
        ("LSTM 256 → Dense 2048 per step → LayerNorm → pool, T=200 batch=64", per_step, "classify", 200, 64),
    ]


def architecture(cell: CellType, units: int, seq_len: int, bidirectional: bool, num_layers: int) -> Architecture:
    first = RecurrentLayer(cell, units, True, bidirectional, 0.0, num_layers)
    return Architecture(InputSpec(10, seq_len), (first, RecurrentLayer(CellType.LSTM, 32)), Dense(5))


def measured_peak(arch: Architecture, batch: int, steps: int, task: str = "classify") -> int:
    """Peak resident bytes of a worker training `steps` steps (budget lifted so that the run is not refused)."""
    command = [sys.executable, "-m", "explorer", "train", "-", "--task", task, "--steps", str(steps)]
    command += ["--batch-size", str(batch), "--report-every", "1", "--json"]
    env = {**os.environ, "EXPLORER_MAX_TRAIN_MEMORY_MB": "1000000"}
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert process.stdin is not None
    process.stdin.write(architecture_to_json(arch).encode())
    process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the run failed with exit code {process.returncode}")
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three stacks only")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    task = TASKS["classify"]
    print(f"{'stack':<44} {'estimate MB':>12} {'measured MB':>12} {'ratio':>6}")
    ratios = []
    for cell, units, seq_len, batch, bidirectional, num_layers in STACKS[:3] if args.quick else STACKS:
        arch = architecture(cell, units, seq_len, bidirectional, num_layers)
        estimate = estimate_training_memory(arch, seq_len, batch, task.examples, task.outputs).total
        peak = measured_peak(arch, batch, args.steps)
        ratios.append(estimate / peak)
        name = f"{cell.value}({units}{', bi' if bidirectional else ''}, layers={num_layers}) T={seq_len} batch={batch}"
        print(f"{name:<44} {estimate / MB:>12,.0f} {peak / MB:>12,.0f} {estimate / peak:>6.2f}", flush=True)
    for name, arch, task_name, seq_len, batch in mixed_stacks()[:1] if args.quick else mixed_stacks():
        task = TASKS[task_name]
        estimate = estimate_training_memory(arch, seq_len, batch, task.examples, task.outputs).total
        peak = measured_peak(arch, batch, args.steps, task_name)
        ratios.append(estimate / peak)
        print(f"{name:<44} {estimate / MB:>12,.0f} {peak / MB:>12,.0f} {estimate / peak:>6.2f}", flush=True)
    print(f"lowest ratio {min(ratios):.2f} (must be >= 1: the estimate is an upper bound), highest {max(ratios):.2f}")


if __name__ == "__main__":
    main()

"""The training memory estimate against real runs: peak resident memory of a worker that trains a few steps.

    python -m benchmarks.bench_memory            # a spread of stacks; prints estimate, measured and their ratio
    python -m benchmarks.bench_memory --quick    # three stacks

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
from explorer.spec import Architecture, CellType, Dense, InputSpec, RecurrentLayer, architecture_to_json
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


def architecture(cell: CellType, units: int, seq_len: int, bidirectional: bool, num_layers: int) -> Architecture:
    first = RecurrentLayer(cell, units, True, bidirectional, 0.0, num_layers)
    return Architecture(InputSpec(10, seq_len), (first, RecurrentLayer(CellType.LSTM, 32)), Dense(5))


def measured_peak(arch: Architecture, batch: int, steps: int) -> int:
    """Peak resident bytes of a worker training `steps` steps (budget lifted so that the run is not refused)."""
    command = [sys.executable, "-m", "explorer", "train", "-", "--task", "classify", "--steps", str(steps)]
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
    print(f"lowest ratio {min(ratios):.2f} (must be >= 1: the estimate is an upper bound), highest {max(ratios):.2f}")


if __name__ == "__main__":
    main()

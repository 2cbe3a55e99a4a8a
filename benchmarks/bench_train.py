"""Training speed, steps/s, each figure against a baseline measured in the same run.

1. The trainer against a hand-written minimal PyTorch loop (same model, data, batch, one torch thread),
   each in a fresh process; "hand, tuned" is the hand loop with the trainer's allocator settings, so the
   table shows what the trainer's own setup wins.
2. Keras 3's fit on the same model (torch backend), where keras is installed.
3. Fused against unfused stacking (two LSTM 64 as one nn.LSTM(num_layers=2) or two modules), on the CPU
   and on CUDA where there is one.
4. With --page: training from the page (browser open, curves updating) against the same run headless.

Run from the repository root: python -m benchmarks.bench_train [--steps N] [--page]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from explorer.build import build
from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.spec import Architecture, CellType, Dense, InputSpec, RecurrentLayer
from explorer.tasks import TASKS, make_splits
from explorer.train import TrainConfig, Trainer, tune_allocator

ROOT = Path(__file__).resolve().parent.parent
BATCH, LENGTH = 64, 50


def stacks() -> dict[str, Architecture]:
    tutorial = load_preset(DEFAULT_PRESET)
    lstm = RecurrentLayer(CellType.LSTM, 64, return_sequences=True)
    return {
        "tutorial LSTM64→GRU32": Architecture(InputSpec(10, LENGTH), tutorial.layers, Dense(5)),
        "2 × LSTM64 (fused)": Architecture(InputSpec(10, LENGTH), (lstm, RecurrentLayer(CellType.LSTM, 64)), Dense(5)),
    }


def hand_loop(arch: Architecture, steps: int, device: str = "cpu", fuse: bool = True) -> float:
    """What a person writes: model, Adam, random batches, loss.item() every step."""
    torch.manual_seed(0)
    train, _ = make_splits(TASKS["classify"], arch, seed=0, n_train=2048, n_val=1)
    x, y = train.x.to(device), train.y.to(device)
    model = build(arch, fuse=fuse).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        index = torch.randint(0, len(x), (BATCH,), device=device)
        loss = loss_fn(model.run(x[index], activate=False)[0], y[index])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(10):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def trainer_speed(arch: Architecture, steps: int, device: str = "cpu") -> float:
    config = TrainConfig(steps=steps, batch_size=BATCH, report_every=50, device=device)
    return Trainer(arch, TASKS["classify"], config).run().final.steps_per_s


def keras_fit(arch: Architecture, steps: int) -> float | None:
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError:
        return None
    from explorer.codegen import keras_code

    namespace: dict = {}
    exec(compile(keras_code(arch), "keras_model.py", "exec"), namespace)  # our own generated code, not user input
    model = namespace["model"]
    model.compile(optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0), loss="sparse_categorical_crossentropy")
    train, _ = make_splits(TASKS["classify"], arch, seed=0, n_train=(steps + 10) * BATCH, n_val=1)
    x, y = train.x.numpy(), train.y.numpy()  # enough for every step: fit stops early when data runs out
    model.fit(x[: 10 * BATCH], y[: 10 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps / (time.perf_counter() - start)


def page_against_headless(steps: int) -> tuple[float, float]:
    """The tutorial stack on the classification task: in the page with a browser watching, and headless."""
    sys.path.insert(0, str(ROOT / "tests"))
    from playwright.sync_api import sync_playwright

    from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app

    headless = subprocess.run(
        [
            sys.executable,
            "-m",
            "explorer",
            "train",
            str(ROOT / "assets" / "tutorial_keras.json"),
            "--task",
            "classify",
            "--steps",
            str(steps),
            "--report-every",
            str(max(1, steps // 100)),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    headless_speed = json.loads(headless.stdout.splitlines()[-1])["steps_per_s"]
    server, url = start_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(url)
            page.wait_for_selector("svg g.edge text", timeout=60_000)
            page.get_by_role("tab", name="Train").click()
            box = page.get_by_label("Steps")
            box.fill(str(steps))
            box.press("Enter")
            page.get_by_role("button", name="Train", exact=True).click()
            done = page.get_by_text(re.compile(r"Run #1: done"))
            done.wait_for(timeout=600_000)
            text = done.text_content()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    page_speed = float(re.search(r"(\d+) steps/s", text).group(1))
    return page_speed, headless_speed


MEASURES = {
    "hand": lambda arch, steps, device: hand_loop(arch, steps, device),
    "hand-tuned": lambda arch, steps, device: (tune_allocator(), hand_loop(arch, steps, device))[1],
    "trainer": lambda arch, steps, device: trainer_speed(arch, steps, device),
    "keras": lambda arch, steps, device: keras_fit(arch, steps),
    "fused": lambda arch, steps, device: hand_loop(arch, steps, device, fuse=True),
    "unfused": lambda arch, steps, device: hand_loop(arch, steps, device, fuse=False),
}


def measure(what: str, stack: str, steps: int, repeats: int, device: str = "cpu") -> float | None:
    """Median steps/s of `what`, each repeat in a fresh process: the allocator and thread settings one
    measurement makes can never leak into the next."""
    results = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_train", "--one", what, stack, str(steps), device],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        value = json.loads(out.stdout.splitlines()[-1])
        if value is None:
            return None
        results.append(value)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--page", action="store_true", help="also time training from the page in Chromium")
    parser.add_argument("--one", nargs=4, metavar=("WHAT", "STACK", "STEPS", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.one:
        what, stack, steps, device = args.one
        print(json.dumps(MEASURES[what](stacks()[stack], int(steps), device)))
        return
    print(f"steps/s, batch {BATCH}, length {LENGTH}, 1 torch thread, median of {args.repeats} fresh processes")
    header = f"{'model':24} {'hand loop':>10} {'hand, tuned':>12} {'trainer':>9} {'trainer/hand':>13} {'keras fit':>10}"
    print("\n" + header)
    for name in stacks():
        hand, tuned, trained = (measure(w, name, args.steps, args.repeats) for w in ("hand", "hand-tuned", "trainer"))
        keras_speed = measure("keras", name, args.steps, args.repeats) if "tutorial" in name else None
        keras_text = f"{keras_speed:>10.1f}" if keras_speed else f"{'—':>10}"
        print(f"{name:24} {hand:>10.1f} {tuned:>12.1f} {trained:>9.1f} {trained / hand:>12.2f}× {keras_text}")

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"\n{'device':8} {'fused':>8} {'unfused':>8} {'fused/unfused':>14}   (2 × LSTM64, hand loop)")
    for device in devices:
        fused = measure("fused", "2 × LSTM64 (fused)", args.steps, args.repeats, device)
        unfused = measure("unfused", "2 × LSTM64 (fused)", args.steps, args.repeats, device)
        print(f"{device:8} {fused:>8.1f} {unfused:>8.1f} {fused / unfused:>13.2f}×")

    if args.page:
        page_speed, headless_speed = page_against_headless(max(args.steps, 600))
        print(
            f"\npage (browser open) {page_speed:.0f} steps/s, headless {headless_speed:.0f}: "
            f"{page_speed / headless_speed:.2f}×"
        )


if __name__ == "__main__":
    main()

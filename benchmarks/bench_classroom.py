"""A classroom on loopback: N browser sessions open, K of them training, the others editing.

Each session opens its own architecture (units 10 + its number) from a link. K sessions start a training
run; the rest toggle return_sequences and time edit → redrawn SVG. Reports p50 and p95 of that latency,
the server's memory per open session, every session's check that it shows only its own architecture,
and any error seen. Bounded: a fixed number of edits, every wait has a timeout, training runs are stopped.

Run from the repository root: python -m benchmarks.bench_classroom [--sessions 30] [--training 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.share import encode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app  # noqa: E402

EDGE_TEXT = "svg g.edge text"
CHANGED = (
    """(before) => [...document.querySelectorAll('svg g.edge text')].map(t => t.textContent).join('|') !== before"""
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--training", type=int, default=5)
    parser.add_argument("--edits", type=int, default=4, help="edits per editing session")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=10,
        help="CPU priority of the browsers (0: same as the server). In a classroom the browsers run on the "
        "students' machines; here they share the server's cores, so by default they yield to it",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server, url = start_app({"EXPLORER_MAX_CONCURRENT_TRAININGS": str(args.training)})
    os.nice(args.browser_nice)  # after the server started: only this process and its browsers yield
    base = load_preset(DEFAULT_PRESET)
    errors: list[str] = []
    latencies: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pages = []
            for n in range(args.sessions):
                page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                arch = base.with_layer(0, units=10 + n)
                page.goto(f"{url}/?a={encode(arch)}")
                pages.append(page)
                if n == 0:  # the first session pays for the imports (torch, plotly): measure after it
                    page.wait_for_selector(EDGE_TEXT, timeout=120_000)
                    first_rss = rss_mib(server.pid)
            for page in pages:
                page.wait_for_selector(EDGE_TEXT, timeout=120_000)
            open_rss = rss_mib(server.pid)

            trainers = pages[: args.training]
            for page in trainers:
                page.get_by_role("tab", name="Train").click()
                box = page.get_by_label("Steps")
                box.fill("5000")
                box.press("Enter")
                page.get_by_role("button", name="Train", exact=True).click()
            for page in trainers:
                page.get_by_text(re.compile(r"Run #1: running")).wait_for(timeout=120_000)

            editors = pages[args.training :]
            for _ in range(args.edits):
                for page in editors:
                    toggle = page.locator("[data-testid=stMarkdownContainer]").get_by_text(
                        "return_sequences", exact=True
                    )
                    before = "|".join(page.locator(EDGE_TEXT).all_text_contents())
                    start = time.perf_counter()
                    toggle.nth(1).click()
                    page.wait_for_function(CHANGED, arg=before, timeout=60_000, polling="raf")
                    latencies.append(time.perf_counter() - start)

            for n, page in enumerate(pages):  # each session shows its own layer 1, and no one else's
                units = re.findall(
                    r"LSTM\((\d+), return_sequences\)", " ".join(page.locator("svg text").all_text_contents())
                )
                if units != [str(10 + n)]:
                    errors.append(f"session {n} shows LSTM units {units}, expected [{10 + n}]")
            still_training = sum(page.get_by_text(re.compile(r"Run #1: running")).count() for page in trainers)
            report(args, latencies, first_rss, open_rss, still_training, errors)  # before cleanup can fail
            for page in trainers:  # a run may have finished meanwhile; stop the others
                stop = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")
                if stop.is_enabled():
                    stop.click()
            for page in trainers:
                page.get_by_text(re.compile(r"Run #1: (stopped|done)")).wait_for(timeout=60_000)
            browser.close()
    finally:
        server.terminate()


def report(
    args: argparse.Namespace,
    latencies: list[float],
    first_rss: float,
    open_rss: float,
    still_training: int,
    errors: list[str],
) -> None:
    quantiles = statistics.quantiles(latencies, n=20)
    p50, p95 = statistics.median(latencies) * 1e3, quantiles[18] * 1e3
    per_session = (open_rss - first_rss) / max(args.sessions - 1, 1)
    print(
        f"{args.sessions} sessions open, {args.training} training at once, {len(latencies)} edits timed, "
        f"browsers at nice {args.browser_nice}"
    )
    print(f"edit → redrawn SVG under load: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(
        f"server memory: {first_rss:.0f} MiB with one session, {open_rss:.0f} MiB with {args.sessions} "
        f"({per_session:.1f} MiB per further session); each training runs in its own worker process"
    )
    print(f"trainings still running when checked: {still_training} of {args.training}")
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")


if __name__ == "__main__":
    main()

"""A classroom on loopback: N browser sessions open, K of them training, the others editing.

Each session opens its own architecture (units 10 + its number) from a link. K sessions start a training
run; the rest toggle return_sequences and time each edit twice: from the page's request to the new graph
coming back (read off the session's websocket: the server's share), and from the click to the
redrawn SVG in the page (adds this machine's Chromium rendering, which in a classroom runs on the
students' machines, not on the server's cores). Reports p50 and p95 of both, the server's memory per open
session, every session's check that it shows only its own architecture, and any error seen. Bounded: a fixed
number of edits, every wait has a timeout, training runs are stopped.

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

TRAIN_STEPS = 20_000  # a report every 200 steps; the page polls every second regardless
GRAPH_MARK = b'class="dataflow"'  # the graph panel's inlined SVG (explorer/ui/widgets.py)
EDGE_TEXT = "svg g.edge text"
CHANGED = (
    """(before) => [...document.querySelectorAll('svg g.edge text')].map(t => t.textContent).join('|') !== before"""
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class SocketLog:
    """When this page's websocket sent a request and received a message carrying the data-flow graph.

    Both are seen the same way (Chromium tells Playwright of each frame), so their difference is the
    server's time for an edit, without the browser's own work before and after."""

    def __init__(self, page) -> None:
        self.page, self.sent, self.graphs = page, [], []
        page.on("websocket", lambda socket: self._watch(socket))

    def _watch(self, socket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(time.perf_counter()))
        socket.on("framereceived", self._received)

    def _received(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes) and GRAPH_MARK in payload:
            self.graphs.append(time.perf_counter())

    def server_time(self, since: float) -> float:
        """From the first request after `since` to the first graph after it; waits for events still on
        their way (the page can show the graph before this process hears of the frame)."""
        for _ in range(1000):
            sent = next((t for t in self.sent if t > since), None)
            graph = next((t for t in self.graphs if sent is not None and t > sent), None)
            if graph is not None:
                return graph - sent
            self.page.wait_for_timeout(10)
        raise TimeoutError("the websocket never carried the new graph")


def cpu_seconds(pid: int) -> float:
    user, system = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[11:13]
    return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")


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

    # The trainings must last the whole edit phase: raised step and time limits, stopped at the end.
    limits = {"MAX_CONCURRENT_TRAININGS": max(args.training, 1), "MAX_STEPS": TRAIN_STEPS, "MAX_TRAIN_SECONDS": 3600}
    server, url = start_app({f"EXPLORER_{name}": str(value) for name, value in limits.items()})
    os.nice(args.browser_nice)  # after the server started: only this process and its browsers yield
    base = load_preset(DEFAULT_PRESET)
    errors: list[str] = []
    latencies: list[float] = []  # click → redrawn SVG in the page
    server_latencies: list[float] = []  # edit request sent → new graph received
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pages = []
            sockets = []
            for n in range(args.sessions):
                page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                sockets.append(SocketLog(page))
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
                box.fill(str(TRAIN_STEPS))
                box.press("Enter")
                page.get_by_role("button", name="Train", exact=True).click()
            for page in trainers:
                page.get_by_text(re.compile(r"Run #1: running")).wait_for(timeout=120_000)

            editors = range(args.training, args.sessions)
            phase_start, server_cpu_start = time.perf_counter(), cpu_seconds(server.pid)
            for _ in range(args.edits):
                for n in editors:
                    page = pages[n]
                    toggle = page.locator("[data-testid=stMarkdownContainer]").get_by_text(
                        "return_sequences", exact=True
                    )
                    before = "|".join(page.locator(EDGE_TEXT).all_text_contents())
                    start = time.perf_counter()
                    toggle.nth(1).click()
                    page.wait_for_function(CHANGED, arg=before, timeout=60_000, polling="raf")
                    latencies.append(time.perf_counter() - start)
                    server_latencies.append(sockets[n].server_time(start))

            server_cpu = (cpu_seconds(server.pid) - server_cpu_start) / (time.perf_counter() - phase_start)
            for n, page in enumerate(pages):  # each session shows its own layer 1, and no one else's
                units = re.findall(
                    r"LSTM\((\d+), return_sequences\)", " ".join(page.locator("svg text").all_text_contents())
                )
                if units != [str(10 + n)]:
                    errors.append(f"session {n} shows LSTM units {units}, expected [{10 + n}]")
            still_training = sum(page.get_by_text(re.compile(r"Run #1: running")).count() for page in trainers)
            # Reported before the cleanup, which can fail.
            report(args, latencies, server_latencies, server_cpu, first_rss, open_rss, still_training, errors)
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
    server_latencies: list[float],
    server_cpu: float,
    first_rss: float,
    open_rss: float,
    still_training: int,
    errors: list[str],
) -> None:
    per_session = (open_rss - first_rss) / max(args.sessions - 1, 1)
    print(
        f"{args.sessions} sessions open, {args.training} training at once, {len(latencies)} edits timed, "
        f"browsers at nice {args.browser_nice}"
    )
    timed = [("request → new graph (server)", server_latencies), ("click → redrawn SVG in the page", latencies)]
    for what, measured in timed:
        p50, p95 = statistics.median(measured) * 1e3, statistics.quantiles(measured, n=20)[18] * 1e3
        print(f"edit, {what}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(
        f"server memory: {first_rss:.0f} MiB with one session, {open_rss:.0f} MiB with {args.sessions} "
        f"({per_session:.1f} MiB per further session); each training runs in its own worker process"
    )
    print(f"server process CPU while editing: {server_cpu:.0%} of one core (training workers not included)")
    print(f"trainings still running when checked: {still_training} of {args.training}")
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")


if __name__ == "__main__":
    main()

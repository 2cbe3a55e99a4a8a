"""A classroom on loopback: N sessions open, K of them training, the others editing at the same time.

Every student's session speaks Streamlit's own websocket protocol, as the page's JavaScript does, without
rendering: in a classroom the browsers run on the students' machines, not on the server's two cores. The K
trainers press Train and then poll their live chart every second, as the page's fragment timer does; the
editors all edit at once, each toggling return_sequences after a random pause (seeded). Each edit is timed
from the request to the new graph coming back: what the server makes a student wait. A few real Chromium
pages edit too and are timed from the click to the redrawn SVG, rendering on this machine included.

Reports p50 and p95 of both, the server's CPU and memory per open session, every session's check that it
shows only its own architecture, and any error seen. Bounded: a fixed number of edits, every wait has a
timeout, training runs are stopped.

Run from the repository root: python -m benchmarks.bench_classroom [--sessions 30] [--training 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import sys
import threading
import time
from functools import partial
from pathlib import Path

from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.share import encode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app  # noqa: E402
from streamlit_client import TOGGLE, Student, open_socket  # noqa: E402

TRAIN_STEPS = 20_000  # a report every 200 steps; the page polls every second regardless
QUIET_EDITS = 11
QUIET_PAUSE = 0.5
EDGE_TEXT = "svg g.edge text"
CHANGED = (
    """(before) => [...document.querySelectorAll('svg g.edge text')].map(t => t.textContent).join('|') !== before"""
)


def layer_one_units(text: str) -> list[str]:
    """The units of the first layer (an LSTM returning sequences) in a graph's text."""
    return re.findall(r"LSTM\((\d+), return_sequences\)", text)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    user, system = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[11:13]
    return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--training", type=int, default=5, help="sessions that train")
    parser.add_argument("--pages", type=int, default=2, help="real pages that edit, timed click → redrawn SVG")
    parser.add_argument("--edits", type=int, default=10, help="edits per editing student")
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS, help="steps of each training (a report every 1 %%)")
    parser.add_argument("--pause", type=float, default=2.0, help="mean seconds between one student's edits")
    parser.add_argument(
        "--streamlit-gc",
        action="store_true",
        help="run the server with Streamlit's default runner.postScriptGC=true (a full garbage collection after "
        "every script run), which .streamlit/config.toml turns off: the comparison for that setting",
    )
    args = parser.parse_args()
    if args.sessions - args.training - args.pages < 1:
        parser.error("--sessions must exceed --training plus --pages")
    from playwright.sync_api import sync_playwright

    # The trainings must last the whole edit phase: raised step and time limits, stopped at the end.
    limits = {"MAX_CONCURRENT_TRAININGS": max(args.training, 1), "MAX_STEPS": args.steps, "MAX_TRAIN_SECONDS": 3600}
    env = {f"EXPLORER_{name}": str(value) for name, value in limits.items()}
    if args.streamlit_gc:
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true"
    server, url = start_app(env)
    base = load_preset(DEFAULT_PRESET)
    links = [encode(base.with_layer(0, units=10 + n)) for n in range(args.sessions)]  # session n: units 10 + n
    errors: list[str] = []
    try:
        with contextlib.ExitStack() as opened:
            students = []
            for n in range(args.sessions - args.pages):
                students.append(Student(opened.enter_context(open_socket(url)), links[n]))
                if n == 0:  # the first session pays for the imports (torch, plotly): measure after it
                    first_rss = rss_mib(server.pid)
            trainers, editors = students[: args.training], students[args.training :]
            pages = []
            if args.pages:
                browser = opened.enter_context(sync_playwright()).chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_FLAGS
                )
            for n in range(len(students), args.sessions):
                page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                page.goto(f"{url}/?a={links[n]}")
                page.wait_for_selector(EDGE_TEXT, timeout=120_000)
                pages.append(page)
            open_rss = rss_mib(server.pid)
            # The baselines, in the same run: one edit at a time, half a second apart, nothing training.
            quiet_student = [paused(QUIET_PAUSE, editors[0].edit) for _ in range(QUIET_EDITS)]
            quiet_page = [paused(QUIET_PAUSE, partial(edit_page, page)) for page in pages[:1] * QUIET_EDITS]
            for student in trainers:
                student.train(args.steps)
            for student in trainers:
                student.wait_running()
            server_waits, page_waits = run_edit_phase(args, trainers, editors, pages, errors, server.pid)
            shown = [student.graph for student in students]
            shown += [" ".join(page.locator("svg text").all_text_contents()) for page in pages]
            for n, text in enumerate(shown):  # each session shows its own layer 1, and no one else's
                if layer_one_units(text) != [str(10 + n)]:
                    errors.append(f"session {n} shows LSTM units {layer_one_units(text)}, expected [{10 + n}]")
            still_training = sum("running" in student.progress for student in trainers)
            for student in trainers:
                student.press("Stop")
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"{args.sessions} sessions open: {args.training} training, {len(editors)} editing at once over the protocol "
        f"(mean pause {args.pause} s), {args.pages} real Chromium pages editing"
        + ("; server with Streamlit's postScriptGC" if args.streamlit_gc else "")
    )
    for what, waits, quiet in [
        ("student edit, request → new graph (the server's share)", server_waits, quiet_student),
        ("page edit, click → redrawn SVG (this machine's Chromium included)", page_waits, quiet_page),
    ]:
        if len(waits) > 1:
            p50, p95 = statistics.median(waits) * 1e3, statistics.quantiles(waits, n=20)[18] * 1e3
            baseline = statistics.median(quiet) * 1e3
            print(
                f"{what}: p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(waits)} edits; "
                f"p50 without the load {baseline:.0f} ms ({p50 / baseline:.1f}×)"
            )
    per_session = (open_rss - first_rss) / max(args.sessions - 1, 1)
    print(
        f"server memory: {first_rss:.0f} MiB with one session, {open_rss:.0f} MiB with {args.sessions} "
        f"({per_session:.1f} MiB per further session); each training runs in its own worker process"
    )
    print(f"trainings still running at the end of the edit phase: {still_training} of {args.training}")
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")


def paused(seconds: float, edit) -> float:
    time.sleep(seconds)
    return edit()


def edit_page(page) -> float:
    """Click layer 2's return_sequences in a real page; the seconds until the redrawn SVG shows."""
    toggle = page.locator("[data-testid=stMarkdownContainer]").get_by_text(TOGGLE, exact=True)
    before = "|".join(page.locator(EDGE_TEXT).all_text_contents())
    clicked = time.perf_counter()
    toggle.nth(1).click()
    page.wait_for_function(CHANGED, arg=before, timeout=60_000, polling="raf")
    return time.perf_counter() - clicked


def run_edit_phase(args, trainers, editors, pages, errors, server_pid) -> tuple[list[float], list[float]]:
    """Trainers poll, students edit at once, the real pages edit meanwhile; the server's CPU is measured."""
    server_waits: list[float] = []  # request → new graph, one per student edit
    page_waits: list[float] = []  # click → redrawn SVG in a real page
    done = threading.Event()

    def guarded(name: str, work) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # reported with the results, not lost in a thread
                errors.append(f"{name}: {exc!r}")

        return threading.Thread(target=run)

    def edits(n: int, student: Student) -> None:
        pauses = random.Random(n)
        for _ in range(args.edits):
            time.sleep(pauses.expovariate(1 / args.pause))
            server_waits.append(student.edit())

    pollers = [guarded(f"trainer {n}", lambda s=s: s.watch(done)) for n, s in enumerate(trainers)]
    threads = [guarded(f"student {n}", lambda n=n, s=s: edits(n, s)) for n, s in enumerate(editors)]
    start, cpu_start = time.perf_counter(), cpu_seconds(server_pid)
    for thread in pollers + threads:
        thread.start()
    while pages and any(thread.is_alive() for thread in threads):
        for page in pages:
            page_waits.append(edit_page(page))
            page.wait_for_timeout(args.pause * 1000)
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    print(
        f"edit phase: {seconds:.0f} s; server process CPU {(cpu_seconds(server_pid) - cpu_start) / seconds:.0%} of "
        "one core (training workers not included)"
    )
    done.set()
    for thread in pollers:
        thread.join()
    return server_waits, page_waits


if __name__ == "__main__":
    main()

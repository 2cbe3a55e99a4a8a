"""A classroom on loopback: N sessions open, K of them training, the others editing at the same time.

Every student's session speaks Streamlit's own websocket protocol, as the page's JavaScript does, without
rendering: in a classroom the browsers run on the students' machines, not on the server's two cores. The K
trainers press Train and then poll their live chart every second, as the page's fragment timer does, and press
Train again whenever their run ends; the editors all edit at once, each toggling return_sequences after a random
pause (seeded). Each edit is timed from the request to the new graph coming back: what the server makes a student
wait. A few real Chromium pages edit too and are timed from the click to the redrawn SVG, rendering on this machine
included.

Reports p50 and p95 of both, trainings completed per minute and their waits for a CPU, the server's CPU and memory
per open session, every session's check that it shows only its own architecture, and any error seen. Bounded: a
fixed number of edits, every wait has a timeout, training runs are stopped.

`--backend ray` runs the same classroom twice in one run, in local worker processes and then on a local Ray cluster
(`--cpus`, this machine's cores by default) with as many trainers as the cluster has CPUs, and compares them; then
a lecture hall on that cluster: `--hall-sessions` sessions open (200), `--hall-trainers` of them (50) press Train
within `--hall-window` seconds (10) while a few others edit, with the queue waits, the time to drain the queue and
what a bigger cluster would change, worked out from the measured time a run holds a CPU.

Run from the repository root: python -m benchmarks.bench_classroom [--sessions 30] [--training 5] [--backend ray]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from explorer.presets import DEFAULT_PRESET, load_preset
from explorer.ray_runs import RAY_ADDRESS
from explorer.share import encode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app  # noqa: E402
from streamlit_client import TOGGLE, Student, open_socket  # noqa: E402

LONG_RUN_STEPS = 20_000  # locally: one run lasts the whole edit phase (a report every 200 steps)
SHORT_RUN_STEPS = 300  # comparing backends: runs that end, so that completions per minute mean something
QUIET_EDITS = 11
QUIET_PAUSE = 0.5
HALL_EDITORS = 10
EDGE_TEXT = "svg g.edge text"
CHANGED = (
    """(before) => [...document.querySelectorAll('svg g.edge text')].map(t => t.textContent).join('|') !== before"""
)
ENDED = ("done", "stopped", "failed")


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


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0] * 1e3:.0f} ms (one)" if values else "none"
    p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[18]
    return f"p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms"


def seconds(values: list[float]) -> str:
    if not values:
        return "none"
    p95 = statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]
    return f"p50 {statistics.median(values):.1f} s, p95 {p95:.1f} s, max {max(values):.1f} s"


@dataclass
class RunTimes:
    """One training as its page saw it: pressed, given a CPU (no longer shown queued), ended; None where it had not
    when the benchmark stopped polling."""

    pressed: float
    started: float | None
    ended: float | None
    status: str  # done, stopped, failed; or what the page showed last


@dataclass
class Classroom:
    backend: str
    server_waits: list[float] = field(default_factory=list)  # request → new graph, one per student edit
    page_waits: list[float] = field(default_factory=list)  # click → redrawn SVG in a real page
    quiet_student: list[float] = field(default_factory=list)
    quiet_page: list[float] = field(default_factory=list)
    runs: list[RunTimes] = field(default_factory=list)
    phase_s: float = 0.0
    server_cpu: float = 0.0  # of one core, over the edit phase
    first_rss: float = 0.0
    open_rss: float = 0.0
    still_training: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def completed(self) -> list[RunTimes]:
        return [run for run in self.runs if run.status == "done"]


def train_and_follow(student: Student, steps: int, until: threading.Event, runs: list[RunTimes]) -> None:
    """Press Train, then poll the live chart as the page's fragment timer does until the run ends (or told to stop);
    note when it left the cluster's queue and when it ended."""
    pressed = time.perf_counter()
    student.train(steps)
    started = None if "queued" in student.progress else time.perf_counter()
    while student.poll is not None and not until.wait(student.poll[0]):
        student.rerun(fragment=student.poll[1])
        if started is None and "queued" not in student.progress:
            started = time.perf_counter()
    ended = time.perf_counter() if student.poll is None else None  # the page redrew the tab with the results
    status = next((word for word in ENDED if word in student.progress), student.progress) if ended else "running"
    runs.append(RunTimes(pressed, started, ended, status))


def train_repeatedly(student: Student, steps: int, until: threading.Event, runs: list[RunTimes]) -> None:
    """Press Train again whenever the run has ended, as a student trying settings does."""
    while not until.is_set():
        train_and_follow(student, steps, until, runs)


def guarded(name: str, work, errors: list[str]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except Exception as exc:  # reported with the results, not lost in a thread
            errors.append(f"{name}: {exc!r}")

    return threading.Thread(target=run)


def classroom(args, backend: str, env: dict[str, str]) -> Classroom:
    """One classroom on a fresh server: open the sessions, time quiet edits, then edit under the training load."""
    from playwright.sync_api import sync_playwright

    result = Classroom(backend)
    server, url = start_app(env)
    base = load_preset(DEFAULT_PRESET)
    links = [encode(base.with_layer(0, units=10 + n)) for n in range(args.sessions)]  # session n: units 10 + n
    try:
        with contextlib.ExitStack() as opened:
            students = []
            for n in range(args.sessions - args.pages):
                students.append(Student(opened.enter_context(open_socket(url)), links[n]))
                if n == 0:  # the first session pays for the imports (torch, plotly): measure after it
                    result.first_rss = rss_mib(server.pid)
            trainers, editors = students[: args.training], students[args.training :]
            pages = []
            if args.pages:
                browser = opened.enter_context(sync_playwright()).chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_FLAGS
                )
            for n in range(len(students), args.sessions):
                page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
                page.on("pageerror", lambda exc: result.errors.append(f"page error: {exc}"))
                page.goto(f"{url}/?a={links[n]}")
                page.wait_for_selector(EDGE_TEXT, timeout=120_000)
                pages.append(page)
            result.open_rss = rss_mib(server.pid)
            # The baselines, in the same run: one edit at a time, half a second apart, nothing training.
            result.quiet_student = [paused(QUIET_PAUSE, editors[0].edit) for _ in range(QUIET_EDITS)]
            result.quiet_page = [paused(QUIET_PAUSE, partial(edit_page, page)) for page in pages[:1] * QUIET_EDITS]
            run_edit_phase(args, trainers, editors, pages, result, server.pid)
            shown = [student.graph for student in students]
            shown += [" ".join(page.locator("svg text").all_text_contents()) for page in pages]
            for n, text in enumerate(shown):  # each session shows its own layer 1, and no one else's
                if layer_one_units(text) != [str(10 + n)]:
                    result.errors.append(f"session {n} shows LSTM units {layer_one_units(text)}, expected [{10 + n}]")
            result.still_training = sum(student.poll is not None for student in trainers)
            for student in trainers:
                if student.poll is not None:
                    student.press("Stop")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


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


def edits(
    student: Student, count: int, pause: float, seed: int, waits: list[float], until: threading.Event | None = None
) -> None:
    """`count` edits after random pauses (mean `pause`), or fewer once `until` is set."""
    pauses, stop = random.Random(seed), until or threading.Event()
    for _ in range(count):
        if stop.wait(pauses.expovariate(1 / pause)):
            return
        waits.append(student.edit())


def run_edit_phase(args, trainers, editors, pages, result: Classroom, server_pid: int) -> None:
    """Trainers train and poll, students edit at once, the real pages edit meanwhile; the server's CPU is measured."""
    done = threading.Event()
    pollers = [
        guarded(f"trainer {n}", partial(train_repeatedly, s, args.steps, done, result.runs), result.errors)
        for n, s in enumerate(trainers)
    ]
    threads = [
        guarded(f"student {n}", partial(edits, s, args.edits, args.pause, n, result.server_waits), result.errors)
        for n, s in enumerate(editors)
    ]
    start, cpu_start = time.perf_counter(), cpu_seconds(server_pid)
    for thread in pollers + threads:
        thread.start()
    while pages and any(thread.is_alive() for thread in threads):
        for page in pages:
            result.page_waits.append(edit_page(page))
            page.wait_for_timeout(args.pause * 1000)
    for thread in threads:
        thread.join()
    result.phase_s = time.perf_counter() - start
    result.server_cpu = (cpu_seconds(server_pid) - cpu_start) / result.phase_s
    done.set()
    for thread in pollers:
        thread.join()


def report(args, result: Classroom) -> None:
    editors = args.sessions - args.training - args.pages
    print(
        f"\n[{result.backend}] {args.sessions} sessions open: {args.training} training ({args.steps}-step runs, "
        f"Train pressed again when one ends), {editors} editing at once over the protocol (mean pause "
        f"{args.pause} s), {args.pages} real Chromium pages editing"
        + ("; server with Streamlit's postScriptGC" if args.streamlit_gc else "")
    )
    print(f"edit phase: {result.phase_s:.0f} s; server process CPU {result.server_cpu:.0%} of one core (workers apart)")
    for what, waits, quiet in [
        ("student edit, request → new graph (the server's share)", result.server_waits, result.quiet_student),
        ("page edit, click → redrawn SVG (this machine's Chromium included)", result.page_waits, result.quiet_page),
    ]:
        if len(waits) > 1:
            p50, baseline = statistics.median(waits), statistics.median(quiet)
            print(
                f"{what}: {percentiles(waits)} over {len(waits)} edits; p50 without the load "
                f"{baseline * 1e3:.0f} ms ({p50 / baseline:.1f}×)"
            )
    per_session = (result.open_rss - result.first_rss) / max(args.sessions - 1, 1)
    print(
        f"server memory: {result.first_rss:.0f} MiB with one session, {result.open_rss:.0f} MiB with "
        f"{args.sessions} ({per_session:.1f} MiB per further session)"
    )
    done = result.completed
    print(
        f"trainings completed: {len(done)} in {result.phase_s:.0f} s ({len(done) / result.phase_s * 60:.1f} per "
        f"minute); press → a CPU: {seconds(waits_for_a_cpu(result.runs))}; press → done: "
        f"{seconds([r.ended - r.pressed for r in done if r.ended])}; still running at the end: "
        f"{result.still_training} of {args.training}"
    )
    failed = [r.status for r in result.runs if r.status not in ("done", "running")]
    print(f"errors: {len(result.errors)}; runs not done: {failed or 'none'}")
    for error in result.errors[:10]:
        print(f"  {error}")


def waits_for_a_cpu(runs: list[RunTimes]) -> list[float]:
    return [run.started - run.pressed for run in runs if run.started is not None]


def lecture_hall(args, env: dict[str, str]) -> None:
    """`hall_sessions` open; `hall_trainers` press Train within `hall_window` seconds; a few others edit meanwhile."""
    server, url = start_app(env)
    base = load_preset(DEFAULT_PRESET)
    errors: list[str] = []
    runs: list[RunTimes] = []
    edit_waits: list[float] = []
    refused = 0
    try:
        with contextlib.ExitStack() as opened:
            opening = time.perf_counter()
            students = [
                Student(opened.enter_context(open_socket(url)), encode(base.with_layer(0, units=10 + n % 50)))
                for n in range(args.hall_sessions)
            ]
            opening = time.perf_counter() - opening
            open_rss = rss_mib(server.pid)
            trainers = students[: args.hall_trainers]
            editors = students[args.hall_trainers : args.hall_trainers + HALL_EDITORS]
            presses = random.Random(0)
            done = threading.Event()

            def press_then_follow(student: Student, at: float) -> None:
                nonlocal refused
                time.sleep(at)
                try:
                    train_and_follow(student, args.hall_steps, done, runs)
                except RuntimeError:
                    refused += 1
                    raise

            threads = [
                guarded(
                    f"trainer {n}",
                    partial(press_then_follow, s, presses.uniform(0, args.hall_window)),
                    errors,
                )
                for n, s in enumerate(trainers)
            ]
            threads += [
                guarded(f"editor {n}", partial(edits, s, 10_000, args.pause, n, edit_waits, done), errors)
                for n, s in enumerate(editors)
            ]
            start, cpu_start = time.perf_counter(), cpu_seconds(server.pid)
            for thread in threads:
                thread.start()
            deadline = start + args.hall_timeout
            while len(runs) + refused < len(trainers) and time.perf_counter() < deadline and not errors:
                time.sleep(1)
            drained = time.perf_counter() - start
            server_cpu = (cpu_seconds(server.pid) - cpu_start) / drained
            done.set()
            for thread in threads:
                thread.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    completed = [run for run in runs if run.status == "done"]
    # A CPU held: the worker's start, its training, its end (as seen by pages polling once a second).
    holding = [run.ended - run.started for run in completed if run.ended and run.started]
    print(
        f"\n[lecture hall, ray, {args.cpus} CPUs] {args.hall_sessions} sessions opened in {opening:.0f} s (server "
        f"{open_rss:.0f} MiB); {args.hall_trainers} pressed Train within {args.hall_window:g} s "
        f"({args.hall_steps}-step runs), {len(editors)} others edited meanwhile"
    )
    print(
        f"accepted: {args.hall_trainers - refused} of {args.hall_trainers} (refused: {refused}); done: "
        f"{len(completed)}; the queue drained in {drained:.0f} s ({len(completed) / drained * 60:.1f} trainings "
        f"per minute); server process CPU {server_cpu:.0%} of one core"
    )
    print(f"press → a CPU: {seconds(waits_for_a_cpu(runs))}")
    print(f"a CPU held per run (worker start, training, end): {seconds(holding)}")
    print(f"edits during the hall, request → new graph: {percentiles(edit_waits)} over {len(edit_waits)} edits")
    if holding:
        held = statistics.median(holding)
        print(
            f"a bigger cluster: runs start as CPUs free up, so {args.hall_trainers} runs need about "
            f"⌈{args.hall_trainers}/C⌉ × {held:.1f} s on C CPUs (one page server's share apart): "
            + "; ".join(
                f"{cpus} CPUs ≈ {math.ceil(args.hall_trainers / cpus) * held:.0f} s"
                for cpus in (args.cpus, 8, 16, args.hall_trainers)
            )
        )
    print(f"errors: {len(errors)}; runs not done: {[r.status for r in runs if r.status != 'done'] or 'none'}")
    for error in errors[:10]:
        print(f"  {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--training", type=int, help="sessions that train (5; with --backend ray, --cpus)")
    parser.add_argument("--pages", type=int, default=2, help="real pages that edit, timed click → redrawn SVG")
    parser.add_argument("--edits", type=int, default=10, help="edits per editing student")
    parser.add_argument(
        "--steps", type=int, help=f"steps of each training ({LONG_RUN_STEPS}; with --backend ray, {SHORT_RUN_STEPS})"
    )
    parser.add_argument("--pause", type=float, default=2.0, help="mean seconds between one student's edits")
    parser.add_argument(
        "--streamlit-gc",
        action="store_true",
        help="run the server with Streamlit's default runner.postScriptGC=true (a full garbage collection after "
        "every script run), which .streamlit/config.toml turns off: the comparison for that setting",
    )
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="the local Ray cluster's CPUs")
    parser.add_argument("--hall-sessions", type=int, default=200)
    parser.add_argument("--hall-trainers", type=int, default=50)
    parser.add_argument("--hall-window", type=float, default=10.0, help="seconds in which they all press Train")
    parser.add_argument("--hall-steps", type=int, default=SHORT_RUN_STEPS)
    parser.add_argument("--hall-timeout", type=float, default=900.0, help="seconds the hall may take at most")
    parser.add_argument("--no-hall", action="store_true", help="with --backend ray: the classrooms only")
    args = parser.parse_args()
    ray_backend = args.backend == "ray"
    args.training = args.training if args.training is not None else (args.cpus if ray_backend else 5)
    args.steps = args.steps or (SHORT_RUN_STEPS if ray_backend else LONG_RUN_STEPS)
    if args.sessions - args.training - args.pages < 1:
        parser.error("--sessions must exceed --training plus --pages")
    # Raised step and time limits: long runs last the whole edit phase and are stopped at the end.
    limits = {"MAX_CONCURRENT_TRAININGS": max(args.training, 1), "MAX_STEPS": args.steps, "MAX_TRAIN_SECONDS": 3600}
    env = {f"EXPLORER_{name}": str(value) for name, value in limits.items()}
    if args.streamlit_gc:
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true"
    report(args, classroom(args, "local worker processes", env))
    if not ray_backend:
        return
    import ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = {**env, RAY_ADDRESS: ray.get_runtime_context().gcs_address}
        report(args, classroom(args, f"Ray, a local cluster of {args.cpus} CPUs", on_ray))
        if not args.no_hall:
            hall_limits = {"EXPLORER_MAX_STEPS": str(max(args.steps, args.hall_steps))}
            lecture_hall(args, {**on_ray, **hall_limits})
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

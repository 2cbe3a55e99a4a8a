"""One edit of the page: server-side script time (AppTest) and edit → redrawn SVG in headless Chromium.

Both at 3 and 12 layers, medians of repeated toggles of the last layer's return_sequences; the redraw
is timed with the graph laid out on the server (the default) and, as the baseline in the same run, in
the browser by st.graphviz_chart (EXPLORER_DOT="").
Needs the dev requirements and Debian's chromium. Run from the repository root:
python -m benchmarks.bench_page [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from streamlit.testing.v1 import AppTest

from benchmarks.bench_analysis import twelve_layer_stack
from explorer.share import encode
from explorer.spec import Architecture

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app  # noqa: E402


def stacks() -> dict[str, Architecture]:
    twelve = twelve_layer_stack()
    return {"3 layers": replace(twelve, layers=twelve.layers[-3:]), "12 layers": twelve}


def server_side(arch: Architecture, repeats: int) -> float:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["a"] = encode(arch)
    at.run()
    key = f"layer{len(arch.layers) - 1}.return_sequences"
    times = []
    for _ in range(repeats):
        toggle = at.toggle(key=key)
        toggle.set_value(not toggle.value)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_browser(page, url: str, arch: Architecture, repeats: int) -> float:
    page.goto(f"{url}/?a={encode(arch)}")
    page.wait_for_selector("svg g.edge text", timeout=60_000)
    toggles = page.locator("[data-testid=stMarkdownContainer]").get_by_text("return_sequences", exact=True)
    last = toggles.nth(toggles.count() - 1)
    changed = """(before) => {
        const now = [...document.querySelectorAll('svg g.edge text')].map(t => t.textContent).join('|');
        return now !== before;
    }"""
    times = []
    for _ in range(repeats):
        before = "|".join(page.locator("svg g.edge text").all_text_contents())
        start = time.perf_counter()
        last.click()
        page.wait_for_function(changed, arg=before, timeout=30_000, polling="raf")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def browser_medians(repeats: int, env: dict[str, str] | None = None) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    server, url = start_app(env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            medians = {name: in_browser(page, url, arch, repeats) for name, arch in stacks().items()}
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    server_side_ms = {name: server_side(arch, args.repeats) for name, arch in stacks().items()}
    inline_svg = browser_medians(args.repeats)
    # Baseline in the same run: st.graphviz_chart, which lays the graph out in the browser.
    browser_layout = browser_medians(args.repeats, {"EXPLORER_DOT": ""})
    print(f"one edit (toggle return_sequences of the last layer), median of {args.repeats}")
    print(f"{'stack':10} {'server script':>14} {'→ SVG, server layout':>21} {'→ SVG, browser layout':>22} {'ratio':>6}")
    for name in stacks():
        print(
            f"{name:10} {server_side_ms[name] * 1e3:>11.1f} ms {inline_svg[name] * 1e3:>18.1f} ms "
            f"{browser_layout[name] * 1e3:>19.1f} ms {inline_svg[name] / browser_layout[name]:>5.2f}×"
        )


if __name__ == "__main__":
    main()

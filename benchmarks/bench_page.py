"""One edit of the page: server-side script time (AppTest) and edit → redrawn SVG in headless Chromium.

Both at 3 and 12 layers, medians of repeated toggles of the last layer's return_sequences.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    results = {name: [server_side(arch, args.repeats)] for name, arch in stacks().items()}

    from playwright.sync_api import sync_playwright

    server, url = start_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            for name, arch in stacks().items():
                results[name].append(in_browser(page, url, arch, args.repeats))
            browser.close()
    finally:
        server.terminate()
    base_server, base_browser = results["3 layers"]
    print(f"one edit (toggle return_sequences of the last layer), median of {args.repeats}")
    print(f"{'stack':10} {'server script (AppTest)':>24} {'ratio':>7} {'edit → redrawn SVG':>20} {'ratio':>7}")
    for name, (server_s, browser_s) in results.items():
        print(
            f"{name:10} {server_s * 1e3:>21.1f} ms {server_s / base_server:>6.2f}× "
            f"{browser_s * 1e3:>17.1f} ms {browser_s / base_browser:>6.2f}×"
        )


if __name__ == "__main__":
    main()

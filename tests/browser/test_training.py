"""Training in the real page: live curves tick, the page stays editable, Stop stops."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import torch
from playwright.sync_api import expect

from explorer.build import build
from explorer.codegen import pytorch_code
from explorer.presets import DEFAULT_PRESET, load_preset

from helpers import ARTIFACTS, load_generated, start_app


def progress_step(page) -> float:
    """The live progress bar's value (0-100), read from its ARIA attribute."""
    bar = page.get_by_role("progressbar").first
    return float(bar.get_attribute("aria-valuenow") or 0)


def train(page, steps: int, until: str = "running") -> None:
    """Set the steps and press Train in the Train tab; wait until the run's status reads `until`."""
    page.get_by_role("tab", name="Train").click()
    box = page.get_by_label("Steps")
    box.fill(str(steps))
    box.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(rf"Run #\d+: {until}")).wait_for(timeout=60_000)


def test_live_training_survives_edits_and_stops(page, run_folders: Path, tmp_path: Path) -> None:
    train(page, 5000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
    first = progress_step(page)
    page.wait_for_timeout(1500)
    assert progress_step(page) > first  # the fragment redraws while the worker trains

    # Editing the architecture neither kills the run nor waits for it.
    labels = page.locator("[data-testid=stMarkdownContainer]").get_by_text("bidirectional", exact=True)
    labels.nth(0).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('svg g.node text')].some(t => t.textContent.includes('⇄'))",
        timeout=20_000,
    )
    before = progress_step(page)
    page.wait_for_timeout(1500)
    assert progress_step(page) > before
    assert page.get_by_text(re.compile(r"Run #\d+: running")).is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "training_live.png"))
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"Run #\d+: stopped")).wait_for(timeout=30_000)
    weights_button = page.get_by_role("button", name="Trained weights (state_dict)")
    with page.expect_download(timeout=20_000) as download:  # the file is read on the click (deferred)
        weights_button.click()
    # The weights of the architecture as it was when Train was pressed, before the bidirectional edit, load by
    # name into the PyTorch code the page exports for it, and compute what the trained model computes.
    trained = load_preset(DEFAULT_PRESET)
    exported = load_generated(pytorch_code(trained), tmp_path).StackedRNN().eval()
    exported.load_state_dict(torch.load(download.value.path(), weights_only=True))
    (worker_weights,) = run_folders.glob("explorer-run-*/weights.pt")
    model = build(trained).eval()
    model.load_state_dict(torch.load(worker_weights, weights_only=True))
    x = torch.randn(4, 20, 10)
    torch.testing.assert_close(exported(x), model(x))

    # A hostile file afterwards: a message, and the architecture and the trained run both stay.
    edges = page.locator("svg g.edge text").all_text_contents()
    bad = ARTIFACTS / "hostile.json"
    bad.write_bytes(b'{"input": {"features": NaN}, "layers": [' * 3)
    uploader = page.locator("[data-testid=stFileUploader]").filter(has_text="Load an architecture file")
    uploader.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("was not loaded").wait_for(timeout=20_000)
    assert page.locator("svg g.edge text").all_text_contents() == edges
    assert page.get_by_role("button", name="Trained weights (state_dict)").is_visible()


def test_train_on_an_uploaded_csv(page, tmp_path) -> None:
    data = tmp_path / "series.csv"
    data.write_text("a\n" + "\n".join(f"{(t % 17) / 17:.3f}" for t in range(200)) + "\n")
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("combobox", name="Task").click()
    page.keyboard.type("Your CSV")  # the list is longer than the dropdown shows: filter it, as a user would
    page.get_by_role("option", name="Your CSV: forecasting").click()
    uploader = page.locator("[data-testid=stFileUploader]").filter(has_text="Your CSV")
    uploader.locator("input[type=file]").set_input_files(str(data))
    # The tutorial stack does not fit the data: apply each suggested fix until Train is enabled.
    fix = page.get_by_role("button", name="Fix")
    expect(fix).to_have_count(2, timeout=20_000)  # features 10 → 1, softmax head → linear Dense(5)
    for left in (1, 0):
        fix.first.click()
        expect(fix).to_have_count(left, timeout=20_000)
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    train(page, 60, until="done")
    page.get_by_text("baseline (repeat the last value)").wait_for(timeout=20_000)


def _workers(server_pid: int) -> list[int]:
    """The training workers the app server started (its children running `explorer.worker`)."""
    found = subprocess.run(["pgrep", "-P", str(server_pid), "-f", "explorer.worker"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_closing_the_tab_ends_its_training(browser) -> None:
    server, url = start_app({"EXPLORER_MAX_UNWATCHED_SECONDS": "3"})
    try:
        context = browser.new_context(viewport={"width": 1500, "height": 1300})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("svg g.edge text", timeout=60_000)
        train(page, 5000)
        assert len(_workers(server.pid)) == 1
        context.close()  # the student closes the tab mid-training
        deadline = time.monotonic() + 30
        while _workers(server.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _workers(server.pid) == []
    finally:
        server.terminate()
        server.wait(timeout=10)

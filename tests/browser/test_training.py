"""Training in the real page: live curves tick, the page stays editable, Stop stops."""

from __future__ import annotations

import re

from helpers import ARTIFACTS


def progress_step(page) -> float:
    """The live progress bar's value (0-100), read from its ARIA attribute."""
    bar = page.get_by_role("progressbar").first
    return float(bar.get_attribute("aria-valuenow") or 0)


def test_live_training_survives_edits_and_stops(page) -> None:
    page.get_by_role("tab", name="Train").click()
    steps = page.get_by_label("Steps")
    steps.fill("5000")
    steps.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Run #\d+: running")).wait_for(timeout=60_000)
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
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"Run #\d+: stopped")).wait_for(timeout=10_000)
    page.get_by_role("button", name="Trained weights (state_dict)").wait_for(timeout=20_000)

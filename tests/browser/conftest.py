"""One app server and one headless Chromium, shared by every browser test of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import CHROMIUM, CHROMIUM_FLAGS, start_app


def _require_browser() -> None:
    missing = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install chromium)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs both: a skip there would hide a broken setup
        pytest.skip(message)


@pytest.fixture(scope="session")
def run_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the shared server keeps its runs (its TMPDIR), so that a test can read a run's own weights."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="session")
def app_url(run_folders: Path) -> Iterator[str]:
    _require_browser()
    server, url = start_app({"TMPDIR": str(run_folders)})
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url: str):
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("svg g.edge text", timeout=60_000)
    yield page
    context.close()

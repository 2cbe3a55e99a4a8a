"""pytest options shared by the suite."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from helpers import ROOT


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", help="rewrite tests/expected/ from the current output")


@pytest.fixture
def overwrite(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--overwrite")


@pytest.fixture
def app() -> AppTest:
    """The page, run once headless, with no exception."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    return at

"""pytest options shared by the suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", help="rewrite tests/expected/ from the current output")


@pytest.fixture
def overwrite(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--overwrite")

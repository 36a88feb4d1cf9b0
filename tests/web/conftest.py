"""Browser test fixtures: a real uvicorn gateway in a thread, and Debian's Chromium via Playwright.

Every page request is recorded; a request to anything but 127.0.0.1/localhost is blocked and fails
the test (see ``Browsing`` in ``helpers.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, WAIT, Browsing, WebGateway, running_web_gateway

# Auto-waiting expectations wait up to this long (a passing test never waits it out).
expect.set_options(timeout=WAIT * 1000)


@pytest.fixture
def web_gateway() -> Iterator[WebGateway]:
    with running_web_gateway() as gateway:
        yield gateway


# --- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ACCORD_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browsing(browser: Any) -> Iterator[Browsing]:
    session = Browsing(browser)
    try:
        yield session
    finally:
        for context in session.contexts:
            context.close()
    outside = session.outside_requests()
    if outside:
        pytest.fail(f"the pages made requests that leave localhost: {outside}", pytrace=False)
    if session.problems:
        pytest.fail(f"the pages had errors: {session.problems}", pytrace=False)

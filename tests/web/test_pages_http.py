"""The page routes over plain HTTP (gateway/pages.py): headers, injected values, assets, no outside URLs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.pages import STATIC_DIR
from gateway.settings import Settings
from orchestrator.clock import ManualClock
from orchestrator.memory_store import MemoryStore
from tests.web.helpers import SECRET, web_roles

PAGES = ["/", "/join/some-code", "/room/some-session", "/facilitator/some-session", "/review"]
EXIT = 'https://example.org/weather?a=1&b="2"'


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, secret=SECRET, exit_url=EXIT)  # type: ignore[call-arg]
    clock = ManualClock(1_800_000_000.0)
    app = create_app(settings, store=MemoryStore(), roles=web_roles(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_html_with_strict_headers(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-dns-prefetch-control"] == "off"
    # The configured exit URL and the server's (manual) clock are in the page, safely escaped.
    escaped = "https://example.org/weather?a=1&amp;b=&quot;2&quot;"
    assert f'<meta name="accord-exit-url" content="{escaped}">' in response.text
    assert '<meta name="accord-server-now" content="1800000000.000">' in response.text
    assert "{{" not in response.text


@pytest.mark.parametrize("path", PAGES)
async def test_every_asset_a_page_names_is_served_from_here(http: httpx.AsyncClient, path: str) -> None:
    html = (await http.get(path)).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [a for a in assets if a.startswith("/static/")]
    assert local, "a page without its script and stylesheet"
    for asset in local:
        response = await http.get(asset)
        assert response.status_code == 200, asset
    # Nothing else but in-page links and the data: favicon (which makes no request).
    assert all(a.startswith(("/", "#", "data:")) for a in assets), assets


def test_no_asset_names_another_origin() -> None:
    """No CDN, no web fonts, no analytics: no static file mentions an absolute http(s) URL."""
    for file in Path(STATIC_DIR).rglob("*"):
        if file.is_file():
            text = file.read_text(encoding="utf-8")
            assert not re.search(r"(https?|wss?)://[\w.-]", text), f"{file.name} names an outside URL"
            assert "@import" not in text and "url(" not in text, file.name


async def test_pages_stay_out_of_the_api_schema(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    assert not any(p in schema["paths"] for p in ("/", "/review", "/room/{session_id}"))

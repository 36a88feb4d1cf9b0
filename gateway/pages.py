"""The web pages: start and invite, a party's room, the reviewer console, the facilitator view.

No build step: hand-written HTML, one stylesheet and small scripts under ``gateway/static``. The
pages load nothing from other origins, and their Content-Security-Policy says so to the browser.
Each page gets two values at serving time: the quick-exit URL (``ACCORD_EXIT_URL``) and the
server's clock (so countdowns agree with the server, whose clock may be a manual one in tests).

Credentials never touch these routes: the scripts keep tokens in the tab's ``sessionStorage`` and
send them to the ``/v1`` API themselves.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def install_pages(app: FastAPI) -> None:
    """Serve the pages and their assets (``/static``) from ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR / "assets"), name="static")


@cache
def _template(name: str) -> str:
    return (STATIC_DIR / "pages" / name).read_text(encoding="utf-8")


def _headers(request: Request) -> dict[str, str]:
    host = request.headers.get("host", "")
    # Same-origin only. 'self' covers ws(s) in current browsers; the explicit entries help older ones.
    connect = f"'self' ws://{host} wss://{host}" if host else "'self'"
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'"
        ),
        # A quick exit must not tell the neutral site where the person came from.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # No DNS look-ups for links on the page (a helpline link is followed only when clicked).
        "X-DNS-Prefetch-Control": "off",
        # Nothing of a room stays in the browser's cache for someone else to find.
        "Cache-Control": "no-store",
    }


def _page(request: Request, name: str) -> HTMLResponse:
    exit_url: str = request.app.state.settings.exit_url
    body = (
        _template(name)
        .replace("{{exit_url}}", html.escape(exit_url, quote=True))
        .replace("{{server_now}}", f"{request.app.state.clock.now():.3f}")
    )
    return HTMLResponse(body, headers=_headers(request))


@router.get("/", response_class=HTMLResponse)
async def start_page(request: Request) -> HTMLResponse:
    """Start a session: mode, display name, and what stays private."""
    return _page(request, "start.html")


@router.get("/join/{code}", response_class=HTMLResponse)
async def join_page(request: Request, code: str) -> HTMLResponse:
    """Open an invite link: join as the second party (or, with a facilitator code, as HR)."""
    return _page(request, "start.html")


@router.get("/room/{session_id}", response_class=HTMLResponse)
async def room_page(request: Request, session_id: str) -> HTMLResponse:
    """A party's room: the private pane with their coach and the shared pane."""
    return _page(request, "room.html")


@router.get("/facilitator/{session_id}", response_class=HTMLResponse)
async def facilitator_page(request: Request, session_id: str) -> HTMLResponse:
    """Workplace facilitator view: stage, agreements and outcome only."""
    return _page(request, "facilitator.html")


@router.get("/review", response_class=HTMLResponse)
async def review_page(request: Request) -> HTMLResponse:
    """The reviewer console (the reviewer pastes their token; the API checks it)."""
    return _page(request, "review.html")

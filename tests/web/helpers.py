"""Browser test helpers: scripted roles, the gateway-in-a-thread handle, and recording browser contexts.

Playwright's sync API cannot run inside an asyncio loop, so the tests are plain functions and the
gateway runs its own loop in a background thread. The gateway gets a :class:`ManualClock` (tests
move time and apply due breaks through :meth:`WebGateway.advance`), the embedded memory store and
scripted roles, so what the pages show is predictable.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import uvicorn

from agents.builtin.coach import BuiltinCoach
from agents.builtin.mediator import BuiltinMediator
from agents.guarded import GuardedCoach
from agents.interfaces import SafetyScreener
from agents.llm.coach import LLMCoach
from agents.roles import Roles
from agents.safety.screener import build_builtin_screener
from agents.testing import RecordedCall, ScriptedModelClient, Wait
from gateway.auth import TokenSigner
from gateway.settings import Settings
from orchestrator.clock import ManualClock
from orchestrator.models import Role

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = os.environ.get("ACCORD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "web-test-secret-" + "w" * 40
WAIT = 15.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


# --- roles: the real screener and mediator, a coach on a scripted model -------------------------
STREAMED_REPLY = (
    "That sounds like a long day. You carried a lot of it on your own. What would help you rest tonight?"
)


class CoachModel:
    """What the coach's language model answers, scripted by keyword (the project's one allowed
    double: a scripted model client under the real LLM coach, its guards and its builtin fallback).
    The client streams, so the room gets each reply's whole sentences as ``coach_partial`` frames.

    ``gate`` (an asyncio.Event in the server's loop) lets a test hold the model to see the page's
    "thinking" indicator; it is open unless a test closes it.
    """

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None

    def client(self) -> ScriptedModelClient:
        return ScriptedModelClient([self.answer] * 100_000)

    def answer(self, call: RecordedCall) -> Any:
        reply = json.dumps(self.reply(call.user.lower()))
        if self.gate is not None and not self.gate.is_set():
            return Wait(self.gate, reply)
        return reply

    @staticmethod
    def reply(text: str) -> dict[str, Any]:
        if "agree" in text and "credit" in text:
            return {
                "text": "Fair credit matters to you. Shall we put that as a request?",
                "draft": {
                    "text": "Would you be willing to name each other as co-authors on shared reports?",
                    "kind": "request",
                    "request": "name each other as co-authors on shared reports",
                },
            }
        if "agree" in text:
            return {
                "text": "It sounds like time together matters to you. Shall we turn that into a request?",
                "draft": {
                    "text": "Would you be willing to take a walk together on Sunday mornings?",
                    "kind": "request",
                    "request": "take a walk together on Sunday mornings",
                },
            }
        if "long day" in text:  # three sentences: the page gets two partial frames, then the reply
            return {"text": STREAMED_REPLY}
        if "angry" in text:
            return {
                "text": "That is a lot of feeling. A short break might help you settle.",
                "suggestion": "break",
            }
        return {
            "text": "Thank you for telling me. It sounds as if you want to feel heard.",
            "draft": {"text": "I would like us to find a calm moment to talk about this."},
        }


_SCREENER: SafetyScreener | None = None


def web_roles(model: CoachModel | None = None) -> Roles:
    """The shipped screener (rules + classifier) and builtin mediator; the LLM coach on a scripted
    model, guarded as in production (falls back to the builtin coach)."""
    global _SCREENER
    if _SCREENER is None:
        _SCREENER = build_builtin_screener()
    coach = GuardedCoach(
        LLMCoach((model or CoachModel()).client()),
        BuiltinCoach(),
        _SCREENER,
        timeout=60.0,
        backend="scripted",
    )
    return Roles(screener=_SCREENER, coach=coach, mediator=BuiltinMediator())


# --- the gateway in a thread ------------------------------------------------------------------
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self._ready.set()

    def install_signal_handlers(self) -> None:  # runs in a thread: leave signals to pytest
        pass


@dataclass
class WebGateway:
    """A running gateway: its URL, app, manual clock and coach, driven from the test thread."""

    url: str
    app: Any
    clock: ManualClock
    coach: CoachModel
    loop: asyncio.AbstractEventLoop
    exit_url: str
    thread: threading.Thread
    server: _Server

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def advance(self, seconds: float) -> None:
        """Move the manual clock and apply due breaks, as the real ticker would."""

        async def move() -> None:
            self.clock.advance(seconds)
            await self.app.state.service.tick()

        self.call(move())

    def hold_coach(self) -> None:
        async def close() -> None:
            self.coach.gate = asyncio.Event()

        self.call(close())

    def release_coach(self) -> None:
        async def release() -> None:
            if self.coach.gate is not None:
                self.coach.gate.set()
            self.coach.gate = None

        self.call(release())

    def reviewer_token(self, name: str = "rita") -> str:
        return TokenSigner(SECRET, self.clock).issue(name, Role.REVIEWER)

    def drop_sockets(self) -> None:
        """Close every room socket server-side (as a restart or a network blip would)."""
        self.call(self.app.state.rooms.close_all())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_web_gateway() -> Iterator[WebGateway]:
    """Serve a gateway (memory store, scripted roles, manual clock) on a free loopback port."""
    from gateway.app import create_app
    from orchestrator.memory_store import MemoryStore

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exit_url = f"{url}/healthz"  # the "neutral site" stays on loopback in tests
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        secret=SECRET,
        exit_url=exit_url,
        resume_wait_seconds=0.0,
        messages_per_second=1000.0,
        messages_burst=1000,
    )
    clock = ManualClock()
    coach = CoachModel()
    roles = web_roles(coach)
    app = create_app(settings, store=MemoryStore(), roles=roles, clock=clock)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws_max_size=settings.ws_max_size,
    )
    ready = threading.Event()
    server = _Server(config, ready)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, name="web-gateway", daemon=True)
    thread.start()
    if not ready.wait(WAIT):
        raise RuntimeError("the test gateway did not start")
    gateway = WebGateway(url, app, clock, coach, loop, exit_url, thread, server)
    try:
        yield gateway
    finally:
        if coach.gate is not None:
            gateway.release_coach()
        server.should_exit = True
        thread.join(WAIT)
        loop.close()


def is_local(url: str) -> bool:
    """Loopback http(s)/ws(s), or a URL that makes no request at all (data:, about:, blob:)."""
    parsed = urlparse(url)
    if parsed.scheme in ("data", "about", "blob"):
        return True
    return parsed.scheme in ("http", "https", "ws", "wss") and (parsed.hostname or "") in LOCAL_HOSTS


@dataclass
class Browsing:
    """Opens browser contexts (one per person) that record every request and block non-local ones."""

    browser: Any
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # script errors and CSP violations
    contexts: list[Any] = field(default_factory=list)

    def person(self, *, phone: bool = False) -> Any:
        """A new browser context (its own sessionStorage: a separate person) and its first page."""
        viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        context = self.browser.new_context(
            viewport=viewport,
            device_scale_factor=1,
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        context.set_default_timeout(WAIT * 1000)

        def record(request: Any) -> None:
            self.requests.append(request.url)

        def guard(route: Any) -> None:
            if is_local(route.request.url):
                route.continue_()
            else:
                route.abort()  # recorded by on("request") and reported by outside_requests()

        def watch(page: Any) -> None:
            page.on("websocket", lambda ws: self.requests.append(ws.url))
            page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
            page.on("console", lambda msg: self._console(msg))

        context.on("request", record)
        context.on("page", watch)
        context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).*"), guard)
        self.contexts.append(context)
        return context.new_page()

    def _console(self, message: Any) -> None:
        # A blocked script or style would show up as a Content-Security-Policy violation.
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]

    def screenshot(self, page: Any, name: str, *, full_page: bool = False) -> None:
        """Keep a picture of this step in test-artifacts/web/ (gitignored). Rooms size their panes
        to the window, so by default the picture is the window, as the person sees it."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page, animations="disabled")

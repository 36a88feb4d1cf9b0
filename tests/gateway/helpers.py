"""Gateway test helpers: a real uvicorn server in the test's event loop, and room clients.

Roles are small scripted doubles (predictable drafts and verdicts), so these tests pin down the
gateway's behaviour rather than the builtin coach's wording. The store is the real MemoryStore (or
RedisStore in the multi-node tests), the clock a ManualClock.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from agents.factory import build_roles
from agents.roles import Roles
from gateway.app import create_app
from gateway.settings import Settings
from orchestrator.clock import ManualClock
from orchestrator.memory_store import MemoryStore

SECRET = "test-secret-" + "x" * 40
# Phrases the real screener must catch: critical (suicidal intent) and high (coercive control).
DANGER_WORD = "kill myself"
RISK_WORD = "he checks my phone every night and won't let me see my friends"
WAIT = 10.0  # upper bound for one expected frame; a test never waits this long when it passes


_ROLES: Roles | None = None


def builtin_roles() -> Roles:
    """The product's own offline roles (builtin coach and mediator, rules + classifier screener),
    built once per test run: the gateway is tested with what it ships, no hand-written doubles."""
    global _ROLES
    if _ROLES is None:
        _ROLES = build_roles({})
    return _ROLES


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "resume_wait_seconds": 0.0,
        "messages_per_second": 1000.0,
        "messages_burst": 1000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Gateway:
    """A running gateway: its base URLs, app, clock and store."""

    url: str
    app: Any
    clock: ManualClock
    http: httpx.AsyncClient
    rooms: list[RoomClient] = field(default_factory=list)

    @property
    def ws_base(self) -> str:
        return "ws" + self.url[4:]

    async def create(self, name: str = "Alex", mode: str = "couple") -> dict[str, Any]:
        response = await self.http.post("/v1/sessions", json={"mode": mode, "name": name})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def accept(self, code: str, name: str = "Sam") -> dict[str, Any]:
        response = await self.http.post(f"/v1/invites/{code}/accept", json={"name": name})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def connect(self, creds: dict[str, Any], after_seq: int | None = 0, **kwargs: Any) -> RoomClient:
        url = f"{self.ws_base}/v1/sessions/{creds['session_id']}/ws?token={creds['token']}"
        if after_seq is not None:
            url += f"&after_seq={after_seq}"
        room = await RoomClient.open(url, **kwargs)
        self.rooms.append(room)
        return room


class RoomClient:
    """A party's socket: every frame received is kept, and tests wait for the one they expect."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self._cursor = 0

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RoomClient:
        conn = await websockets.connect(url, open_timeout=WAIT, max_size=None, **kwargs)
        return cls(conn)

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    async def next_frame(self) -> dict[str, Any]:
        if self._cursor < len(self.frames):
            frame = self.frames[self._cursor]
        else:
            raw = await asyncio.wait_for(self.conn.recv(), WAIT)
            frame = json.loads(raw)
            self.frames.append(frame)
        self._cursor += 1
        return frame

    async def expect(self, predicate: Callable[[dict[str, Any]], bool] | str) -> dict[str, Any]:
        """Read frames until one matches (a type name or a predicate); earlier ones stay recorded."""
        check = (lambda f: f.get("type") == predicate) if isinstance(predicate, str) else predicate
        while True:
            frame = await self.next_frame()
            if check(frame):
                return frame

    async def sync(self) -> int:
        """Ping and wait for the pong: everything the server queued before it has arrived."""
        await self.send({"type": "ping"})
        pong = await self.expect("pong")
        return int(pong["last_seq"])

    def events(self) -> list[dict[str, Any]]:
        """Frames from the room's log (a seq of 1 or more: not error/pong, not transient partials)."""
        return [f for f in self.frames if f.get("seq")]

    async def closed(self) -> tuple[int | None, str | None]:
        """Wait for the server to close; return (code, reason)."""
        try:
            while True:
                raw = await asyncio.wait_for(self.conn.recv(), WAIT)
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, None)

    async def close(self) -> None:
        await self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running_gateway(settings: Settings | None = None, **app_kwargs: Any) -> AsyncIterator[Gateway]:
    """Serve a gateway on a free loopback port in this event loop."""
    settings = settings or make_settings()
    clock = app_kwargs.pop("clock", None) or ManualClock()
    app_kwargs.setdefault("store", MemoryStore())
    app_kwargs.setdefault("roles", builtin_roles())
    app = create_app(settings, clock=clock, **app_kwargs)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        ws_max_size=settings.ws_max_size,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not server.started:  # bounded start-up poll
        if task.done() or loop.time() > deadline:
            raise RuntimeError("the test gateway did not start")
        await asyncio.sleep(0.005)
    url = f"http://127.0.0.1:{config.port}"
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
        gateway = Gateway(url=url, app=app, clock=clock, http=http)
        try:
            yield gateway
        finally:
            for room in gateway.rooms:
                await room.close()
            server.should_exit = True
            await asyncio.wait_for(task, WAIT)


async def joint_pair(gw: Gateway) -> tuple[dict[str, Any], dict[str, Any], RoomClient, RoomClient]:
    """Alex and Sam connected, intake skipped, both ready: the joint room is open."""
    alex = await gw.create("Alex")
    sam = await gw.accept(alex["invite_code"], "Sam")
    a = await gw.connect(alex)
    b = await gw.connect(sam)
    for room in (a, b):
        await room.send({"type": "intake", "skip": True})
    for room in (a, b):
        await room.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "ready_check")
    for room in (a, b):
        await room.send({"type": "ready"})
    for room in (a, b):
        await room.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "joint")
    return alex, sam, a, b

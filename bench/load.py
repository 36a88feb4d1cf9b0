"""The benchmark's client side: room sockets, the open-loop load they send, and what they measure."""


from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

LINES = [  # ordinary, non-alarming things people say in a private room (varied so nothing caches)
    "I felt hurt when the plans changed at the last minute.",
    "I want us to figure out the weekends together.",
    "It bothers me when the dishes pile up, I end up doing them.",
    "Could we talk about how we split the chores?",
    "I was upset that my idea was presented without my name on it.",
    "I need a bit of quiet time after work before we talk.",
    "I'd like us to plan the holidays earlier this year.",
    "When the meeting ran late I felt ignored.",
    "I miss spending time together in the evenings.",
    "I want to feel that my work is seen by the team.",
]


@dataclass
class Stats:
    """Latencies in seconds, plus counters."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    events: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # says, shares
    errors: dict[str, int] = field(default_factory=dict)
    recording: bool = False
    window: tuple[float, float] = (float("inf"), float("inf"))  # perf_counter() start, end

    def add(self, name: str, sent_at: float, now: float) -> None:
        """A latency sample, counted only for what was sent inside the measured window."""
        if self.window[0] <= sent_at < self.window[1]:
            self.samples.setdefault(name, []).append(now - sent_at)

    def summary(self, name: str) -> dict[str, float | int]:
        values = sorted(self.samples.get(name, []))
        if not values:
            return {"n": 0}
        q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
        return {
            "n": len(values),
            "p50_ms": q[49] * 1000,
            "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000,
            "max_ms": values[-1] * 1000,
        }


@dataclass
class Room:
    """One client socket: a party of a session (or an echo client)."""

    ws: ClientConnection
    session: int
    side: int
    stage: str = ""
    reached: dict[str, asyncio.Event] = field(default_factory=dict)  # stage -> seen at least once

    def stage_event(self, stage: str) -> asyncio.Event:
        return self.reached.setdefault(stage, asyncio.Event())


class Load:
    """Open-loop traffic over a set of sockets and the bookkeeping that turns replies into latencies."""

    def __init__(self, stats: Stats, share_ratio: float = 0.0) -> None:
        self.stats = stats
        self.share_ratio = share_ratio  # fraction of the messages that are shares (when a draft waits)
        self.rooms: list[Room] = []
        self.shareable: dict[int, tuple[Room, str]] = {}  # room index -> its newest pending draft
        self.pending_say: dict[str, float] = {}  # client_msg_id -> sent at
        self.said: dict[tuple[int, str], float] = {}  # (room, message_id) -> sent at; ids are per session
        self.share_in_flight: dict[int, float] = {}  # session -> share sent at
        self.readers: list[asyncio.Task[None]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()  # set whenever no say is waiting for its reply

    def attach(self, room: Room) -> None:
        self.rooms.append(room)
        self.readers.append(asyncio.create_task(self._read(room)))

    async def _read(self, room: Room) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in room.ws:
                now = time.perf_counter()
                self.stats.events += 1 if self.stats.recording else 0
                frame = json.loads(raw)
                self._on_frame(room, frame, now)
                if not self.pending_say and not self.said:
                    self.idle.set()

    def _on_frame(self, room: Room, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "echo":
            sent = self.pending_say.pop(frame["client_msg_id"], None)
            if sent is not None:
                self.stats.add("echo", sent, now)
        elif kind == "said" and frame.get("client_msg_id"):
            sent = self.pending_say.pop(frame["client_msg_id"], None)
            if sent is not None:
                self.said[(id(room), frame["message_id"])] = sent
        elif kind in ("coach", "safety") and frame.get("reply_to"):
            sent = self.said.pop((id(room), frame["reply_to"]), None)
            if sent is not None:
                self.stats.add("say_to_coach", sent, now)
        elif kind == "draft":
            draft, key = frame["draft"], id(room)
            if draft["status"] == "pending":
                self.shareable[key] = (room, draft["id"])
            elif key in self.shareable and self.shareable[key][1] == draft["id"]:
                del self.shareable[key]
        elif kind == "shared":
            # Delivered: the other party's socket has it (the author's arrives too; that one is not timed).
            sent = self.share_in_flight.get(room.session)
            if sent is not None and not self._is_author(room, frame):
                del self.share_in_flight[room.session]
                self.stats.add("send_to_shared", sent, now)
        elif kind == "stage":
            room.stage = frame["stage"]
            room.stage_event(room.stage).set()
        elif kind == "error":
            if frame.get("frame_type") == "share":  # e.g. the draft was superseded: free the session
                self.share_in_flight.pop(room.session, None)
            code = str(frame.get("code"))
            self.stats.errors[code] = self.stats.errors.get(code, 0) + 1

    @staticmethod
    def _is_author(room: Room, frame: dict[str, Any]) -> bool:
        return f"{'AB'[room.side]}{room.session}" in frame.get("authors", [])

    def _send(self, room: Room, frame: dict[str, Any]) -> None:
        task = asyncio.create_task(room.ws.send(json.dumps(frame)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drive(self, rate: float, seconds: float, echo: bool) -> None:
        """Send ``rate`` messages per second for ``seconds`` (open loop): ``say`` to random sockets,
        and a share of them (``share_ratio``) ``share`` of a pending draft in a session with no
        share in flight; with ``echo``, plain frames the echo server returns."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while (due := start + n / rate) < start + seconds:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            if not echo and self.shareable and random.random() < self.share_ratio:
                candidates = [
                    v
                    for v in self.shareable.values()
                    if v[0].session not in self.share_in_flight and v[0].stage in ("joint", "agreement")
                ]
                if candidates:
                    room, draft_id = random.choice(candidates)
                    del self.shareable[id(room)]
                    self.share_in_flight[room.session] = time.perf_counter()
                    self._send(room, {"type": "share", "draft_id": draft_id, "action": "send"})
                    self._count("shares")
                    continue
            room = random.choice(self.rooms)
            cmid = uuid.uuid4().hex
            self.pending_say[cmid] = time.perf_counter()
            frame = {"type": "echo" if echo else "say", "text": random.choice(LINES), "client_msg_id": cmid}
            self._send(room, frame)
            self._count("says")

    def _count(self, what: str) -> None:
        if self.stats.recording:
            self.stats.sent[what] = self.stats.sent.get(what, 0) + 1

    async def drain(self, within: float) -> int:
        """Wait (bounded) for replies still in flight; returns how many never came."""
        if self.pending_say or self.said:
            self.idle.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self.idle.wait()
        return len(self.pending_say) + len(self.said)

    async def close(self) -> None:
        await asyncio.gather(*(r.ws.close() for r in self.rooms), return_exceptions=True)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def connect_all(
    urls: list[tuple[str, dict[str, str]]], concurrency: int = 64
) -> list[ClientConnection]:
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str, headers: dict[str, str]) -> ClientConnection:
        async with gate:
            return await connect(url, additional_headers=headers, open_timeout=30, max_size=2**20)

    return list(await asyncio.gather(*(one(u, h) for u, h in urls)))

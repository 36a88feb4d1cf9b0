"""A party's live room: the WebSocket ``/v1/sessions/{id}/ws``.

One socket serves one room (a party or a facilitator) and subscribes only to that room, so it can
never receive another room's events. On connect it subscribes FIRST, then sends the backlog after
the starting point (``?after_seq=N``, else the first ``resume`` frame, else everything), then live
events, dropping any ``seq`` already sent and filling any gap from the log: no duplicates, no gaps.
Transient events (``coach_partial``, ``seq`` 0) are in no log: they are sent as they arrive, never
counted as sent or replayed, and a slow reader simply misses them.

All writes to the socket happen in one sender task fed by one bounded queue (events, error and
pong frames, resume requests), so frames never interleave and a reader that stops reading is
closed (4408) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from gateway.auth import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    Principal,
    TokenSigner,
    Unauthorized,
    require_session_member,
    token_from_websocket,
)
from gateway.limits import RateLimiter
from gateway.logging import get_logger
from gateway.metrics import Metrics
from gateway.protocol import (
    AgreeFrame,
    ClientFrame,
    CloseFrame,
    ErrorFrame,
    FollowupFrame,
    FrameError,
    IntakeFrame,
    PauseFrame,
    PingFrame,
    PongFrame,
    ReadyFrame,
    ResumeFrame,
    SayFrame,
    ShareFrame,
    parse_client_frame,
)
from gateway.settings import Settings
from orchestrator.errors import AccordError, Forbidden, NotFound, StoreUnavailable
from orchestrator.events import Event
from orchestrator.session import SessionService
from orchestrator.store import Subscription

log = get_logger("accord.rooms")
router = APIRouter()

SUBPROTOCOL = "accord.v1"
CLOSE_UNAVAILABLE = 1013  # RFC 6455 "try again later": the store is unreachable


@dataclass
class _Resume:
    after_seq: int


@dataclass
class _Pong:
    pass


@dataclass
class _Catchup:
    """The live feed ended early (overflow, Redis reconnect): read the log from the last sent seq."""


class RoomRegistry:
    """The sockets open in this process, by (session, room), so HTTP actions can close them."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], set[RoomConnection]] = {}

    def add(self, conn: RoomConnection) -> None:
        self._open.setdefault((conn.session_id, conn.room), set()).add(conn)

    def remove(self, conn: RoomConnection) -> None:
        conns = self._open.get((conn.session_id, conn.room))
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._open[(conn.session_id, conn.room)]

    def count(self) -> int:
        return sum(len(c) for c in self._open.values())

    async def close_party(self, session_id: str, room: str) -> None:
        """Close a room's sockets in this process (its party deleted their data)."""
        for conn in list(self._open.get((session_id, room), ())):
            await conn.shut(CLOSE_NOT_FOUND, "deleted")

    async def close_all(self) -> None:
        for conns in list(self._open.values()):
            for conn in list(conns):
                await conn.shut(1001, "server shutting down")


def _is_disconnect(exc: BaseException) -> bool:
    """The peer went away mid-send: normal for sockets, not an error worth a stack."""
    return (
        isinstance(exc, (WebSocketDisconnect, OSError, RuntimeError))
        or "ConnectionClosed" in type(exc).__name__
    )


def _offered_subprotocols(websocket: WebSocket) -> list[str]:
    return [p.strip() for p in websocket.scope.get("subprotocols", []) if p.strip()]


async def refuse(websocket: WebSocket, close_code: int, code: str, message: str) -> None:
    """Accepted-then-closed, so the client sees our close code and an ``error`` frame explaining it
    (closing before the handshake would only give the client an HTTP 403)."""
    if websocket.client_state is WebSocketState.CONNECTING:
        offered = _offered_subprotocols(websocket)
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    with contextlib.suppress(Exception):
        await websocket.send_text(ErrorFrame(code=code, message=message).model_dump_json())
        await websocket.close(close_code, reason=code)


async def authenticate(websocket: WebSocket, signer: TokenSigner) -> Principal | None:
    """The socket's verified principal, or None after refusing it with the right close code."""
    token = token_from_websocket(
        websocket.query_params.get("token"),
        websocket.headers.get("authorization"),
        _offered_subprotocols(websocket),
    )
    try:
        return signer.verify(token)
    except Unauthorized as exc:
        await refuse(websocket, CLOSE_UNAUTHORIZED, exc.code, exc.message)
        return None


@router.websocket("/v1/sessions/{session_id}/ws")
async def room_socket(websocket: WebSocket, session_id: str) -> None:
    """A party's (or facilitator's) live room. See docs/protocol.md."""
    app = websocket.app
    settings: Settings = app.state.settings
    service: SessionService = app.state.service
    principal = await authenticate(websocket, app.state.signer)
    if principal is None:
        return
    try:
        require_session_member(principal, session_id)
    except Forbidden as exc:
        await refuse(websocket, CLOSE_FORBIDDEN, exc.code, exc.message)
        return
    raw_after = websocket.query_params.get("after_seq")
    after_seq: int | None = None
    if raw_after is not None:
        if not raw_after.isdigit():
            await refuse(
                websocket, CLOSE_BAD_REQUEST, "invalid_request", "after_seq must be a whole number >= 0"
            )
            return
        after_seq = int(raw_after)
    try:
        state = await service.store.load(session_id)
    except NotFound:
        await refuse(websocket, CLOSE_NOT_FOUND, "not_found", "this session no longer exists")
        return
    except StoreUnavailable as exc:
        # Refuse with a close code the client can act on (retry), not a half-made HTTP 503.
        await refuse(
            websocket, CLOSE_UNAVAILABLE, exc.code, "the session store is unreachable; try again shortly"
        )
        return
    party = state.parties.get(principal.subject)
    if party is None or getattr(party, "deleted", False):
        await refuse(websocket, CLOSE_NOT_FOUND, "not_found", "you are no longer part of this session")
        return
    offered = _offered_subprotocols(websocket)
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    conn = RoomConnection(
        websocket, service, settings, app.state.metrics, app.state.limiter, session_id, principal, after_seq
    )
    app.state.rooms.add(conn)
    try:
        await conn.run()
    finally:
        app.state.rooms.remove(conn)


class RoomConnection:
    """One open room socket: a receiver (frames in), a pump (live events in), a sender (frames out)."""

    def __init__(
        self,
        websocket: WebSocket,
        service: SessionService,
        settings: Settings,
        metrics: Metrics,
        limiter: RateLimiter,
        session_id: str,
        principal: Principal,
        after_seq: int | None,
    ) -> None:
        self.ws = websocket
        self.service = service
        self.settings = settings
        self.metrics = metrics
        self.limiter = limiter
        self.session_id = session_id
        self.room = principal.subject
        self.role = principal.role.value
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._start: int | None = after_seq
        self._start_known = asyncio.Event()
        self._too_slow = asyncio.Event()
        if after_seq is not None:
            self._start_known.set()
        self._last_sent = 0
        self._say_started: float | None = None
        self._subscription: Subscription
        self._closed = False
        self._close_code: int | None = None
        self._counts = {"frames": 0, "errors": 0, "events": 0, "partials": 0}
        self._log = log.bind(session_id=session_id, party_id=self.room, role=self.role)

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        started = time.perf_counter()
        gauge = self.metrics.connections.labels(kind=self.role)
        gauge.inc()
        self._subscription = await self.service.subscribe(self.session_id, self.room)  # before any read
        tasks = [
            asyncio.create_task(self._pump(), name="pump"),
            asyncio.create_task(self._send_loop(), name="send"),
            asyncio.create_task(self._receive_loop(), name="receive"),
            asyncio.create_task(self._too_slow.wait(), name="too_slow"),
        ]
        self._log.info("ws_connected", after_seq=self._start)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if self._too_slow.is_set():
                self._log.warning("ws_too_slow", queued=self._queue.qsize())
                await self.shut(CLOSE_TOO_SLOW, "too slow: reconnect and resume")
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if exc is None:
                    continue
                if _is_disconnect(exc):
                    self._log.info("ws_gone", task=task.get_name(), error=type(exc).__name__)
                else:
                    self._log.error("ws_task_failed", task=task.get_name(), error=type(exc).__name__)
                    await self.shut(CLOSE_SERVER_ERROR, "internal error")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._subscription.close()
            await self.shut(1000, "bye")
            gauge.dec()
            self._log.info(
                "ws_disconnected",
                seconds=round(time.perf_counter() - started, 3),
                last_seq=self._last_sent,
                close_code=self._close_code,
                **self._counts,
            )

    async def shut(self, code: int, reason: str) -> None:
        """Close the socket (once); the receive loop then ends."""
        if self._closed:
            return
        self._closed = True
        self._close_code = code
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason=reason)

    def _enqueue(self, item: Any, *, droppable: bool = False) -> None:
        if self._queue.qsize() >= self.settings.ws_send_queue:
            if droppable:
                return  # a transient frame: no resume could bring it back, so a slow reader skips it
            self._too_slow.set()  # run() closes the socket; the client resumes from its last seq
            return
        self._queue.put_nowait(item)

    # --- live events in -----------------------------------------------------------------------
    async def _pump(self) -> None:
        while True:
            async for event in self._subscription:
                self._enqueue(event, droppable=event.seq == 0)
            reason = getattr(self._subscription, "end_reason", "closed")
            if reason == "deleted":
                await self.shut(CLOSE_NOT_FOUND, "deleted")
                return
            if reason == "closed":
                return
            # overflow or a lost Redis connection: subscribe again, then read what the feed missed
            await self._subscription.close()
            self._subscription = await self.service.subscribe(self.session_id, self.room)
            self._enqueue(_Catchup())

    # --- frames out ---------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        if not self._start_known.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._start_known.wait(), self.settings.resume_wait_seconds)
        self._last_sent = self._start if self._start is not None else 0
        self._start_known.set()
        await self._catch_up()
        while True:
            item = await self._queue.get()
            if isinstance(item, ErrorFrame):
                await self.ws.send_text(item.model_dump_json())
            elif isinstance(item, _Pong):
                # Events of frames handled before this ping may still be on their way through the
                # live feed: read the log first, so a pong means "you have everything up to now".
                await self._catch_up()
                await self.ws.send_text(PongFrame(last_seq=self._last_sent).model_dump_json())
            elif isinstance(item, _Resume):
                self._last_sent = item.after_seq
                await self._catch_up()
            elif isinstance(item, _Catchup):
                await self._catch_up()
            elif item.seq == 0:
                await self._send_transient(item)  # live only: sent now, never moves _last_sent
            elif item.seq == self._last_sent + 1:
                await self._send_event(item)
            elif item.seq > self._last_sent + 1:
                await self._catch_up()  # a gap: the log has everything, in order
            # else: already sent (backlog and live feed overlap by design)

    async def _catch_up(self) -> None:
        for event in await self.service.events(self.session_id, self.room, after_seq=self._last_sent):
            if event.seq > self._last_sent:
                await self._send_event(event)

    async def _send_event(self, event: Event) -> None:
        await self.ws.send_text(event.model_dump_json())
        self._last_sent = event.seq
        self._counts["events"] += 1
        self.metrics.events_sent.labels(type=event.type).inc()
        if event.type in ("coach", "safety") and self._say_started is not None:
            self.metrics.say_to_coach.observe(time.perf_counter() - self._say_started)
            self._say_started = None

    async def _send_transient(self, event: Event) -> None:
        """A transient event (``coach_partial``): in no log, so it has no ``seq`` to track, is never
        replayed on resume, and the final ``coach`` event (not this) ends the say→coach latency."""
        await self.ws.send_text(event.model_dump_json())
        self._counts["partials"] += 1
        self.metrics.events_sent.labels(type=event.type).inc()

    def _error(
        self, code: str, message: str, frame_type: str | None = None, client_msg_id: str | None = None
    ) -> None:
        self._counts["errors"] += 1
        self.metrics.frame_errors.labels(code=code).inc()
        self._log.info("ws_error", code=code, frame_type=frame_type)
        self._enqueue(
            ErrorFrame(code=code, message=message, frame_type=frame_type, client_msg_id=client_msg_id)
        )

    # --- frames in ----------------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            raw: str | bytes | None = message.get("text")
            if raw is None:
                raw = message.get("bytes")
            if raw is None:
                continue
            self._counts["frames"] += 1
            await self._handle_raw(raw)

    async def _handle_raw(self, raw: str | bytes) -> None:
        size = len(raw) if isinstance(raw, bytes) or raw.isascii() else len(raw.encode("utf-8"))
        if not await self.limiter.allow(self.session_id, self.room):
            self._error(
                "rate_limited",
                f"at most {self.settings.messages_per_second:g} frames per second "
                f"(bursts of {self.settings.messages_burst}); this frame was dropped",
            )
            return
        if size > self.settings.max_frame_bytes:
            self._error(
                "frame_too_large",
                f"frames are limited to {self.settings.max_frame_bytes} bytes; this one was dropped",
            )
            return
        try:
            frame = parse_client_frame(raw)
        except FrameError as exc:
            self._error(exc.code, exc.message, exc.frame_type)
            return
        if not self._start_known.is_set():
            # The first frame fixes where the backlog starts: a resume says, anything else means 0.
            self._start = frame.after_seq if isinstance(frame, ResumeFrame) else 0
            self._start_known.set()
            if isinstance(frame, ResumeFrame):
                self.metrics.frames.labels(type="resume").inc()
                return
        self.metrics.frames.labels(type=frame.type).inc()
        client_msg_id = frame.client_msg_id if isinstance(frame, SayFrame) else None
        started = time.perf_counter()
        try:
            await self._dispatch(frame)
        except AccordError as exc:
            if isinstance(frame, SayFrame):
                self._say_started = None
            self._error(exc.code, exc.message, frame.type, client_msg_id)
        except Exception as exc:  # noqa: BLE001 - one bad action must not end the room
            self._log.error("ws_action_failed", frame_type=frame.type, error=type(exc).__name__)
            self._error(
                "internal_error",
                "something went wrong on our side; please try again",
                frame.type,
                client_msg_id,
            )
        else:
            self._log.debug(
                "ws_frame", frame_type=frame.type, ms=round((time.perf_counter() - started) * 1000, 2)
            )

    async def _dispatch(self, frame: ClientFrame) -> None:
        s, sid, pid = self.service, self.session_id, self.room
        if isinstance(frame, SayFrame):
            if self._say_started is None:
                self._say_started = time.perf_counter()
            await s.say(sid, pid, frame.text, frame.client_msg_id)
        elif isinstance(frame, ShareFrame):
            await s.share(sid, pid, frame.draft_id, frame.action, frame.text)
        elif isinstance(frame, PauseFrame):
            await s.pause(sid, pid)
        elif isinstance(frame, ReadyFrame):
            await s.ready(sid, pid)
        elif isinstance(frame, AgreeFrame):
            await s.agree(sid, pid, frame.agreement_id, frame.accept)
        elif isinstance(frame, IntakeFrame):
            await s.intake(sid, pid, frame.answers, frame.skip)
        elif isinstance(frame, FollowupFrame):
            await s.answer_followup(sid, pid, frame.answers)
        elif isinstance(frame, CloseFrame):
            await s.close(sid, pid)
        elif isinstance(frame, ResumeFrame):
            self._enqueue(_Resume(frame.after_seq))
        elif isinstance(frame, PingFrame):
            self._enqueue(_Pong())

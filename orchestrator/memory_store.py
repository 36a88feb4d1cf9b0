"""The embedded, single-process store: everything in dictionaries, nothing survives a restart.

Sessions and events are kept as JSON text, exactly as :class:`orchestrator.redis_store.RedisStore`
keeps them, so a value that would not survive Redis does not survive here either, and callers who
mutate a loaded state (or a returned event) never change what is stored until they ``save``.

Live delivery (both stores) goes through :class:`QueueSubscription`: a bounded local queue per
subscriber. Appenders never wait for slow readers; a reader that falls ``maxsize`` events behind is
ended (``end_reason == "overflow"``) and must resume from the log. The pattern that loses and
repeats nothing, for either store::

    sub = await store.subscribe(sid, room)              # first subscribe ...
    backlog = await store.read(sid, room, after_seq=last)  # ... then read what was missed
    for event in backlog: send(event); last = event.seq
    async for event in sub:                             # the feed may repeat a backlog event:
        if event.seq > last: send(event); last = event.seq
    # iteration ended (overflow, disconnect, session deleted): read from ``last`` again

Transient events (``signal``, ``seq`` 0) arrive in the same feed, in order, but are in no log: a
reader passes them on as they come and never counts them in ``last``.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from orchestrator.errors import Conflict, NotFound
from orchestrator.events import EVENT_ADAPTER, Event, is_transient
from orchestrator.feed import DEFAULT_QUEUE, BoundedFeed
from orchestrator.models import SessionState
from orchestrator.store import SessionStore, Subscription

DEFAULT_SUBSCRIBER_QUEUE = DEFAULT_QUEUE


class QueueSubscription(BoundedFeed[Event], Subscription):
    """A room's live events, from a bounded local queue (both stores use it)."""


@dataclass
class _Room:
    seq: int = 0  # newest seq ever assigned; kept when the log is erased so seq never goes back
    log: list[tuple[int, str]] = field(default_factory=list)  # (seq, event JSON)
    subscribers: set[QueueSubscription] = field(default_factory=set)


@dataclass
class _Session:
    state_json: str
    codes: set[str] = field(default_factory=set)
    rooms: dict[str, _Room] = field(default_factory=dict)


class _MemorySubscription(QueueSubscription):
    def __init__(self, room: _Room, maxsize: int) -> None:
        super().__init__(maxsize)
        self._room = room

    async def _release(self) -> None:
        self._room.subscribers.discard(self)


class MemoryStore(SessionStore):
    """Sessions and room logs in process memory (the embedded default; one process only).

    ``subscriber_queue_size`` bounds how far a live reader may fall behind before its
    subscription ends and it has to resume from the log.
    """

    def __init__(self, subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE) -> None:
        self.subscriber_queue_size = subscriber_queue_size
        self._sessions: dict[str, _Session] = {}
        self._codes: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _session(self, session_id: str) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise NotFound(f"no session {session_id!r}") from None

    # --- sessions -----------------------------------------------------------------------------
    async def create(self, state: SessionState) -> None:
        if state.id in self._sessions:
            raise Conflict(f"session {state.id!r} already exists")
        self._sessions[state.id] = _Session(state_json=state.model_dump_json())

    async def load(self, session_id: str) -> SessionState:
        return SessionState.model_validate_json(self._session(session_id).state_json)

    async def save(self, state: SessionState) -> None:
        # Saving a deleted session must not bring its data back (a concurrent handler may still
        # hold a loaded copy after a party asked for deletion).
        self._session(state.id).state_json = state.model_dump_json()

    async def delete(self, session_id: str) -> None:
        data = self._sessions.pop(session_id, None)
        self._locks.pop(session_id, None)
        if data is None:
            return
        for code in data.codes:
            if self._codes.get(code) == session_id:
                del self._codes[code]
        for room in data.rooms.values():
            for sub in room.subscribers:
                sub.finish("deleted")

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        # Not reentrant: a holder that asks again waits forever.
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def bind_code(self, code: str, session_id: str) -> None:
        data = self._session(session_id)
        bound = self._codes.get(code)
        if bound is not None and bound != session_id:
            raise Conflict("this code is already in use")
        self._codes[code] = session_id
        data.codes.add(code)

    async def resolve_code(self, code: str) -> str | None:
        return self._codes.get(code)

    async def session_ids(self) -> list[str]:
        return sorted(self._sessions)

    # --- event log ----------------------------------------------------------------------------
    async def append(self, session_id: str, room: str, event: Event) -> Event:
        if is_transient(event):
            raise TypeError(f"{event.type!r} events are signalled, never appended")
        log = self._session(session_id).rooms.setdefault(room, _Room())
        log.seq += 1
        stored = event.model_copy(update={"seq": log.seq})
        payload = stored.model_dump_json()
        log.log.append((log.seq, payload))
        for sub in list(log.subscribers):
            sub.push(EVENT_ADAPTER.validate_json(payload))  # each reader gets its own copy
            if sub.ended:
                log.subscribers.discard(sub)
        return stored

    async def signal(self, session_id: str, room: str, event: Event) -> None:
        data = self._sessions.get(session_id)
        log = data.rooms.get(room) if data is not None else None
        if log is None or not log.subscribers:
            return
        payload = event.model_copy(update={"seq": 0}).model_dump_json()
        for sub in list(log.subscribers):
            sub.push_transient(EVENT_ADAPTER.validate_json(payload))  # a full queue just misses it

    async def read(
        self, session_id: str, room: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        data = self._sessions.get(session_id)
        log = data.rooms.get(room) if data is not None else None
        if log is None or (limit is not None and limit <= 0):
            return []
        start = bisect_right(log.log, after_seq, key=lambda item: item[0])
        end = None if limit is None else start + limit
        return [EVENT_ADAPTER.validate_json(payload) for _, payload in log.log[start:end]]

    async def last_seq(self, session_id: str, room: str) -> int:
        data = self._sessions.get(session_id)
        log = data.rooms.get(room) if data is not None else None
        return 0 if log is None else log.seq

    async def delete_room(self, session_id: str, room: str) -> None:
        data = self._sessions.get(session_id)
        log = data.rooms.get(room) if data is not None else None
        if log is not None:
            log.log.clear()  # the counter stays: a reconnecting client must never see seq go back

    async def subscribe(self, session_id: str, room: str) -> QueueSubscription:
        log = self._session(session_id).rooms.setdefault(room, _Room())
        sub = _MemorySubscription(log, self.subscriber_queue_size)
        log.subscribers.add(sub)
        return sub

    async def close(self) -> None:
        for data in self._sessions.values():
            for room in data.rooms.values():
                for sub in room.subscribers:
                    sub.finish("closed")
                room.subscribers.clear()

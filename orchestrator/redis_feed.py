"""Live room events for :class:`orchestrator.redis_store.RedisStore` over ONE pub/sub connection.

A gateway process holds one WebSocket per open room, and every socket subscribes to its room. A
Redis connection per subscription would exhaust the client's pool (100 connections by default)
and waste server memory, so each store has one :class:`RedisFeed`: one pub/sub connection (taken
from the store client's pool, so it carries the client's settings and name) and one reader task
that hands each message to the local subscriptions of its channel.

Channels are reference-counted: SUBSCRIBE when a channel gets its first local subscription,
UNSUBSCRIBE when its last one ends. Redis answers each (UN)SUBSCRIBE once per channel, in order,
so counting the commands still unanswered per channel tells when a channel is really subscribed
(or really left): ``attach`` returns only then, and a PUBLISH from then on reaches us.

Signalled (transient) events carry ``seq`` 0: they go straight to live subscriptions, are dropped
rather than ending a full one, and are never read back from a stream.

Connection loss: the reader reconnects (retrying for up to ``timeout`` seconds), subscribes to
every channel again, and once Redis has confirmed them all, reads what each subscription missed
from the room streams (one pipeline). Subscriptions therefore carry on without a gap or a repeat.
If Redis stays unreachable, every subscription ends with ``end_reason == "disconnected"`` (the
reader resubscribes and resumes from the log; the next ``subscribe`` starts a new connection).
"""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import suppress
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.errors import StoreUnavailable
from orchestrator.events import EVENT_ADAPTER, Event
from orchestrator.feed import EndReason
from orchestrator.memory_store import QueueSubscription

log = logging.getLogger(__name__)

_CHUNK = 500  # channels per SUBSCRIBE when resubscribing, so one command stays a sane size
_MAX_RETRY_DELAY = 1.0

# What the reader saw for a subscription whose starting seq is not known yet (see ``begin``).
_Mark = Literal["deleted", "resync"]


def text(value: str | bytes) -> str:
    """Redis replies as text whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value


def stream_events(entries: list[Any] | None) -> list[Event]:
    """Events of XRANGE entries (field ``e`` holds the event JSON)."""
    events = []
    for _, fields in entries or []:
        value = None if fields is None else fields.get("e", fields.get(b"e"))
        if value is None:
            raise ValueError("stream entry without an event")
        events.append(EVENT_ADAPTER.validate_json(value))
    return events


class RedisSubscription(QueueSubscription):
    """Live events of one room, gap-free, fed by the store's shared :class:`RedisFeed`.

    Pub/sub drops messages while a connection is down, so the feed checks ``seq``: on a jump it
    first reads the missing events from the stream, and after a reconnect it reads what was
    appended meanwhile. The subscription therefore yields every event with ``seq`` above the
    room's ``last_seq`` at subscribe time, in order, each once (erased events excepted).
    """

    def __init__(
        self, feed: RedisFeed, session_id: str, room: str, channel: str, stream: str, maxsize: int
    ) -> None:
        super().__init__(maxsize)
        self.session_id = session_id
        self.room = room
        self.channel = channel
        self.stream = stream
        self.last = 0  # newest seq delivered (or, before that, the seq at subscribe time)
        self._feed = feed
        # Until ``begin`` knows the starting seq the reader only records what it saw here.
        self._early: list[Event | _Mark] | None = []

    @property
    def live(self) -> bool:
        """True once the reader delivers to the queue directly."""
        return self._early is None

    def finish(self, reason: EndReason, *, discard: bool = False) -> None:
        super().finish(reason, discard=discard)
        self._feed.forget(self)  # an ended feed (overflow, deleted, closed) needs no more messages

    def push_in_order(self, event: Event) -> None:
        """Queue ``event`` if it is the next one; older ones were delivered already."""
        if event.seq > self.last:
            self.push(event)
            self.last = event.seq

    async def _release(self) -> None:
        await self._feed.detach(self)


class RedisFeed:
    """One pub/sub connection and reader task per store, shared by all its subscriptions.

    ``timeout`` bounds how long a subscription waits for Redis to confirm it, how long the reader
    keeps trying to reconnect, and how long ``detach`` waits for the UNSUBSCRIBE answer.
    """

    def __init__(self, client: aioredis.Redis, timeout: float) -> None:
        self._client = client
        self.timeout = timeout
        self._conn: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one writer at a time; (re)connecting excludes writers
        self._reconnecting = False
        self._channels: dict[str, set[RedisSubscription]] = {}
        self._idle: set[str] = set()  # channels whose last subscription left: UNSUBSCRIBE due
        self._inflight: dict[str, int] = {}  # (UN)SUBSCRIBEs sent per channel, not yet answered
        self._settled: dict[str, asyncio.Future[None]] = {}  # resolved when inflight drops to 0
        self._resync: set[str] | None = None  # after a reconnect: channels Redis has yet to confirm

    @property
    def connection(self) -> AbstractConnection | None:
        """The pub/sub connection (None before the first subscription)."""
        return self._conn

    def channel_count(self) -> int:
        """How many channels have a local subscription."""
        return len(self._channels)

    # --- subscriptions ------------------------------------------------------------------------
    async def attach(self, sub: RedisSubscription) -> None:
        """Route ``sub.channel`` to ``sub``; returns once Redis confirmed the channel subscription.

        Raises ``StoreUnavailable`` when Redis is unreachable or does not confirm in time.
        """
        async with self._lock:
            await self._start()
            subs = self._channels.setdefault(sub.channel, set())
            subs.add(sub)
            self._idle.discard(sub.channel)
            if len(subs) == 1:
                self._settled.setdefault(sub.channel, asyncio.get_running_loop().create_future())
                await self._send("SUBSCRIBE", [sub.channel])  # not connected: the reconnect sends it
            settled = self._settled.get(sub.channel)
        if settled is not None:
            try:
                await asyncio.wait_for(asyncio.shield(settled), self.timeout)
            except TimeoutError:
                raise StoreUnavailable("Redis did not confirm a subscription in time") from None
        if sub.ended:
            raise StoreUnavailable("lost the connection to Redis while subscribing")

    async def begin(self, sub: RedisSubscription, baseline: int) -> None:
        """Start delivering to ``sub`` events after seq ``baseline`` (the room's seq, read after
        ``attach``); first replays what the reader recorded while the baseline was unknown."""
        sub.last = baseline
        while sub._early:
            batch, sub._early = sub._early, []
            for item in batch:  # awaits below let the reader record more: the loop takes those too
                if not isinstance(item, str):
                    await self._deliver(sub, item)
                elif item == "deleted":
                    sub.finish("deleted")
                else:  # "resync": a reconnect happened, Redis has confirmed the channel again
                    await self._fill(sub)
        sub._early = None  # no await since the last check: nothing recorded is left behind
        await self._flush_idle()

    def forget(self, sub: RedisSubscription) -> None:
        """Stop routing to ``sub``; its channel becomes idle when no local subscription is left."""
        subs = self._channels.get(sub.channel)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self._channels[sub.channel]
            self._idle.add(sub.channel)

    async def detach(self, sub: RedisSubscription) -> None:
        """``forget`` and, for the channel's last subscription, wait until Redis unsubscribed."""
        self.forget(sub)
        if self._reconnecting:
            return  # the reconnect subscribes only to channels still in use
        await self._flush_idle()
        settled = self._settled.get(sub.channel)
        if settled is not None and sub.channel not in self._channels and self._running():
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(settled), self.timeout)

    # --- connection ---------------------------------------------------------------------------
    def _running(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def _start(self) -> None:
        """Connect and start the reader (called with the lock held)."""
        if self._running():
            return
        if self._conn is None:
            self._conn = await self._client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        else:  # a previous reader gave up: start from a clean connection
            await self._conn.disconnect()
            await self._conn.connect()  # type: ignore[no-untyped-call]
        self._reader = asyncio.create_task(self._read(self._conn), name="accord-live-feed")

    async def _send(self, command: str, channels: list[str]) -> None:
        """Send (UN)SUBSCRIBE if connected (called with the lock held). A failed write drops the
        connection; the reader then reconnects and resubscribes, so the error is not raised."""
        conn = self._conn
        if conn is None or not conn.is_connected or not channels:
            return
        # Counted before sending: a ``detach`` running meanwhile must find something to wait for.
        for channel in channels:
            self._inflight[channel] = self._inflight.get(channel, 0) + 1
            self._settled.setdefault(channel, asyncio.get_running_loop().create_future())
        try:
            await conn.send_command(command, *channels, check_health=False)
        except (RedisError, OSError) as exc:  # the connection is dropped: the reconnect resets counts
            log.warning("live feed: %s failed: %s", command, type(exc).__name__)

    async def _flush_idle(self) -> None:
        """UNSUBSCRIBE from channels no local subscription uses any more."""
        if not self._idle:
            return
        async with self._lock:
            idle = [channel for channel in self._idle if channel not in self._channels]
            self._idle.clear()
            await self._send("UNSUBSCRIBE", idle)

    async def _read(self, conn: AbstractConnection) -> None:
        try:
            while True:
                try:
                    reply = await conn.read_response(timeout=math.inf, push_request=True)
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    log.warning("live feed connection lost: %s", type(exc).__name__)
                    if not await self._reconnect(conn):
                        return
                    continue
                await self._handle(reply)
                await self._flush_idle()  # subscriptions ended by overflow or deletion leave
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an error reply: end every feed, readers resume from the log
            log.warning("live feed failed: %s", type(exc).__name__)  # type only: no private text
            self._end_all("disconnected")
            await conn.disconnect()

    async def _reconnect(self, conn: AbstractConnection) -> bool:
        """Reconnect and resubscribe; False (every subscription ended) if Redis stays away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = 0.02
        async with self._lock:
            self._reconnecting = True
            try:
                while True:
                    self._reset_inflight()
                    try:
                        await conn.disconnect()
                        await conn.connect()  # type: ignore[no-untyped-call]
                        channels = list(self._channels)
                        for start in range(0, len(channels), _CHUNK):
                            await self._send("SUBSCRIBE", channels[start : start + _CHUNK])
                        if not conn.is_connected:
                            raise RedisConnectionError("connection dropped while resubscribing")
                        break
                    except (RedisError, OSError) as exc:
                        if loop.time() + delay > deadline:
                            log.warning("live feed gave up reconnecting: %s", type(exc).__name__)
                            self._end_all("disconnected")
                            return False
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _MAX_RETRY_DELAY)
                self._resync = set(channels) or None
                return True
            finally:
                self._reconnecting = False

    def _reset_inflight(self) -> None:
        """A new connection has no subscriptions and owes no answers."""
        self._inflight.clear()
        self._resync = None
        for channel in [c for c in self._settled if c not in self._channels]:
            self._settle(channel)  # whoever waited for an UNSUBSCRIBE: done, the server forgot us

    def _settle(self, channel: str) -> None:
        settled = self._settled.pop(channel, None)
        if settled is not None and not settled.done():
            settled.set_result(None)

    def _end_all(self, reason: EndReason, *, discard: bool = False) -> None:
        subs = [sub for group in self._channels.values() for sub in group]
        for sub in subs:
            sub.finish(reason, discard=discard)
        self._channels.clear()
        self._idle.clear()
        self._reset_inflight()  # settles every waiter: attach then sees its subscription ended

    async def close(self) -> None:
        """End every subscription (``closed``), stop the reader, drop the connection."""
        self._end_all("closed", discard=True)
        reader, self._reader = self._reader, None
        while reader is not None and not reader.done():
            # Again if need be: on Python 3.11, asyncio.wait_for (redis-py sends through it) drops
            # a cancellation that arrives just as the send completes.
            reader.cancel()
            await asyncio.wait([reader], timeout=0.1)  # unlike ``await``, does not re-raise it
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()
            with suppress(KeyError, ValueError):  # the pool may have been reset meanwhile
                await self._client.connection_pool.release(conn)

    # --- messages -----------------------------------------------------------------------------
    async def _handle(self, reply: Any) -> None:
        if not isinstance(reply, list | tuple) or len(reply) < 3:
            return
        kind, channel = text(reply[0]), text(reply[1])
        if kind == "message":
            await self._dispatch(channel, text(reply[2]))
        elif kind in ("subscribe", "unsubscribe"):
            await self._answered(kind, channel)

    async def _answered(self, kind: str, channel: str) -> None:
        left = self._inflight.get(channel, 0) - 1
        if left > 0:
            self._inflight[channel] = left
            return
        self._inflight.pop(channel, None)
        self._settle(channel)
        if kind == "subscribe" and channel not in self._channels:
            self._idle.add(channel)  # every subscriber left before Redis answered: leave again
        if self._resync is not None:
            self._resync.discard(channel)
            if not self._resync:
                self._resync = None
                await self._catch_up_all()

    async def _dispatch(self, channel: str, data: str) -> None:
        subs = list(self._channels.get(channel, ()))
        if not subs:
            return  # a message sent before our UNSUBSCRIBE took effect
        if not data:  # "" = the session was deleted
            for sub in subs:
                if sub._early is None:
                    sub.finish("deleted")
                else:
                    sub._early.append("deleted")
            return
        try:
            event = EVENT_ADAPTER.validate_json(data)
        except ValueError as exc:  # type only: a validation error would quote private text
            log.warning("unreadable live event: %s", type(exc).__name__, extra={"channel": channel})
            for sub in subs:
                sub.finish("disconnected")
            return
        for i, sub in enumerate(subs):
            copy = event if i == 0 else event.model_copy(deep=True)  # each reader gets its own
            if event.seq == 0:
                # Transient (signalled, in no log): straight to live readers, never a gap and never
                # "already delivered". A reader not live yet skips it: ``begin`` replays only what
                # the stream holds, and a transient is not worth holding a subscriber back for.
                if sub._early is None:
                    sub.push_transient(copy)
                continue
            if sub._early is None:
                await self._deliver(sub, copy)
            else:
                sub._early.append(copy)

    async def _deliver(self, sub: RedisSubscription, event: Event) -> None:
        if sub.ended or event.seq <= sub.last:
            return  # already delivered by a catch-up read
        if event.seq > sub.last + 1 and not await self._fill(sub, until=event.seq - 1):
            return
        sub.push_in_order(event)

    async def _fill(self, sub: RedisSubscription, until: int | None = None) -> bool:
        """Queue the events after ``sub.last`` (up to ``until``) from the stream; on failure end
        the subscription as ``disconnected`` and return False."""
        limit = None if until is None else until - sub.last
        try:
            entries = await self._client.xrange(sub.stream, min=f"0-{sub.last + 1}", max="+", count=limit)
            events = stream_events(entries)
        except (RedisError, OSError, ValueError) as exc:
            log.warning("live feed catch-up failed: %s", type(exc).__name__, extra={"room": sub.room})
            sub.finish("disconnected")
            return False
        for event in events:
            sub.push_in_order(event)
        return True

    async def _catch_up_all(self) -> None:
        """After a reconnect: queue what every subscription missed, in one pipeline."""
        live: list[RedisSubscription] = []
        for sub in [sub for group in self._channels.values() for sub in group]:
            if sub._early is None:
                live.append(sub)
            else:
                sub._early.append("resync")  # ``begin`` reads the stream once it knows where from
        if not live:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for sub in live:
                    pipe.xrange(sub.stream, min=f"0-{sub.last + 1}", max="+")
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("live feed catch-up failed: %s", type(exc).__name__)
            for sub in live:
                sub.finish("disconnected")
            return
        for sub, entries in zip(live, results, strict=True):
            try:
                events = stream_events(entries)
            except ValueError:
                sub.finish("disconnected")
                continue
            for event in events:
                sub.push_in_order(event)

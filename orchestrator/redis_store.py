"""The production store: sessions, room logs and live fan-out in Redis, shared by every gateway node.

Keys (``p`` is the prefix, ``accord:`` by default)::

    {p}session:{sid}         string  SessionState JSON
    {p}sessions              set     every session id
    {p}code:{code}           string  session id an invite / facilitator code opens
    {p}codes:{sid}           set     the codes bound to a session (so ``delete`` finds them)
    {p}rooms:{sid}           set     the rooms a session has used (so ``delete`` finds them)
    {p}room:{sid}:{room}     stream  the room's events, entry id ``0-{seq}``, field ``e`` = event JSON
    {p}seq:{sid}:{room}      string  the room's newest seq (INCR)
    {p}lock:{sid}            string  the session lock (redis-py Lock, expires)
    channel {p}live:{sid}:{room}     pub/sub: each appended event's JSON; "" = session deleted;
                                     a signalled (transient) event's JSON with "seq": 0

Live subscriptions of one store share one pub/sub connection (see :mod:`orchestrator.redis_feed`),
so open rooms do not each hold a Redis connection. The store's connections are named
``accord-{prefix}`` (``CLIENT LIST`` shows them) unless a client is handed in.

Every write that must not interleave with another node's write is one Lua script, so ``seq`` is
gap-free and ordered across processes, and nothing can be appended to (or bound to) a session
after it was deleted. Keys are not hash-tagged: this targets one Redis (or a primary with
replicas), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from orchestrator.events import Event, is_transient
from orchestrator.memory_store import DEFAULT_SUBSCRIBER_QUEUE
from orchestrator.models import SessionState
from orchestrator.redis_feed import RedisFeed, RedisSubscription, stream_events, text
from orchestrator.store import SessionStore

log = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/0"

# Returns the new seq, or -1 when the session does not exist (deleted meanwhile).
# ARGV[2] is the event JSON after its leading '{"seq":0': seq is spliced in here, not re-encoded,
# because Lua's cjson would round the float timestamps.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = redis.call('INCR', KEYS[2])
local payload = '{"seq":' .. seq .. ARGV[2]
redis.call('XADD', KEYS[3], '0-' .. seq, 'e', payload)
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[3], payload)
return seq
"""

# Registers the room (so delete finds and closes it) and returns its newest seq, or -1.
_SUBSCRIBE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SADD', KEYS[3], ARGV[1])
return tonumber(redis.call('GET', KEYS[2]) or '0')
"""

# 1 bound, 0 code taken by another session, -1 no such session.
_BIND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local current = redis.call('GET', KEYS[2])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""

# KEYS: session, sessions, rooms, codes. ARGV: prefix, session id. Ends live subscribers with "".
_DELETE = """
local p, sid = ARGV[1], ARGV[2]
for _, room in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('DEL', p .. 'room:' .. sid .. ':' .. room, p .. 'seq:' .. sid .. ':' .. room)
  redis.call('PUBLISH', p .. 'live:' .. sid .. ':' .. room, '')
end
for _, code in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('GET', p .. 'code:' .. code) == sid then redis.call('DEL', p .. 'code:' .. code) end
end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
redis.call('SREM', KEYS[2], sid)
return 1
"""

_SEQ_HEAD = '{"seq":0'

P = ParamSpec("P")
R = TypeVar("R")


def _unavailable(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn a lost Redis connection into ``StoreUnavailable`` (a stable code the gateway maps)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc

    return wrapper


_text = text  # kept: other Redis modules import it from here


def _safe_url(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def client_name(prefix: str) -> str:
    """The connection name a store uses (CLIENT SETNAME allows no spaces or control characters)."""
    return re.sub(r"[^!-~]", "_", f"accord-{prefix}")


def _check_name(kind: str, value: str) -> None:
    # Room keys join session id and room with ':'; a ':' inside either could alias another room.
    if not value or ":" in value:
        raise InvalidInput(f"{kind} must be non-empty and contain no ':'")


POOL_SIZE = 200  # Redis connections per process for commands
POOL_WAIT_SECONDS = 10.0  # how long a command waits for a free one before StoreUnavailable

class RedisStore(SessionStore):
    """Sessions and room logs in Redis; any number of processes may share one prefix.

    ``lock_timeout``: how long a session lock lives if its holder never releases it. It exists
    because a node can crash (or lose its network) while holding a session; without expiry that
    session would be frozen for everyone forever. Work under the lock must finish well within it
    (do model calls outside the lock). ``lock_wait``: how long ``lock`` waits before giving up with
    ``StoreUnavailable``. ``lock_poll``: how often a waiter retries (redis-py polls; its default
    0.1 s makes contended sessions slow). ``subscribe_timeout``: how long ``subscribe`` waits for
    Redis to confirm, and how long the live feed retries a lost connection before it ends every
    subscription with ``disconnected``.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        prefix: str = "accord:",
        client: aioredis.Redis | None = None,
        *,
        lock_timeout: float = 30.0,
        lock_wait: float = 30.0,
        lock_poll: float = 0.005,
        subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE,
        subscribe_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._owns_client = client is None
        # A blocking pool: under a burst, a command waits for a free connection instead of failing
        # with "Too many connections" (live events share one pub/sub connection, see redis_feed).
        # ``?max_connections=N`` in the URL overrides the size.
        self._client: aioredis.Redis = client or aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                url,
                decode_responses=True,
                client_name=client_name(prefix),
                max_connections=POOL_SIZE,
                timeout=POOL_WAIT_SECONDS,
            )
        )
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self.lock_poll = lock_poll
        self.subscriber_queue_size = subscriber_queue_size
        self.subscribe_timeout = subscribe_timeout
        self._append = self._client.register_script(_APPEND)
        self._subscribe = self._client.register_script(_SUBSCRIBE)
        self._bind = self._client.register_script(_BIND)
        self._delete = self._client.register_script(_DELETE)
        self._feed = RedisFeed(self._client, subscribe_timeout)

    @property
    def client(self) -> aioredis.Redis:
        """The command client (for gateway features that share this Redis, e.g. rate limits)."""
        return self._client

    @classmethod
    async def connect(cls, url: str = DEFAULT_URL, prefix: str = "accord:", **options: Any) -> RedisStore:
        """Open a store and check that Redis answers; raises ``StoreUnavailable`` if it does not."""
        store = cls(url, prefix, **options)
        try:
            await asyncio.wait_for(store._client.ping(), timeout=store.subscribe_timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            await store.close()
            raise StoreUnavailable(
                f"cannot reach Redis at {_safe_url(url)}: {str(exc) or type(exc).__name__}. "
                "Start Redis, fix the URL, or run without a Redis URL to use the in-memory store."
            ) from exc
        return store

    # --- keys ---------------------------------------------------------------------------------
    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _room_keys(self, session_id: str, room: str) -> tuple[str, str, str]:
        """(stream, seq counter, live channel) of one room."""
        _check_name("session id", session_id)
        _check_name("room", room)
        tail = f"{session_id}:{room}"
        return f"{self.prefix}room:{tail}", f"{self.prefix}seq:{tail}", f"{self.prefix}live:{tail}"

    # --- sessions -----------------------------------------------------------------------------
    @_unavailable
    async def create(self, state: SessionState) -> None:
        _check_name("session id", state.id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._session_key(state.id), state.model_dump_json(), nx=True)
            pipe.sadd(f"{self.prefix}sessions", state.id)  # harmless when the id already exists
            created, _ = await pipe.execute()
        if not created:
            raise Conflict(f"session {state.id!r} already exists")

    @_unavailable
    async def load(self, session_id: str) -> SessionState:
        raw = await self._client.get(self._session_key(session_id))
        if raw is None:
            raise NotFound(f"no session {session_id!r}")
        return SessionState.model_validate_json(raw)

    @_unavailable
    async def save(self, state: SessionState) -> None:
        # XX: saving a deleted session must not bring its data back.
        if not await self._client.set(self._session_key(state.id), state.model_dump_json(), xx=True):
            raise NotFound(f"no session {state.id!r}")

    @_unavailable
    async def delete(self, session_id: str) -> None:
        keys = [
            self._session_key(session_id),
            f"{self.prefix}sessions",
            f"{self.prefix}rooms:{session_id}",
            f"{self.prefix}codes:{session_id}",
        ]
        await self._delete(keys=keys, args=[self.prefix, session_id])

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        return self._locked(session_id)

    @asynccontextmanager
    async def _locked(self, session_id: str) -> AsyncIterator[None]:
        lock = self._client.lock(
            f"{self.prefix}lock:{session_id}",
            timeout=self.lock_timeout,  # a crashed holder must not freeze the session forever
            blocking_timeout=self.lock_wait,
            sleep=self.lock_poll,
            thread_local=False,  # one Lock object per acquisition; tokens need no thread storage
        )
        try:
            acquired = await lock.acquire()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if not acquired:
            raise StoreUnavailable(f"session {session_id!r} stayed locked for {self.lock_wait:.0f}s")
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockNotOwnedError:
                # The work outlived lock_timeout: another node may have changed the session
                # meanwhile. The work is done, so say so loudly instead of failing it.
                log.warning("session lock expired before release", extra={"session_id": session_id})
            except (LockError, RedisError) as exc:
                log.warning("could not release session lock: %s", exc, extra={"session_id": session_id})

    @_unavailable
    async def bind_code(self, code: str, session_id: str) -> None:
        keys = [
            self._session_key(session_id),
            f"{self.prefix}code:{code}",
            f"{self.prefix}codes:{session_id}",
        ]
        result = await self._bind(keys=keys, args=[session_id, code])
        if result == -1:
            raise NotFound(f"no session {session_id!r}")
        if result == 0:
            raise Conflict("this code is already in use")

    @_unavailable
    async def resolve_code(self, code: str) -> str | None:
        value = await self._client.get(f"{self.prefix}code:{code}")
        return None if value is None else _text(value)

    @_unavailable
    async def session_ids(self) -> list[str]:
        return sorted(_text(v) for v in await self._client.smembers(f"{self.prefix}sessions"))

    # --- event log ----------------------------------------------------------------------------
    @_unavailable
    async def append(self, session_id: str, room: str, event: Event) -> Event:
        if is_transient(event):
            raise TypeError(f"{event.type!r} events are signalled, never appended")
        stream, counter, channel = self._room_keys(session_id, room)
        body = event.model_copy(update={"seq": 0}).model_dump_json()
        if not body.startswith(_SEQ_HEAD + ","):
            raise TypeError(f"{type(event).__name__} must serialise with 'seq' first")
        keys = [self._session_key(session_id), counter, stream, f"{self.prefix}rooms:{session_id}"]
        seq = int(await self._append(keys=keys, args=[room, body[len(_SEQ_HEAD) :], channel]))
        if seq < 0:
            raise NotFound(f"no session {session_id!r}")
        return event.model_copy(update={"seq": seq})

    @_unavailable
    async def signal(self, session_id: str, room: str, event: Event) -> None:
        # A plain PUBLISH on the room's live channel: no stream entry, no seq. Redis delivers the
        # messages of one channel in the order it ran the commands, so this stays in order with
        # the appends before and after it (each append publishes from its Lua script).
        _, _, channel = self._room_keys(session_id, room)
        await self._client.publish(channel, event.model_copy(update={"seq": 0}).model_dump_json())

    @_unavailable
    async def read(
        self, session_id: str, room: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        stream, _, _ = self._room_keys(session_id, room)
        if limit is not None and limit <= 0:
            return []
        # XRANGE bounds are inclusive, so "after" becomes "from the next id".
        entries = await self._client.xrange(stream, min=f"0-{max(after_seq, 0) + 1}", max="+", count=limit)
        return stream_events(entries)

    @_unavailable
    async def last_seq(self, session_id: str, room: str) -> int:
        _, counter, _ = self._room_keys(session_id, room)
        value = await self._client.get(counter)
        return 0 if value is None else int(value)

    @_unavailable
    async def delete_room(self, session_id: str, room: str) -> None:
        stream, _, _ = self._room_keys(session_id, room)
        # The counter stays (until the session is deleted): a client that reconnects with its
        # last seq must never see seq go backwards, or it would skip new events as already seen.
        await self._client.delete(stream)

    @_unavailable
    async def subscribe(self, session_id: str, room: str) -> RedisSubscription:
        """Live events of ``room`` (see :class:`RedisSubscription`); returns once Redis has
        confirmed the channel, so an event appended after this returns is never missed."""
        stream, counter, channel = self._room_keys(session_id, room)
        sub = RedisSubscription(self._feed, session_id, room, channel, stream, self.subscriber_queue_size)
        self._feed.timeout = self.subscribe_timeout  # a public attribute: follow later changes
        try:
            await self._feed.attach(sub)
            # Checked only now that we listen: a delete from here on reaches us as "" on the channel.
            keys = [self._session_key(session_id), counter, f"{self.prefix}rooms:{session_id}"]
            baseline = int(await self._subscribe(keys=keys, args=[room]))
            if baseline < 0:
                raise NotFound(f"no session {session_id!r}")
            await self._feed.begin(sub, baseline)
        except BaseException:
            await sub.close()
            raise
        return sub

    # --- lifecycle ----------------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout=self.subscribe_timeout))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._feed.close()  # ends live subscriptions with "closed"
        if self._owns_client:  # a client handed in belongs to the caller
            await self._client.aclose()
            await self._client.connection_pool.disconnect()

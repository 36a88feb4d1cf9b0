"""The review queue in Redis, shared by every gateway node.

Keys (``p`` is the prefix, ``accord:`` by default)::

    {p}review:seq            string  case counter (INCR); ids are ``case-{n:010d}``
    {p}review:case:{id}      string  ReviewCase JSON without its audit trail
    {p}review:audit:{id}     list    AuditEntry JSON, RPUSH only: the trail is append-only
    {p}review:queue          zset    cases not closed; score = -severity rank * 1e11 + created_at
    {p}review:all            zset    every case; score = its counter
    channel {p}review:live           pub/sub: each new or changed case's JSON (audit included)

Every change is optimistic: WATCH the case key, read case and trail, apply the rule, then one
MULTI writes the case, appends to the trail, re-indexes and publishes. A concurrent change to the
same case (another node's claim) aborts the EXEC and the rule runs again on the fresh state, so
two reviewers on two nodes can never both hold a claim.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, WatchError

from orchestrator.clock import Clock
from orchestrator.errors import Conflict, NotFound, StoreUnavailable
from orchestrator.redis_store import DEFAULT_URL, _text, _unavailable
from orchestrator.review import (
    DEFAULT_FEED_QUEUE,
    DEFAULT_LEASE_SECONDS,
    AuditEntry,
    CaseFeed,
    Change,
    ReviewCase,
    ReviewQueue,
    ReviewStatus,
    format_case_id,
)

log = logging.getLogger(__name__)

_SEVERITY_WEIGHT = 1e11  # above any UNIX time in seconds for millennia, so severity sorts first
_MAX_ATTEMPTS = 64  # optimistic retries before giving up on a hotly contested case


def queue_score(case: ReviewCase) -> float:
    """Sorted-set score: severity first (critical lowest), then age (oldest lowest)."""
    return -case.severity.rank * _SEVERITY_WEIGHT + case.created_at


def _parse(raw: str | bytes, trail: list[Any]) -> ReviewCase:
    case = ReviewCase.model_validate_json(raw)
    case.audit = [AuditEntry.model_validate_json(item) for item in trail]
    return case


class RedisReviewQueue(ReviewQueue):
    """Review cases in Redis; any number of processes may share one prefix.

    ``client_or_url``: a ``redis.asyncio.Redis`` (the caller keeps ownership) or a URL (this queue
    opens and closes its own client).
    """

    def __init__(
        self,
        client_or_url: aioredis.Redis | str = DEFAULT_URL,
        clock: Clock | None = None,
        prefix: str = "accord:",
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        *,
        feed_queue_size: int = DEFAULT_FEED_QUEUE,
        subscribe_timeout: float = 5.0,
    ) -> None:
        super().__init__(clock, lease_seconds)
        self._owns_client = isinstance(client_or_url, str)
        self._client: aioredis.Redis = (
            aioredis.Redis.from_url(client_or_url, decode_responses=True)
            if isinstance(client_or_url, str)
            else client_or_url
        )
        self.prefix = prefix
        self.feed_queue_size = feed_queue_size
        self.subscribe_timeout = subscribe_timeout
        self._feeds: set[_RedisFeed] = set()
        base = f"{prefix}review:"
        self._seq_key = base + "seq"
        self._queue_key = base + "queue"
        self._all_key = base + "all"
        self.channel = base + "live"

    def _case_key(self, case_id: str) -> str:
        return f"{self.prefix}review:case:{case_id}"

    def _audit_key(self, case_id: str) -> str:
        return f"{self.prefix}review:audit:{case_id}"

    # --- storage -------------------------------------------------------------------------------
    @_unavailable
    async def _new_id(self) -> str:
        return format_case_id(int(await self._client.incr(self._seq_key)))

    @_unavailable
    async def _insert(self, case: ReviewCase, entry: AuditEntry) -> None:
        counter = int(case.id.rsplit("-", 1)[-1])
        announced = case.model_copy(update={"audit": [entry]})
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._case_key(case.id), case.stored_json())
            pipe.rpush(self._audit_key(case.id), entry.model_dump_json())
            pipe.zadd(self._queue_key, {case.id: queue_score(case)})
            pipe.zadd(self._all_key, {case.id: counter})
            pipe.publish(self.channel, announced.model_dump_json())
            await pipe.execute()

    @_unavailable
    async def _load(self, case_id: str) -> ReviewCase:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(self._case_key(case_id))
            pipe.lrange(self._audit_key(case_id), 0, -1)
            raw, trail = await pipe.execute()
        if raw is None:
            raise NotFound(f"no review case {case_id!r}")
        return _parse(raw, trail)

    async def _load_many(self, ids: list[Any]) -> list[ReviewCase]:
        async with self._client.pipeline(transaction=True) as pipe:
            for case_id in ids:
                pipe.get(self._case_key(_text(case_id)))
                pipe.lrange(self._audit_key(_text(case_id)), 0, -1)
            replies = await pipe.execute()
        pairs = zip(replies[0::2], replies[1::2], strict=True)
        return [_parse(raw, trail) for raw, trail in pairs if raw is not None]

    @_unavailable
    async def _update(self, case_id: str, change: Change) -> tuple[ReviewCase, list[AuditEntry]]:
        case_key, audit_key = self._case_key(case_id), self._audit_key(case_id)
        for _ in range(_MAX_ATTEMPTS):
            async with self._client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(case_key)  # every change writes this key, the trail included
                    raw = await pipe.get(case_key)
                    if raw is None:
                        raise NotFound(f"no review case {case_id!r}")
                    case = _parse(raw, await pipe.lrange(audit_key, 0, -1))
                    added = change(case, self.clock.now())
                    if not added:
                        return case, []
                    case.audit = [*case.audit, *added]
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(case_key, case.stored_json())
                    pipe.rpush(audit_key, *(entry.model_dump_json() for entry in added))
                    if case.status is ReviewStatus.CLOSED:
                        pipe.zrem(self._queue_key, case_id)
                    else:
                        pipe.zadd(self._queue_key, {case_id: queue_score(case)})
                    pipe.publish(self.channel, case.model_dump_json())
                    await pipe.execute()
                    return case, added
                except WatchError:
                    continue  # someone changed the case meanwhile: apply the rule to the new state
        raise Conflict("this case is changing too fast; try again", code="busy")

    @_unavailable
    async def _candidates(self, batch: int, offset: int) -> list[ReviewCase]:
        ids = await self._client.zrange(self._queue_key, offset, offset + batch - 1)
        return await self._load_many(list(ids)) if ids else []

    @_unavailable
    async def all_cases(self, session_id: str | None = None) -> list[ReviewCase]:
        ids = await self._client.zrange(self._all_key, 0, -1)
        cases = await self._load_many(list(ids)) if ids else []
        return [c for c in cases if session_id is None or c.session_id == session_id]

    # --- live feed -----------------------------------------------------------------------------
    @_unavailable
    async def subscribe(self) -> CaseFeed:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            await self._confirmed(pubsub)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        feed = _RedisFeed(self, pubsub)
        self._feeds.add(feed)
        feed.start()
        return feed

    async def _confirmed(self, pubsub: PubSub) -> None:
        """Wait for the subscribe reply: from then on every PUBLISH reaches us."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.subscribe_timeout
        while (left := deadline - loop.time()) > 0:
            message = await pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                return
        raise StoreUnavailable("Redis did not confirm a subscription in time")

    # --- lifecycle -----------------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout=self.subscribe_timeout))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        for feed in list(self._feeds):
            await feed.close()
        if self._owns_client:
            await self._client.aclose()


class _RedisFeed(CaseFeed):
    """Cases from the pub/sub channel. Pub/sub drops messages while disconnected, so the feed ends
    (``disconnected``) on any failure; the reader re-subscribes and reads ``queue()`` again."""

    def __init__(self, owner: RedisReviewQueue, pubsub: PubSub) -> None:
        super().__init__(owner.feed_queue_size)
        self._owner = owner
        self._pubsub = pubsub
        self._task: asyncio.Task[None] | None = None
        self._released = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name="accord-review-feed")

    async def _pump(self) -> None:
        try:
            while not self.ended:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is None or message["type"] != "message":
                    continue
                self.push(ReviewCase.model_validate_json(message["data"]))
        except asyncio.CancelledError:
            raise  # close() releases
        except Exception as exc:  # noqa: BLE001 - any failure ends the feed
            # The type only: a validation error would quote the case, flagged text included.
            log.warning("review feed ended: %s", type(exc).__name__)
            self.finish("disconnected")
        await self._release()

    async def close(self) -> None:
        self.finish("closed", discard=True)
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])
        await self._release()

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        self._owner._feeds.discard(self)
        try:
            if self._pubsub.connection is not None and self._pubsub.connection.is_connected:
                await self._pubsub.unsubscribe()
        except (RedisError, OSError):
            pass  # the connection is being dropped anyway
        finally:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

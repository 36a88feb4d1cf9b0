"""The shared live feed of RedisStore (orchestrator/redis_feed.py), on a real Redis.

One pub/sub connection per store, however many rooms are open; channels are reference-counted;
a dropped connection is resubscribed and every room caught up from its stream; when Redis stays
away every subscription ends with ``disconnected``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orchestrator.errors import StoreUnavailable
from orchestrator.events import CoachPartialEvent
from orchestrator.memory_store import QueueSubscription
from orchestrator.redis_feed import RedisSubscription
from orchestrator.redis_store import RedisStore, client_name
from tests.orchestrator.conftest import redis_test_prefix
from tests.orchestrator.test_store_contract import make_state, said, take

pytestmark = pytest.mark.redis


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    async with redis_test_prefix(redis_url) as value:
        yield value


@pytest.fixture
async def feed_store(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_url, prefix)
    yield store
    await store.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def named_clients(raw: aioredis.Redis, store: RedisStore) -> list[dict[str, Any]]:
    """The server's view of this store's connections (they carry its client name)."""
    return [c for c in await raw.client_list() if c.get("name") == client_name(store.prefix)]


async def numsub(raw: aioredis.Redis, channels: list[str]) -> list[int]:
    """Server-side subscriber count of each channel."""
    counts: dict[str, int] = {}
    for start in range(0, len(channels), 100):
        counts.update(dict(await raw.pubsub_numsub(*channels[start : start + 100])))
    return [counts[channel] for channel in channels]


def channel(store: RedisStore, session_id: str, room: str) -> str:
    return store._room_keys(session_id, room)[2]


async def test_300_subscriptions_share_one_connection(feed_store: RedisStore, raw: aioredis.Redis) -> None:
    for sid in ("s1", "s2"):
        await feed_store.create(make_state(sid))
    rooms = [(f"s{1 + i % 2}", f"r{i}") for i in range(200)]  # 200 rooms over two sessions
    subs = []
    for i in range(300):  # rooms 0..99 get two local subscriptions, the others one
        sid, room = rooms[i % 200]
        subs.append((sid, room, await feed_store.subscribe(sid, room)))
    channels = [channel(feed_store, sid, room) for sid, room in rooms]

    clients = await named_clients(raw, feed_store)
    pubsub = [c for c in clients if int(c["sub"]) > 0]
    assert len(clients) <= 3, clients  # one pub/sub connection + the pool's command connection(s)
    assert len(pubsub) == 1 and int(pubsub[0]["sub"]) == 200  # one Redis subscription per room
    assert await numsub(raw, channels) == [1] * 200

    for n in (1, 2):
        for sid, room in rooms[: 50 if n == 2 else 200]:
            await feed_store.append(sid, room, said(n))
    for sid, room in rooms:  # a last event per room: nothing may come between (no repeats)
        await feed_store.append(sid, room, said(9))
    for sid, room, sub in subs:
        log = await feed_store.read(sid, room)
        assert await take(sub, len(log)) == log
        assert not sub.ended  # type: ignore[attr-defined]

    for _, _, sub in subs:
        await sub.close()
    assert await numsub(raw, channels) == [0] * 200
    clients = await named_clients(raw, feed_store)
    assert len(clients) <= 3 and all(int(c["sub"]) == 0 for c in clients)


async def test_channel_is_left_when_its_last_local_subscription_closes(
    feed_store: RedisStore, raw: aioredis.Redis
) -> None:
    await feed_store.create(make_state())
    first = await feed_store.subscribe("s1", "p1")
    second = await feed_store.subscribe("s1", "p1")
    live = [channel(feed_store, "s1", "p1")]
    await first.close()
    assert await numsub(raw, live) == [1]
    await feed_store.append("s1", "p1", said(1))
    assert [e.seq for e in await take(second, 1)] == [1]
    await second.close()
    assert await numsub(raw, live) == [0]
    again = await feed_store.subscribe("s1", "p1")  # and subscribing again works
    await feed_store.append("s1", "p1", said(2))
    assert [e.seq for e in await take(again, 1)] == [2]
    await again.close()


async def test_concurrent_subscribes_to_a_new_room_all_confirm(
    feed_store: RedisStore, raw: aioredis.Redis
) -> None:
    await feed_store.create(make_state())
    subs = await asyncio.gather(*(feed_store.subscribe("s1", "p1") for _ in range(20)))
    await feed_store.append("s1", "p1", said(1))
    for sub in subs:
        assert [e.seq for e in await take(sub, 1)] == [1]
    assert await numsub(raw, [channel(feed_store, "s1", "p1")]) == [1]
    for sub in subs:
        await sub.close()


async def test_slow_subscriber_does_not_hold_up_the_shared_reader(
    feed_store: RedisStore, raw: aioredis.Redis
) -> None:
    await feed_store.create(make_state())
    feed_store.subscriber_queue_size = 3
    slow = await feed_store.subscribe("s1", "p1")
    feed_store.subscriber_queue_size = 1000
    fast = await feed_store.subscribe("s1", "p1")
    elsewhere = await feed_store.subscribe("s1", "p2")
    for n in range(1, 11):
        await feed_store.append("s1", "p1", said(n))
    await feed_store.append("s1", "p2", said(1))
    assert [e.seq for e in await take(fast, 10)] == list(range(1, 11))
    assert [e.seq for e in await take(elsewhere, 1)] == [1]
    assert isinstance(slow, QueueSubscription)
    assert await asyncio.wait_for(slow.wait_ended(), timeout=5) == "overflow"
    assert [e.seq for e in await take(slow, 3)] == [1, 2, 3]
    for sub in (slow, fast, elsewhere):
        await sub.close()
    assert await numsub(raw, [channel(feed_store, "s1", room) for room in ("p1", "p2")]) == [0, 0]


async def test_a_transient_event_before_a_subscription_is_live_is_skipped_not_a_gap(
    feed_store: RedisStore,
) -> None:
    await feed_store.create(make_state())
    stream, _, live_channel = feed_store._room_keys("s1", "p1")
    early = RedisSubscription(feed_store._feed, "s1", "p1", live_channel, stream, 10)
    await feed_store._feed.attach(early)  # listening, but not live yet: the reader only records
    witness = await feed_store.subscribe("s1", "p1")
    await feed_store.signal("s1", "p1", CoachPartialEvent(text="Hello. ", reply_to="m1"))
    await feed_store.append("s1", "p1", said(1))
    assert [e.seq for e in await take(witness, 2)] == [0, 1]  # the reader has handled both
    assert early._early == [said(1).model_copy(update={"seq": 1})]  # the transient was not kept
    await feed_store._feed.begin(early, 0)
    await feed_store.append("s1", "p1", said(2))
    assert [(e.type, e.seq) for e in await take(early, 2)] == [("said", 1), ("said", 2)]
    for sub in (early, witness):
        await sub.close()


async def test_delete_ends_every_local_subscription_and_leaves_the_channels(
    feed_store: RedisStore, raw: aioredis.Redis
) -> None:
    await feed_store.create(make_state())
    await feed_store.create(make_state("keep"))
    subs = [await feed_store.subscribe("s1", room) for room in ("p1", "p1", "p2")]
    kept = await feed_store.subscribe("keep", "p1")
    await feed_store.delete("s1")
    for sub in subs:
        assert isinstance(sub, QueueSubscription)
        assert await asyncio.wait_for(sub.wait_ended(), timeout=5) == "deleted"
        await sub.close()
    assert await numsub(raw, [channel(feed_store, "s1", room) for room in ("p1", "p2")]) == [0, 0]
    await feed_store.append("keep", "p1", said(1))  # the other session's feed is untouched
    assert [e.seq for e in await take(kept, 1)] == [1]
    await kept.close()


async def test_dropped_shared_connection_resubscribes_and_catches_up_every_room(
    feed_store: RedisStore, raw: aioredis.Redis
) -> None:
    await feed_store.create(make_state())
    rooms = [f"r{i}" for i in range(30)]
    subs = [(room, await feed_store.subscribe("s1", room)) for room in rooms + rooms[:5]]
    for room in rooms:
        await feed_store.append("s1", room, said(1))
    for _, sub in subs:
        assert [e.seq for e in await take(sub, 1)] == [1]
    (before,) = [c for c in await named_clients(raw, feed_store) if int(c["sub"]) > 0]
    assert await raw.client_kill_filter(_id=before["id"]) == 1
    for n in (2, 3):  # published while the feed reconnects: pub/sub loses some, the log has all
        for room in rooms:
            await feed_store.append("s1", room, said(n))
    for _, sub in subs:
        assert [e.seq for e in await take(sub, 2)] == [2, 3]
        assert not sub.ended  # type: ignore[attr-defined]
    (after,) = [c for c in await named_clients(raw, feed_store) if int(c["sub"]) > 0]
    assert after["id"] != before["id"] and int(after["sub"]) == 30
    for room in rooms:  # still live, and nothing repeated
        await feed_store.append("s1", room, said(4))
    for _, sub in subs:
        assert [e.seq for e in await take(sub, 1)] == [4]
        await sub.close()


class _Proxy:
    """A TCP proxy to Redis that a test can take down, as if Redis became unreachable."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        with suppress(asyncio.CancelledError):  # stop() closed the server under us
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_unreachable_redis_ends_every_subscription_with_disconnected(
    redis_url: str, prefix: str
) -> None:
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = _Proxy(host, int(port))
    await proxy.start()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    # One retry: the pool's command connection also died with the proxy (redis-py retries none by default).
    client = aioredis.Redis.from_url(url, decode_responses=True, retry=Retry(NoBackoff(), 1))
    store = RedisStore(url, prefix, client=client, subscribe_timeout=0.3)
    try:
        await store.create(make_state())
        subs = [await store.subscribe("s1", room) for room in ("p1", "p1", "p2")]
        await proxy.stop()  # every connection drops and reconnecting fails
        for sub in subs:
            assert isinstance(sub, QueueSubscription)
            assert await asyncio.wait_for(sub.wait_ended(), timeout=5) == "disconnected"
        with pytest.raises(StoreUnavailable):
            await store.subscribe("s1", "p1")
        await proxy.start()  # Redis is back: a new subscription starts a new feed
        sub = await store.subscribe("s1", "p1")
        await store.append("s1", "p1", said(1))
        assert [e.seq for e in await take(sub, 1)] == [1]
        for old in subs:
            await old.close()
        await sub.close()
    finally:
        await store.close()
        await client.aclose()
        await proxy.stop()


@pytest.mark.parametrize("decode", [True, False], ids=["text", "bytes"])
@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
async def test_feed_works_with_any_client_flavour(
    redis_url: str, prefix: str, decode: bool, protocol: int
) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=decode, protocol=protocol)
    store = RedisStore(redis_url, prefix, client=client)
    try:
        await store.create(make_state())
        sub = await store.subscribe("s1", "p1")
        for n in (1, 2):
            await store.append("s1", "p1", said(n))
        assert await take(sub, 2) == await store.read("s1", "p1")
        await store.delete("s1")
        assert isinstance(sub, QueueSubscription)
        assert await asyncio.wait_for(sub.wait_ended(), timeout=5) == "deleted"
        await sub.close()
    finally:
        await store.close()
        await client.aclose()


async def test_close_ends_subscriptions_and_drops_the_connection(feed_store: RedisStore) -> None:
    await feed_store.create(make_state())
    sub = await feed_store.subscribe("s1", "p1")
    assert isinstance(sub, QueueSubscription)
    connection = feed_store._feed.connection
    assert connection is not None and connection.is_connected
    await feed_store.close()
    assert sub.end_reason == "closed"
    assert not connection.is_connected and feed_store._feed.connection is None

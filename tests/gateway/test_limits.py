"""Per-party rate limits: the process's own buckets, and the Redis buckets every node shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.limits import PartyLimiter, RedisPartyLimiter
from orchestrator.redis_store import RedisStore
from tests.gateway.helpers import free_port, make_settings, running_gateway


async def test_a_local_bucket_allows_a_burst_refuses_then_refills() -> None:
    now = [100.0]
    limiter = PartyLimiter(rate=2.0, burst=3, now=lambda: now[0])
    assert [await limiter.allow("s1", "alex") for _ in range(4)] == [True, True, True, False]
    assert await limiter.allow("s1", "sam")  # another party has its own bucket
    assert await limiter.allow("s2", "alex")  # and so does the same id in another session
    now[0] += 0.5  # one token back at 2 per second
    assert [await limiter.allow("s1", "alex") for _ in range(2)] == [True, False]


async def test_forgetting_idle_buckets_keeps_the_newest() -> None:
    limiter = PartyLimiter(rate=0.001, burst=1, max_parties=2, now=lambda: 0.0)
    for party in ("a", "b", "c"):
        assert await limiter.allow("s", party)
    assert not await limiter.allow("s", "c")  # still remembered: empty
    assert await limiter.allow("s", "a")  # forgotten (oldest): a fresh, full bucket


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_every_node_takes_from_one_redis_bucket(redis_url: str, redis_prefix: str) -> None:
    # Two nodes: two clients, two limiters, each with its own (unused) local fallback.
    node_a = aioredis.Redis.from_url(redis_url, decode_responses=True)
    node_b = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        a = RedisPartyLimiter(node_a, redis_prefix, 0.001, 3, fallback=PartyLimiter(0.001, 3))
        b = RedisPartyLimiter(node_b, redis_prefix, 0.001, 3, fallback=PartyLimiter(0.001, 3))
        taken = [await a.allow("s1", "alex"), await b.allow("s1", "alex"), await a.allow("s1", "alex")]
        assert taken == [True, True, True]
        assert not await b.allow("s1", "alex") and not await a.allow("s1", "alex")
        assert await b.allow("s1", "sam")  # another party's bucket is untouched
        ttl = await node_a.pttl(a.key("s1", "alex"))
        assert 0 < ttl <= 3 / 0.001 * 1000 + 1000  # idle buckets go away once they would be full
    finally:
        await node_a.aclose()
        await node_b.aclose()


@pytest.mark.redis
async def test_a_redis_bucket_refills_with_time(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    limiter = RedisPartyLimiter(redis_client, redis_prefix, 2.0, 2, fallback=PartyLimiter(2.0, 2))
    assert [await limiter.allow("s1", "alex") for _ in range(3)] == [True, True, False]
    key = limiter.key("s1", "alex")
    at = float(await redis_client.hget(key, "at") or 0)
    await redis_client.hset(key, "at", str(at - 0.5))  # as if half a second had passed: one token
    assert [await limiter.allow("s1", "alex") for _ in range(2)] == [True, False]


async def test_without_redis_the_nodes_own_bucket_still_limits() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    try:
        limiter = RedisPartyLimiter(dead, "accord:", 0.001, 2, fallback=PartyLimiter(0.001, 2))
        assert [await limiter.allow("s1", "alex") for _ in range(3)] == [True, True, False]
    finally:
        await dead.aclose()


@pytest.mark.redis
async def test_a_gateway_on_redis_limits_through_redis(redis_url: str, redis_prefix: str) -> None:
    store = RedisStore(redis_url, redis_prefix)
    settings = make_settings(messages_per_second=0.001, messages_burst=2)
    try:
        async with running_gateway(settings, store=store) as gw:
            assert isinstance(gw.app.state.limiter, RedisPartyLimiter)
            alex = await gw.create()
            room = await gw.connect(alex)
            for _ in range(3):
                await room.send({"type": "ping"})
            answers = [await room.expect(lambda f: f["type"] in ("pong", "error")) for _ in range(3)]
            assert [a.get("code") for a in answers] == [None, None, "rate_limited"]
            key = gw.app.state.limiter.key(alex["session_id"], alex["party_id"])
            assert await store.client.exists(key)
    finally:
        await store.close()

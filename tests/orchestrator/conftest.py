"""Store fixtures for orchestrator tests.

``store`` runs a test twice: on ``MemoryStore`` and on ``RedisStore`` (marked ``redis``). The Redis
one gets a fresh key prefix per test and deletes exactly its own keys afterwards (SCAN + DEL on the
prefix; never FLUSHDB: the Redis is shared). If Redis is unreachable the Redis variant fails with a
clear message instead of skipping, because CI guarantees Redis.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from orchestrator.memory_store import MemoryStore
from orchestrator.redis_store import RedisStore
from orchestrator.store import SessionStore

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    """The Redis tests use: ``ACCORD_TEST_REDIS_URL`` or the local default."""
    return os.environ.get("ACCORD_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


@asynccontextmanager
async def redis_test_prefix(redis_url: str) -> AsyncIterator[str]:
    """A unique key prefix on a reachable Redis; its keys are deleted on exit."""
    prefix = f"test:{uuid4().hex}:"
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.fail(
            f"Redis is not reachable at {redis_url} ({exc}). Tests marked 'redis' need it "
            "(CI provides one): start redis-server or point ACCORD_TEST_REDIS_URL at one.",
            pytrace=False,
        )
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[SessionStore]:
    """A fresh, empty store of each kind (``RedisStore`` on a private prefix)."""
    if request.param == "memory":
        memory = MemoryStore()
        yield memory
        await memory.close()
        return
    async with redis_test_prefix(redis_url) as prefix:
        redis_store = RedisStore(redis_url, prefix)
        yield redis_store
        await redis_store.close()


@pytest.fixture
async def other_store(store: SessionStore) -> AsyncIterator[SessionStore]:
    """A second handle on the same data, as another gateway process would have it.

    For Redis: a separate ``RedisStore`` with its own client on the same prefix. For memory the
    same object, since the memory store is single-process by definition.
    """
    if not isinstance(store, RedisStore):
        yield store
        return
    second = RedisStore(store.url, store.prefix)
    yield second
    await second.close()

"""open_store: memory without a URL, a checked RedisStore with one."""

from __future__ import annotations

from uuid import uuid4

import pytest

from orchestrator.errors import StoreUnavailable
from orchestrator.memory_store import MemoryStore
from orchestrator.redis_store import RedisStore
from orchestrator.store_factory import open_store


@pytest.mark.parametrize("url", [None, ""])
async def test_no_url_gives_the_memory_store(url: str | None) -> None:
    store = await open_store(url)
    assert isinstance(store, MemoryStore)
    await store.close()


@pytest.mark.redis
async def test_url_gives_a_reachable_redis_store(redis_url: str) -> None:
    prefix = f"test:{uuid4().hex}:"
    store = await open_store(redis_url, prefix=prefix)  # writes nothing, so nothing to clean
    try:
        assert isinstance(store, RedisStore) and store.prefix == prefix
        assert await store.ping() is True
    finally:
        await store.close()


async def test_unreachable_redis_fails_at_start_up() -> None:
    with pytest.raises(StoreUnavailable, match="cannot reach Redis at redis://127.0.0.1:1/0"):
        await open_store("redis://127.0.0.1:1/0")

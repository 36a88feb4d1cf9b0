"""Gateway test fixtures (helpers live in ``tests/gateway/helpers.py``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
import redis.asyncio as aioredis

if TYPE_CHECKING:
    from tests.gateway.helpers import Gateway


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """A gateway on a free loopback port: memory store, scripted roles, manual clock."""
    from tests.gateway.helpers import running_gateway  # the app imports the whole core: only when used

    async with running_gateway() as gw:
        yield gw


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("ACCORD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A unique key prefix; its keys are deleted afterwards (never FLUSHDB: the Redis is shared)."""
    prefix = f"test:{uuid4().hex}:"
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.ping()
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        await client.aclose()

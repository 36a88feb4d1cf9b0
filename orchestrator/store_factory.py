"""Pick the store from configuration: Redis when a URL is given, else the embedded memory store."""

from __future__ import annotations

from orchestrator.memory_store import MemoryStore
from orchestrator.redis_store import RedisStore
from orchestrator.store import SessionStore


async def open_store(redis_url: str | None, prefix: str = "accord:") -> SessionStore:
    """A ready store: ``RedisStore`` (checked reachable, else ``StoreUnavailable``) for a URL,
    ``MemoryStore`` for None or an empty string (single process; nothing survives a restart)."""
    if not redis_url:
        return MemoryStore()
    return await RedisStore.connect(redis_url, prefix)

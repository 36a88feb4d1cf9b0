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
    # The session lock is held across the message path, model calls included (each bounded by its
    # role timeout), so the lock outlives the slowest path: screen + coach, or re-screen + mediator.
    return await RedisStore.connect(
        redis_url, prefix, lock_timeout=LOCK_TIMEOUT_SECONDS, lock_wait=LOCK_TIMEOUT_SECONDS
    )


LOCK_TIMEOUT_SECONDS = 120.0

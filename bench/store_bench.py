"""Micro-benchmark of the session stores: latency of the operations a chat turn performs.

Not a test. Run: ``python bench/store_bench.py [--redis-url URL] [-n 2000]``. Prints p50/p99 in
milliseconds per operation for MemoryStore and RedisStore (Redis keys live under a throwaway
prefix that is deleted afterwards).

- append:        one event appended to a room (Redis: one Lua call: INCR + XADD + PUBLISH)
- read-20:       a reconnecting client's resume: the last 20 events after a given seq
- live:          append -> the event arrives at a subscriber of the room (fan-out latency)
- locked-update: lock + load + save + unlock of a session with a little history
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402

from orchestrator.events import SaidEvent  # noqa: E402
from orchestrator.memory_store import MemoryStore  # noqa: E402
from orchestrator.models import Mode, Party, PrivateTurn, SessionState  # noqa: E402
from orchestrator.redis_store import RedisStore  # noqa: E402
from orchestrator.store import SessionStore  # noqa: E402


def _state(session_id: str) -> SessionState:
    history = [PrivateTurn(speaker="party", text="x" * 200, at=1.0, message_id=f"m{i}") for i in range(20)]
    party = Party(id="p1", name="Alex", joined_at=1.0, history=history)
    return SessionState(
        id=session_id, mode=Mode.COUPLE, created_at=1.0, updated_at=1.0, initiator="p1", parties={"p1": party}
    )


def _event(n: int) -> SaidEvent:
    return SaidEvent(text="I felt unheard when the plans changed. " * 3, message_id=f"m{n}", at=1.0 + n)


async def _timed(n: int, op: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await op(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _report(store_name: str, op_name: str, samples: list[float]) -> None:
    cuts = statistics.quantiles(samples, n=100)
    print(
        f"{store_name:<6} {op_name:<14} p50 {cuts[49]:7.3f} ms   p99 {cuts[98]:7.3f} ms   (n={len(samples)})"
    )


async def bench(name: str, store: SessionStore, n: int) -> None:
    sid = f"bench-{uuid4().hex[:8]}"
    await store.create(_state(sid))
    for i in range(50):  # warm up connections and scripts
        await store.append(sid, "warm", _event(i))

    _report(name, "append", await _timed(n, lambda i: store.append(sid, "p1", _event(i))))
    last = await store.last_seq(sid, "p1")
    _report(
        name,
        "read-20",
        await _timed(n, lambda i: store.read(sid, "p1", after_seq=(i % (last - 20)), limit=20)),
    )

    sub = await store.subscribe(sid, "p2")
    it = aiter(sub)

    async def live(i: int) -> None:
        await store.append(sid, "p2", _event(i))
        await anext(it)

    _report(name, "live", await _timed(n, live))
    await sub.close()

    async def locked_update(i: int) -> None:
        async with store.lock(sid):
            state = await store.load(sid)
            state.counter += 1
            await store.save(state)

    _report(name, "locked-update", await _timed(n, locked_update))
    await store.delete(sid)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()

    memory = MemoryStore()
    await bench("memory", memory, args.n)
    await memory.close()

    prefix = f"bench:{uuid4().hex}:"
    redis_store = await RedisStore.connect(args.redis_url, prefix)
    try:
        await bench("redis", redis_store, args.n)
    finally:
        await redis_store.close()
        client = aioredis.Redis.from_url(args.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]  # never FLUSHDB: shared Redis
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())

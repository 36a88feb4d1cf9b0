"""Per-party rate limiting: a token bucket per (session, party) on real time.

Rate limits protect the server's real resources, so they run on real time even when the session
clock is a :class:`~orchestrator.clock.ManualClock`. On the embedded store the buckets live in the
process (:class:`PartyLimiter`); with Redis they live in Redis (:class:`RedisPartyLimiter`), so a
party with sockets on several gateway nodes still has one bucket, not one per node.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.logging import get_logger

log = get_logger(__name__)


class RateLimiter(Protocol):
    """What a room socket asks before handling a client frame."""

    async def allow(self, session_id: str, party_id: str) -> bool: ...


class TokenBucket:
    """``rate`` tokens per second refill a bucket of ``burst``; each frame takes one."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._now = rate, burst, now
        self._tokens = float(burst)
        self._at = now()

    def take(self) -> bool:
        """Take a token if there is one."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class PartyLimiter:
    """One bucket per (session, party), shared by that party's sockets in this process.

    Idle buckets are full again after ``burst / rate`` seconds, so forgetting the least recently used
    ones (beyond ``max_parties``) changes nothing for a well-behaved client.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_parties: int = 100_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self._now, self._max = rate, burst, now, max_parties
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    async def allow(self, session_id: str, party_id: str) -> bool:
        """Take one token from this party's bucket; False when it is empty."""
        return self.take(session_id, party_id)

    def take(self, session_id: str, party_id: str) -> bool:
        """:meth:`allow` without the ``await``."""
        key = (session_id, party_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()


# KEYS[1]: the party's bucket (hash: tokens, at). ARGV: rate, burst. Redis's own clock, so every
# node agrees; the key expires once the bucket would be full again anyway.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(v[1]) or burst, tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return ok
"""


class RedisPartyLimiter:
    """One bucket per (session, party) in Redis, shared by every gateway node.

    If Redis cannot answer, the node's own ``fallback`` bucket decides (the frame would most likely
    fail on the store anyway, with ``store_unavailable``); limits never stop because Redis did.
    """

    def __init__(
        self, client: aioredis.Redis, prefix: str, rate: float, burst: int, *, fallback: PartyLimiter
    ) -> None:
        self.prefix, self.rate, self.burst, self.fallback = prefix, rate, burst, fallback
        self._take = client.register_script(_TAKE)

    def key(self, session_id: str, party_id: str) -> str:
        """The Redis key of a party's bucket."""
        return f"{self.prefix}rate:{session_id}:{party_id}"

    async def allow(self, session_id: str, party_id: str) -> bool:
        """Take one token from the party's shared bucket; False when it is empty."""
        try:
            taken = await self._take(keys=[self.key(session_id, party_id)], args=[self.rate, self.burst])
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_local", reason=type(exc).__name__)
            return self.fallback.take(session_id, party_id)
        return int(taken) == 1

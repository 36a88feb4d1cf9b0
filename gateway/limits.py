"""Per-party rate limiting: a token bucket on the monotonic wall clock.

Rate limits protect the server's real resources, so they run on real time even when the session
clock is a :class:`~orchestrator.clock.ManualClock`. Buckets are per process: with several gateway
nodes a party connected to two nodes at once gets one bucket on each.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


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

    def allow(self, session_id: str, party_id: str) -> bool:
        key = (session_id, party_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

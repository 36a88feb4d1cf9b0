"""Time for everything that waits: timeouts, claim leases, token expiry, flood windows.

Every timeout in Accord reads a :class:`Clock`, so tests and ``accord simulate`` move time with a
:class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod


class Clock(ABC):
    """Source of the current time as UNIX seconds."""

    @abstractmethod
    def now(self) -> float:
        """Current time in seconds since the epoch."""


class RealClock(Clock):
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when told to. Starts at a fixed, readable instant by default."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not move backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a clock does not move backwards")
        self._now = when

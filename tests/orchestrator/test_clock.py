from __future__ import annotations

import time

import pytest

from orchestrator.clock import ManualClock, RealClock


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=100.0)
    assert clock.now() == 100.0
    assert clock.advance(20 * 60) == 1300.0
    assert clock.now() == 1300.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(10.0)


def test_real_clock_is_the_wall_clock() -> None:
    assert abs(RealClock().now() - time.time()) < 5

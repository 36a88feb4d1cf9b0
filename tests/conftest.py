"""Fixtures for the whole test suite. Keep edits here small and additive (several people share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """No test may reach a network model: any connection or name lookup that would leave this
    machine raises, and the test fails even if the code under test swallowed the error (a model
    role falls back quietly by design). Loopback (local Redis, in-process servers) still works."""
    from agents.testing import NetworkGuard

    guard = NetworkGuard.from_env()
    guard.install(monkeypatch)
    yield guard
    failure = guard.failure()
    if failure:
        pytest.fail(failure, pytrace=False)

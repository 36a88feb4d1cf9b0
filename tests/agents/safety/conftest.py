"""Fixtures for the safety screener tests: the shipped screener (built once), and a copy of the
policy folder a test may break on purpose without touching the real one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.safety.rules import RulesLayer
from agents.safety.screener import LayeredScreener, build_builtin_screener
from policies.loader import POLICY_DIR, clear_cache
from policies.safety import clear_safety_cache

CORPUS = POLICY_DIR / "safety_corpus"


@pytest.fixture(scope="session")
def screener() -> LayeredScreener:
    """The shipped rules + classifier screener (the classifier loads once per run)."""
    built = build_builtin_screener()
    assert built.healthy, "the shipped classifier must load"
    return built


@pytest.fixture(scope="session")
def rules() -> RulesLayer:
    return RulesLayer.from_policy()


@pytest.fixture
def policy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the policy folder, made current through ACCORD_POLICY_DIR."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__", "safety_corpus"))
    monkeypatch.setenv("ACCORD_POLICY_DIR", str(folder))
    clear_safety_cache()
    clear_cache()
    yield folder
    monkeypatch.delenv("ACCORD_POLICY_DIR")
    clear_safety_cache()
    clear_cache()

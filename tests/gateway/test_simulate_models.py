"""The shipped examples, whole two-party sessions through the simulator over WebSocket, with
``ACCORD_MODEL`` pointing at each misbehaving model (``agents.fake_model``, real HTTP on loopback).

Every session must keep what the builtin session keeps: no private word of one party in the other's
room, no contempt in anything shown, the same drafts offered (the builtin one where the model gave
none usable), the same stages and agreements, never stuck, and no traceback in any log. Timeouts
are short (0.5 s) for the modes that never answer in time, so each mode takes seconds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_simulate import EXAMPLES, check_privacy, check_shape, quiet

from agents.factory import build_roles, close_roles
from agents.fake_model import BAD_MODES
from agents.guards import tone_problems
from agents.reply_guards import fragment_problems, reader_tone_problems
from agents.roles import Roles
from agents.testing import fake_model_server
from gateway.scenario import load_scenario
from gateway.simulate import simulate

SCENARIOS = ("pursue_withdraw.yaml", "solo_late_invite.yaml", "workplace_credit.yaml")
SLOW = {"stream-never-ends", "slow-first-token"}
ACCORD = str(Path(sys.executable).with_name("accord"))  # the console script of this environment
# words the fake models write: none of them may reach a room
MODEL_WORDS = ("pathetic", "zxqv", "Ich höre", "Danke", "could send to", "Thought number", "your reply to")


@functools.cache
def builtin_roles() -> Roles:
    return build_roles({})


_BUILTIN: dict[str, dict[str, Any]] = {}


async def builtin_skeletons() -> dict[str, dict[str, Any]]:
    """What the builtin sessions do (deterministic): computed once for the whole module."""
    if not _BUILTIN:
        _BUILTIN.update({name: skeleton(t) for name, t in (await run_examples(builtin_roles())).items()})
    return _BUILTIN


def model_env(value: str, mode: str) -> dict[str, str]:
    timeout = "0.5" if mode in SLOW else "5"
    return {
        "ACCORD_MODEL": value, "ACCORD_MODEL_TIMEOUT_COACH": timeout, "ACCORD_MODEL_TIMEOUT_MEDIATOR": timeout
    }


async def run_examples(roles: Roles) -> dict[str, dict[str, Any]]:
    """The three shipped examples at once (each on its own in-process gateway), by file name."""

    async def one(name: str) -> dict[str, Any]:
        return await simulate(load_scenario(EXAMPLES / name), source=name, console=quiet()[0], roles=roles)

    transcripts = await asyncio.gather(*(one(name) for name in SCENARIOS))
    return dict(zip(SCENARIOS, transcripts, strict=True))


def skeleton(transcript: dict[str, Any]) -> dict[str, Any]:
    """What a session did, without the words: events per room, draft and agreement states, stages."""

    def step(event: dict[str, Any]) -> tuple[Any, ...]:
        nested = event.get("draft") or event.get("agreement") or {}
        return (event["type"], nested.get("status"), event.get("stage"), event.get("state"))

    return {
        "final_stage": transcript["final_stage"],
        "agreements": [sorted(a["accepted_by"]) for a in transcript["agreements"]],
        "rooms": {name: [step(e) for e in room["events"]] for name, room in transcript["parties"].items()},
    }


def check_tone(transcript: dict[str, Any]) -> None:
    """Nothing shown carries contempt: the coach's words to its person (their own quotes aside),
    every draft offered and every shared message; and every coach reply is complete and readable."""
    for room in transcript["parties"].values():
        own = [e["text"] for e in room["events"] if e["type"] == "said"]
        for event in room["events"]:
            if event["type"] == "coach":
                assert reader_tone_problems(event["text"], own) == [], event["text"]
                assert fragment_problems(event["text"], own) == [], event["text"]
            elif event["type"] == "shared" or (
                event["type"] == "draft" and event["draft"]["status"] == "pending"
            ):
                assert tone_problems(event["text"]) == [], event["text"]
        blob = json.dumps(room, ensure_ascii=False)
        for words in MODEL_WORDS:
            assert words not in blob


async def test_the_builtin_sessions_pass_the_same_checks() -> None:
    """The control: the checks below hold for the builtin agents (so they can hold at all)."""
    for transcript in (await run_examples(builtin_roles())).values():
        check_privacy(transcript)
        check_tone(transcript)


@pytest.mark.parametrize("mode", BAD_MODES)
async def test_a_misbehaving_model_keeps_every_session_invariant(
    mode: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    expected = await builtin_skeletons()
    with fake_model_server(mode, delay=5.0, retry_after=0.1) as server:
        roles = build_roles(model_env(server.model_value, mode))
        try:
            transcripts = await run_examples(roles)
        finally:
            await close_roles(roles)
        assert server.requests, "the sessions really asked the model"
        assert server.active_streams == 0 or mode == "stream-never-ends"
    for name, transcript in transcripts.items():
        check_shape(load_scenario(EXAMPLES / name), transcript)
        check_privacy(transcript)
        check_tone(transcript)
        assert skeleton(transcript) == expected[name], f"{name} did not run as the builtin session does"
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert "Traceback" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_accord_simulate_exits_0_with_a_model_that_breaks_off_mid_stream(tmp_path: Path) -> None:
    """The command itself, as a user runs it: a separate process, its server log on stderr."""
    out = tmp_path / "transcript.json"
    with fake_model_server("huge") as server:
        env = {**os.environ, **model_env(server.model_value, "huge")}
        started = time.monotonic()
        done = subprocess.run(
            [ACCORD, "simulate", str(EXAMPLES / "pursue_withdraw.yaml"), "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=90, check=False,
        )
        elapsed = time.monotonic() - started
    log = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)  # the console renderer colours its output
    assert done.returncode == 0, log[-2000:]
    assert "model_fallback" in log and "reason=length" in log
    assert "Traceback" not in log and "Error" not in log
    transcript = json.loads(out.read_text())
    check_privacy(transcript)
    check_tone(transcript)
    assert elapsed < 60

"""The guarded roles against each misbehaving model, over real HTTP on loopback: the real
OpenAI-compatible client (autogen's, on the openai SDK) talks to ``agents.fake_model``. Every mode
ends in the builtin answer with a ``model_fallback`` naming the reason; a stream that is stopped is
closed (the server sees the connection go); nothing escapes and nothing is logged as a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
from llm_helpers import coach_request, compose_request
from structlog.testing import capture_logs
from test_guarded import builtin_composition, builtin_reply

from agents.factory import build_roles, close_roles
from agents.fake_model import BAD_MODES, CONTEMPT, GARBAGE
from agents.guarded import GuardContext, GuardedCoach, GuardedMediator
from agents.guards import tone_problems
from agents.interfaces import CoachReply
from agents.reply_guards import fragment_problems, reader_tone_problems
from agents.testing import FakeModelServer, fake_model_server

# why each mode's coach reply is replaced (the reason of its model_fallback)
COACH_REASON = {
    "echo-prompt": "echo",
    "contempt": "tone",
    "garbage": "fragment",
    "invalid-json": "unparsable",
    "http-500": "error",
    "http-429": "error",
    "stream-halfway": "unparsable",
    "stream-never-ends": "timeout",
    "slow-first-token": "timeout",
    "empty": "unparsable",
    "huge": "length",
    "other-language": "language",
}
SLOW = {"stream-never-ends", "slow-first-token"}


def server_for(mode: str) -> FakeModelServer:
    return FakeModelServer(mode, delay=5.0, retry_after=0.1)


@contextlib.asynccontextmanager
async def guarded(server: FakeModelServer, mode: str) -> AsyncIterator[tuple[GuardedCoach, GuardedMediator]]:
    """The roles Accord builds for ``ACCORD_MODEL`` pointing at ``server``; closed afterwards."""
    timeout = "0.5" if mode in SLOW else "5"
    roles = build_roles(
        {
            "ACCORD_MODEL": server.model_value,
            "ACCORD_MODEL_TIMEOUT_COACH": timeout,
            "ACCORD_MODEL_TIMEOUT_MEDIATOR": timeout,
        }
    )
    assert isinstance(roles.coach, GuardedCoach) and isinstance(roles.mediator, GuardedMediator)
    try:
        yield roles.coach, roles.mediator
    finally:
        await close_roles(roles)


async def streams_closed(server: FakeModelServer, within: float = 3.0) -> bool:
    """True once the server is sending no stream any more (the client closed what it stopped)."""
    deadline = time.monotonic() + within
    while server.active_streams and time.monotonic() < deadline:  # noqa: ASYNC110 - another thread's count
        await asyncio.sleep(0.02)
    return server.active_streams == 0


def test_every_mode_the_issue_names_is_played() -> None:
    assert set(COACH_REASON) == set(BAD_MODES)


@pytest.mark.parametrize("mode", BAD_MODES)
async def test_a_misbehaving_model_gives_the_builtin_coach_reply(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = coach_request()
    with server_for(mode) as server:
        async with guarded(server, mode) as (coach, _):
            with capture_logs() as logs:
                items = [i async for i in coach.respond_stream(request, context=GuardContext(party_id="p1"))]
        assert await streams_closed(server), "a stopped stream must be closed, not left running"
        assert server.requests, "the real client reached the server"
    final = items[-1]
    assert isinstance(final, CoachReply) and final == await builtin_reply(request)
    shown = "".join(i for i in items if isinstance(i, str))
    if shown:  # partials reach the person at once: they pass the reader guards too
        assert reader_tone_problems(shown, [request.text]) == []
        assert not [p for p in fragment_problems(shown, [request.text]) if p.startswith("language")]
    fallback = [e for e in logs if e["event"] == "model_fallback"]
    assert [e["reason"] for e in fallback] == [COACH_REASON[mode]]
    assert "pathetic" not in json.dumps(logs, default=str)  # the logs carry no model text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("mode", BAD_MODES)
async def test_a_misbehaving_model_gives_the_builtin_shared_message(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = compose_request()
    with server_for(mode) as server:
        async with guarded(server, mode) as (_, mediator):
            with capture_logs() as logs:
                result = await mediator.compose(request)
    assert result == await builtin_composition(request)
    assert [e["role"] for e in logs if e["event"] == "model_fallback"] == ["mediator"]
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_good_model_is_used_over_http() -> None:
    """The control: the same path with a well-behaved server shows the model's words."""
    request = coach_request()
    with fake_model_server("good") as server:
        async with guarded(server, "good") as (coach, mediator):
            with capture_logs() as logs:
                items = [i async for i in coach.respond_stream(request, context=GuardContext(party_id="p1"))]
                result = await mediator.compose(compose_request())
        assert len(server.requests) == 2 and server.requests[0]["stream"] is True
    final = items[-1]
    assert isinstance(final, CoachReply) and final != await builtin_reply(request)
    assert final.text.startswith("It makes sense") and final.draft is not None
    shown = "".join(i for i in items if isinstance(i, str))
    assert shown and final.text.startswith(shown.strip())  # it streamed, sentence by sentence
    assert "Thank you both" in result.text and result.agreements
    assert not [e for e in logs if e["event"] == "model_fallback"]


async def test_a_guard_that_trips_mid_stream_stops_the_download() -> None:
    """The huge answer is about 100 KB: the length guard stops it after the first kilobyte, and the
    client closes the stream instead of reading (or leaking) the rest."""
    request = coach_request()
    with fake_model_server("huge", chunk_pause=0.002) as server:
        async with guarded(server, "huge") as (coach, _):
            items = [i async for i in coach.respond_stream(request)]
            assert await streams_closed(server)
    assert items[-1] == await builtin_reply(request)


def test_the_modes_write_what_they_say() -> None:
    """The fake's words are what the guards must stop (so the tests above test something)."""
    assert tone_problems(CONTEMPT) and "fragment:unreadable" in fragment_problems(GARBAGE, ["I am sad."])

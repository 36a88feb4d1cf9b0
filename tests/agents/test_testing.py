"""The shipped test doubles: the scripted model client and the no-network guard."""

from __future__ import annotations

import asyncio
import socket

import pytest
from autogen_core.models import CreateResult, SystemMessage, UserMessage

from agents.testing import (
    Hang,
    NetworkBlocked,
    NetworkGuard,
    ScriptedModelClient,
    ScriptExhausted,
    Wait,
    scripted_json,
)

MESSAGES = [SystemMessage(content="be kind"), UserMessage(content="hello there", source="party")]


async def test_answers_in_order_and_records_every_call() -> None:
    client = ScriptedModelClient(["first", "second"])
    one = await client.create(MESSAGES, json_output=True, extra_create_args={"temperature": 0.1})
    two = await client.create([UserMessage(content="again", source="party")])
    assert (one.content, two.content) == ("first", "second")
    assert client.calls[0].system == "be kind"
    assert client.calls[0].user == "hello there"
    assert client.calls[0].json_output is True
    assert client.calls[0].extra_create_args == {"temperature": 0.1}
    assert client.calls[1].text == "again"
    assert client.remaining == 0


async def test_exhausted_script_is_an_assertion() -> None:
    client = ScriptedModelClient([])
    with pytest.raises(ScriptExhausted):
        await client.create(MESSAGES)


async def test_json_mode_refused_like_real_clients_when_unsupported() -> None:
    client = ScriptedModelClient(["x"], json_output=False)
    with pytest.raises(ValueError, match="JSON"):
        await client.create(MESSAGES, json_output=True)
    assert (await client.create(MESSAGES)).content == "x"


async def test_raise_hang_wait_and_callable_steps() -> None:
    release = asyncio.Event()
    client = ScriptedModelClient(
        [RuntimeError("boom"), Hang(), Wait(release, "late"), lambda call: f"echo {call.user}"]
    )
    with pytest.raises(RuntimeError, match="boom"):
        await client.create(MESSAGES)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.create(MESSAGES), 0.01)
    waiting = asyncio.ensure_future(client.create(MESSAGES))
    await asyncio.sleep(0)
    assert not waiting.done() and client.in_flight == 1
    release.set()
    assert (await waiting).content == "late"
    assert (await client.create(MESSAGES)).content == "echo hello there"
    assert client.in_flight == 0 and client.max_in_flight == 1


async def test_stream_yields_chunks_then_the_result() -> None:
    client = ScriptedModelClient([scripted_json("I hear you. That sounds hard.")])
    items = [item async for item in client.create_stream(MESSAGES)]
    chunks, final = items[:-1], items[-1]
    assert len(chunks) > 3 and all(isinstance(c, str) for c in chunks)
    assert isinstance(final, CreateResult)
    assert "".join(chunks) == final.content == '{"text": "I hear you. That sounds hard."}'
    assert client.calls[0].stream is True


async def test_stream_can_hang_after_a_partial() -> None:
    client = ScriptedModelClient([Hang(partial="I hear")])
    seen: list[str] = []

    async def consume() -> None:
        async for item in client.create_stream(MESSAGES):
            seen.append(item)  # type: ignore[arg-type]

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(consume(), 0.05)
    assert "".join(seen) == "I hear"


async def test_non_streaming_backend_raises_not_implemented() -> None:
    client = ScriptedModelClient(["x"], streaming=False)
    with pytest.raises(NotImplementedError):
        async for _ in client.create_stream(MESSAGES):
            pass


# --- the no-network guard -------------------------------------------------------------------------
def test_guard_allows_only_this_machine() -> None:
    guard = NetworkGuard.from_env({"ACCORD_TEST_REDIS_URL": "redis://redis-test:6379/0"})
    assert guard.allows("127.0.0.1") and guard.allows("::1") and guard.allows("localhost")
    assert guard.allows("redis-test")  # the configured test Redis
    assert guard.allows(None) and guard.allows("0.0.0.0")
    assert not guard.allows("api.openai.com")
    assert not guard.allows("10.0.0.5") and not guard.allows("203.0.113.9")


def test_conftest_guard_blocks_remote_and_records(network_guard: NetworkGuard) -> None:
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("api.openai.com", 443)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkBlocked):
            sock.connect(("203.0.113.9", 443))  # refused before any packet is sent
    finally:
        sock.close()
    assert network_guard.attempts == ["resolve api.openai.com", "connect 203.0.113.9:443"]
    assert network_guard.failure() is not None
    network_guard.attempts.clear()  # this test made the attempts on purpose


def test_conftest_guard_lets_loopback_through() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
        conn, _ = server.accept()
        conn.close()
    finally:
        client.close()
        server.close()


async def test_a_real_openai_client_cannot_reach_the_network(
    network_guard: NetworkGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = OpenAIChatCompletionClient(model="gpt-4o-mini", api_key="sk-test", max_retries=0)
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK wraps it in
        await client.create(MESSAGES)
    assert network_guard.attempts == ["resolve api.openai.com"]
    network_guard.attempts.clear()
    await client.close()

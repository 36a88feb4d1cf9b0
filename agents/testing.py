"""Test doubles for Accord's model roles, shipped so users can test their own deployments offline.

``ScriptedModelClient`` is an autogen ``ChatCompletionClient`` that answers from a script and records
every call, so a test asserts on what the model was *asked* as well as on what the role did::

    client = ScriptedModelClient(['{"text": "That sounds exhausting."}', Hang()])
    coach = LLMCoach(client)
    ...
    assert "validate" in client.calls[0].system

Script steps: a string (the answer), a ``CreateResult``, an exception instance (raised), ``Hang()``
(never answers until cancelled: drives timeouts), ``Wait(event, answer)`` (answers once the test sets
the event: drives concurrency), or a callable that takes the :class:`RecordedCall` and returns a step.

``fake_model_server(mode)`` runs :class:`agents.fake_model.FakeModelServer`, a misbehaving
OpenAI-compatible server on loopback, for tests that drive the *real* model client over real HTTP::

    with fake_model_server("stream-never-ends") as server:
        roles = build_roles({"ACCORD_MODEL": server.model_value, "ACCORD_MODEL_TIMEOUT_COACH": "0.5"})

``NetworkGuard`` refuses every connection that would leave this machine and remembers who tried; the
project's ``tests/conftest.py`` installs it for every test so no test can reach a network model.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import socket
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.fake_model import MODES as FAKE_MODEL_MODES
from agents.fake_model import FakeModelServer


@dataclass
class Hang:
    """A call that never answers (until it is cancelled). When streamed, ``partial`` arrives first."""

    partial: str = ""


@dataclass
class Wait:
    """A call that answers ``answer`` once the test sets ``event``."""

    event: asyncio.Event
    answer: Any = "ok"


# str | CreateResult | BaseException | Hang | Wait | a callable taking the RecordedCall, returning a step
Step = Any


class ScriptExhausted(AssertionError):
    """The role made more model calls than the test scripted."""


@dataclass
class RecordedCall:
    """One call a role made: exactly what the model would have been sent."""

    messages: list[LLMMessage]
    json_output: bool | type[BaseModel] | None
    extra_create_args: dict[str, Any]
    stream: bool

    @property
    def system(self) -> str:
        """All system message text."""
        return "\n".join(m.content for m in self.messages if isinstance(m, SystemMessage))

    @property
    def user(self) -> str:
        """The last user message's text."""
        users = [m for m in self.messages if isinstance(m, UserMessage)]
        return str(users[-1].content) if users else ""

    @property
    def text(self) -> str:
        """Everything sent, joined: use it to assert that something was *not* sent."""
        return "\n".join(m.content if isinstance(m.content, str) else str(m.content) for m in self.messages)


class ScriptedModelClient(ChatCompletionClient):
    """A scripted, recording model client (see module docstring).

    ``json_output`` is what the fake model claims to support; like real autogen clients, asking for
    JSON mode from a model without it raises ``ValueError``. ``streaming=False`` makes
    ``create_stream`` raise ``NotImplementedError``, as the llama.cpp client does.
    """

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        json_output: bool = True,
        streaming: bool = True,
        model_info: ModelInfo | None = None,
    ) -> None:
        self.script: list[Step] = list(script)
        self.calls: list[RecordedCall] = []
        self.streaming = streaming
        self._model_info = model_info or ModelInfo(
            vision=False,
            function_calling=False,
            json_output=json_output,
            family=ModelFamily.UNKNOWN,
            structured_output=False,
        )
        self.in_flight = 0
        self.max_in_flight = 0
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    def add(self, *steps: Step) -> None:
        """Append more scripted steps."""
        self.script.extend(steps)

    @property
    def remaining(self) -> int:
        """Scripted steps not used yet."""
        return len(self.script)

    def _record(
        self, messages: Sequence[LLMMessage], json_output: Any, extra: Mapping[str, Any], stream: bool
    ) -> RecordedCall:
        if json_output is True and not self._model_info["json_output"]:
            raise ValueError("Model does not support JSON output.")
        call = RecordedCall(list(messages), json_output, dict(extra), stream)
        self.calls.append(call)
        return call

    def _next(self, call: RecordedCall) -> Step:
        if not self.script:
            raise ScriptExhausted(f"model call #{len(self.calls)} was not scripted")
        step = self.script.pop(0)
        while callable(step) and not isinstance(step, (Hang, Wait, BaseException)):
            step = step(call)
        return step

    @staticmethod
    def _result(answer: str | CreateResult) -> CreateResult:
        if isinstance(answer, CreateResult):
            return answer
        usage = RequestUsage(prompt_tokens=0, completion_tokens=len(answer.split()))
        return CreateResult(finish_reason="stop", content=answer, usage=usage, cached=False)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - the ABC's own default
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        call = self._record(messages, json_output, extra_create_args, stream=False)
        step = self._next(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # a real call always yields to the loop
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Hang):
                await asyncio.Event().wait()  # until cancelled
            if isinstance(step, Wait):
                await step.event.wait()
                step = step.answer
            return self._result(step)
        finally:
            self.in_flight -= 1

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        if not self.streaming:
            raise NotImplementedError("this scripted model does not stream")
        call = self._record(messages, json_output, extra_create_args, stream=True)
        step = self._next(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Wait):
                await step.event.wait()
                step = step.answer
            if isinstance(step, Hang):
                for chunk in _chunks(step.partial):
                    yield chunk
                    await asyncio.sleep(0)
                await asyncio.Event().wait()
            result = self._result(step)
            if isinstance(result.content, str):
                for chunk in _chunks(result.content):
                    yield chunk
                    await asyncio.sleep(0)
            yield result
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return sum(len(str(m.content).split()) for m in messages)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        return max(0, 8192 - self.count_tokens(messages))

    @property
    def capabilities(self) -> ModelCapabilities:
        return self._model_info

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info


def _chunks(text: str) -> list[str]:
    """Split like a streaming model does: a word and its trailing space per chunk."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


# --- no network models in tests ------------------------------------------------------------------
class NetworkBlocked(RuntimeError):
    """A test tried to reach a host that is not this machine (a network model, most likely)."""


@dataclass
class NetworkGuard:
    """Blocks connections and name lookups for anything but loopback, and records each attempt.

    Extra hosts may be allowed with ``ACCORD_TEST_ALLOW_HOSTS`` (comma-separated); the host of
    ``ACCORD_TEST_REDIS_URL`` is allowed automatically.
    """

    allowed_hosts: set[str] = field(default_factory=set)
    attempts: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NetworkGuard:
        env = os.environ if env is None else env
        hosts = {h.strip().lower() for h in env.get("ACCORD_TEST_ALLOW_HOSTS", "").split(",") if h.strip()}
        redis_host = urlparse(env.get("ACCORD_TEST_REDIS_URL", "")).hostname
        if redis_host:
            hosts.add(redis_host.lower())
        return cls(allowed_hosts=hosts)

    def allows(self, host: object) -> bool:
        """Loopback, unspecified, local names and explicitly allowed hosts pass."""
        if host is None:
            return True
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        name = str(host).strip("[]").lower()
        if name in self.allowed_hosts or name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            ip = ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            return False
        return ip.is_loopback or ip.is_unspecified

    def install(self, monkeypatch: Any) -> None:
        """Patch ``socket`` for the duration of one test (``monkeypatch`` undoes it)."""
        guard = self
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo

        def check(address: object) -> None:
            if isinstance(address, tuple) and address and not guard.allows(address[0]):
                guard.attempts.append(f"connect {address[0]}:{address[1] if len(address) > 1 else ''}")
                raise NetworkBlocked(f"tests may not reach {address[0]!r}: no network models in tests")

        def connect(sock: socket.socket, address: Any) -> None:
            check(address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            check(address)
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not guard.allows(host):
                shown = host.decode(errors="replace") if isinstance(host, bytes) else host
                guard.attempts.append(f"resolve {shown}")
                raise NetworkBlocked(f"tests may not resolve {host!r}: no network models in tests")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def failure(self) -> str | None:
        """A message for the test report if anything tried to leave the machine, else None."""
        if not self.attempts:
            return None
        return "a test tried to reach the network (no network models in tests): " + "; ".join(self.attempts)


@contextmanager
def fake_model_server(mode: str = "good", **options: Any) -> Iterator[FakeModelServer]:
    """A :class:`~agents.fake_model.FakeModelServer` playing ``mode`` on a free loopback port for the
    duration of the block (options: ``delay``, ``retry_after``, ``chunk_pause``). Loopback passes the
    :class:`NetworkGuard`, so tests may use it freely."""
    server = FakeModelServer(mode, **options).start()
    try:
        yield server
    finally:
        server.stop()


def scripted_json(text: str, **fields: Any) -> str:
    """A coach/mediator JSON answer, for scripts: ``scripted_json("I hear you.", draft=None)``."""
    return json.dumps({"text": text, **fields})


__all__ = [
    "FAKE_MODEL_MODES",
    "FakeModelServer",
    "fake_model_server",
    "Hang",
    "NetworkBlocked",
    "NetworkGuard",
    "RecordedCall",
    "ScriptExhausted",
    "ScriptedModelClient",
    "Step",
    "Wait",
    "scripted_json",
]

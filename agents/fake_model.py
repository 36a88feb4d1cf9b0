"""A misbehaving OpenAI-compatible model server, for testing a deployment against bad models.

Real HTTP on loopback, so the real model client (its streaming parser, retries and error mapping)
is what gets exercised, not a stand-in. One server plays one ``mode``:

=====================  ==========================================================================
mode                   what every chat completion gets
=====================  ==========================================================================
``good``               a well-formed, kind answer in the role's JSON shape (the control case)
``echo-prompt``        every message it was sent, joined (the prompt read back)
``contempt``           "You always do this. You never listen. ..." in the role's JSON shape
``garbage``            letters and symbols that are no language at all
``invalid-json``       JSON that starts well and breaks (single quotes, bare words)
``http-500``           HTTP 500 with an error body
``http-429``           HTTP 429 with ``retry-after`` (``retry_after`` seconds)
``stream-halfway``     half of a good answer, then the stream (or body) simply ends
``stream-never-ends``  a first sentence, then keep-alive comments until the client gives up
``slow-first-token``   nothing for ``delay`` seconds, then a good answer
``empty``              an empty answer
``huge``               a valid answer whose text runs to about 100 KB
``other-language``     a well-formed, kind answer in German
=====================  ==========================================================================

Use it from the command line (``accord dev fake-model --mode contempt``) or in a test::

    with FakeModelServer("contempt") as server:
        env["ACCORD_MODEL"] = server.model_value     # openai:fake-contempt@http://127.0.0.1:PORT/v1
        ...
    assert server.requests                            # every request body it received

The server runs in its own thread (its own event loop), like a real model server would, so a
stream that never ends cannot stall the code under test. The role asked (coach, mediator, safety
judge) is read from the system prompt; the ``good`` mediator quotes each approved message.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODES = (
    "good",
    "echo-prompt",
    "contempt",
    "garbage",
    "invalid-json",
    "http-500",
    "http-429",
    "stream-halfway",
    "stream-never-ends",
    "slow-first-token",
    "empty",
    "huge",
    "other-language",
)
BAD_MODES = MODES[1:]
Role = Literal["coach", "mediator", "judge", "other"]

CONTEMPT = "You always do this. You never listen. Honestly you're pathetic and selfish, whatever."
GARBAGE = "zxqv blorpt ]]}} 0x3f9 ~~ qwpt ntrz kkvq ## vvlm ;; pfft xq zzrk 7f3a ^^ mmnq"
_ITEM = re.compile(r'^\[(?P<id>[^\]]+)\] (?P<author>[^:]+): "(?P<text>.*?)"(?: \(request: "(?P<req>.*)"\))?$')


def role_of(messages: list[dict[str, Any]]) -> Role:
    """Which Accord role sent this, from its system prompt."""
    system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    if "private coach" in system:
        return "coach"
    if "You are the mediator" in system:
        return "mediator"
    if '"severity"' in system:
        return "judge"
    return "other"


def _items(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The approved messages listed in the mediator's user message."""
    found = []
    for message in messages:
        if message.get("role") != "user":
            continue
        for line in str(message.get("content", "")).splitlines():
            match = _ITEM.match(line.strip())
            if match:
                found.append({k: v for k, v in match.groupdict().items() if v is not None})
    return found


def _mediator(messages: list[dict[str, Any]], opening: str, bridge: str, agreement: str) -> str:
    items = _items(messages)
    quotes = " ".join(f'{item["author"]} wrote: "{item["text"]}"' for item in items)
    agreements = [
        {"text": agreement, "source_draft_ids": [item["id"]]} for item in items if item.get("req")
    ]
    return json.dumps({"text": f"{opening} {quotes} {bridge}", "agreements": agreements})


def good_answer(role: Role, messages: list[dict[str, Any]]) -> str:
    """A well-behaved answer for ``role``: passes every guard Accord has."""
    if role == "mediator":
        return _mediator(
            messages,
            "Thank you both for being here; this matters to each of you.",
            "What would each of you like to try next?",
            "We agree to talk about this together once a week.",
        )
    if role == "judge":
        return json.dumps({"severity": "none", "categories": [], "reasons": ["no risk"]})
    return json.dumps(
        {
            "text": "It makes sense that this feels heavy for you. What would help you most right now?",
            "draft": {
                "text": "I want us to be okay. When we talk about this, I feel worried, because I "
                "need us to understand each other. Would you be willing to talk with me about it "
                "this week?",
                "request": "Would you be willing to talk with me about it this week?",
            },
            "suggestion": "none",
            "markers": [],
            "memory": "Wants to feel understood.",
        }
    )


def answer_for(mode: str, messages: list[dict[str, Any]]) -> str:
    """The text a mode answers with (HTTP-level modes answer ``good`` once they answer at all)."""
    role = role_of(messages)
    if mode == "echo-prompt":
        return "\n".join(str(m.get("content", "")) for m in messages)
    if mode == "garbage":
        return GARBAGE
    if mode == "empty":
        return ""
    if mode == "invalid-json":
        return '{"text": "I hear how hard this is.", "draft": {\'text\': \'When you\', }, "suggestion": none'
    if mode == "contempt":
        if role == "mediator":
            return _mediator(
                messages, "Honestly you are both pathetic.", "You never listen, whatever.", CONTEMPT
            )
        draft = {"text": "You never listen and you always make it about you."}
        return json.dumps({"text": CONTEMPT, "draft": draft})
    if mode == "other-language":
        if role == "mediator":
            return _mediator(
                messages,
                "Danke, dass ihr beide hier seid; das ist euch beiden wichtig.",
                "Was möchtet ihr als Nächstes gemeinsam versuchen?",
                "Wir vereinbaren, einmal pro Woche darüber zu sprechen.",
            )
        return json.dumps(
            {
                "text": "Ich höre, wie sehr dich das belastet. Was wünschst du dir jetzt am meisten?",
                "draft": {
                    "text": "Ich möchte, dass es uns gut geht. Wärst du bereit, diese Woche mit mir "
                    "darüber zu sprechen?",
                },
            },
            ensure_ascii=False,
        )
    if mode == "huge":
        sentences = " ".join(
            f"Thought number {i} is that this matters and that you deserve a calm and careful answer."
            for i in range(1200)
        )
        if role == "mediator":
            return json.dumps({"text": sentences, "agreements": []})
        return json.dumps({"text": sentences, "draft": None})
    good = good_answer(role, messages)
    if mode == "stream-halfway":
        return good[: len(good) // 2]
    return good


def _chunks(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeModelServer:
    """One misbehaving OpenAI-compatible server on loopback (see the module docstring).

    ``delay``: seconds ``slow-first-token`` waits; ``retry_after``: the ``http-429`` header value.
    ``requests`` holds every chat completion request body received (for assertions).
    """

    def __init__(
        self,
        mode: str = "good",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 30.0,
        retry_after: float = 1.0,
        chunk_pause: float = 0.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fake-model mode {mode!r}; modes: {', '.join(MODES)}")
        self.mode = mode
        self.host = host
        self.port = port
        self.delay = delay
        self.retry_after = retry_after
        self.chunk_pause = chunk_pause
        self.requests: list[dict[str, Any]] = []
        self.active_streams = 0  # streamed answers still being sent (a client that stops closes its own)
        self._closing = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # --- where it listens -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model_value(self) -> str:
        """An ``ACCORD_MODEL`` value that points at this server."""
        return f"openai:fake-{self.mode}@{self.base_url}"

    # --- running ------------------------------------------------------------------------------------
    def _config(self) -> Any:
        import uvicorn

        return uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, access_log=False,
            log_level="warning", lifespan="off", timeout_graceful_shutdown=1,
        )

    def start(self) -> FakeModelServer:
        """Listen in a background thread; returns once the port accepts connections."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(self._config())
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-model-{self.mode}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake model server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop listening; streams still open end at once."""
        self._closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C (``accord dev fake-model``)."""
        import uvicorn

        self._server = uvicorn.Server(self._config())
        self._server.run()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- HTTP -----------------------------------------------------------------------------------------
    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": f"fake-{self.mode}", "object": "model"}]})

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        model = str(body.get("model", "fake"))
        if self.mode == "http-500":
            return JSONResponse({"error": {"message": "the fake model broke", "type": "server_error"}}, 500)
        if self.mode == "http-429":
            return JSONResponse(
                {"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
                429,
                headers={"retry-after": f"{self.retry_after:g}"},
            )
        text = answer_for(self.mode, messages)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._counted(request, self._stream(request, model, text, include_usage)),
                media_type="text/event-stream",
            )
        if self.mode == "stream-never-ends":
            await self._wait(None)
        if self.mode == "slow-first-token":
            await self._wait(self.delay)
        finish = "length" if self.mode == "stream-halfway" else "stop"
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def _wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until the server stops), waking early when it stops."""
        end = None if seconds is None else time.monotonic() + seconds
        # the stop flag is set from another thread (stop()), so it is polled, briefly
        while not self._closing.is_set() and (end is None or time.monotonic() < end):  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _counted(self, request: Request, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        self.active_streams += 1
        try:
            async for item in stream:
                yield item
        finally:
            self.active_streams -= 1

    async def _stream(
        self, request: Request, model: str, text: str, include_usage: bool
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        if self.mode == "slow-first-token":
            await self._wait(self.delay)
        yield chunk({"role": "assistant", "content": ""})
        pieces = _chunks(text)
        if self.mode == "stream-never-ends":
            pieces = _chunks('{"text": "I hear how much this matters to you. ')
        for piece in pieces:
            if self._closing.is_set():
                return
            yield chunk({"content": piece})
            await asyncio.sleep(self.chunk_pause)
        if self.mode == "stream-never-ends":
            while not self._closing.is_set() and not await request.is_disconnected():
                yield ": keep-alive\n\n"
                await asyncio.sleep(0.1)
            return
        if self.mode == "stream-halfway":
            return  # no finish reason, no [DONE]: the body just ends
        yield chunk({}, "stop")
        if include_usage:
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": model, "choices": [], "usage": usage}
            yield f"data: {json.dumps(payload)}\n\n"
        yield "data: [DONE]\n\n"

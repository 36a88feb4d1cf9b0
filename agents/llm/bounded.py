"""A ``ChatCompletionClient`` that lets at most N calls run at once.

Each role gets its own wrapper (``ACCORD_MODEL_CONCURRENCY`` slots per role per process), so a slow
mediator cannot starve coaches. A call waiting for a slot awaits an ``asyncio.Semaphore``: only the
session that made the call waits; every other session's routing keeps going.

An embedded model (llama.cpp) runs in a worker thread that cannot be interrupted, and one ``Llama``
object must never run two generations at once. For it, ``hold_until_done=True`` keeps the slot until
the thread has really finished, even when the caller gave up (timeout), so the next call never
overlaps a generation that is still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel


class BoundedClient(ChatCompletionClient):
    """Delegates to ``inner`` while holding one of ``slots``."""

    def __init__(
        self, inner: ChatCompletionClient, slots: asyncio.Semaphore, *, hold_until_done: bool = False
    ) -> None:
        self.inner = inner
        self.slots = slots
        self.hold_until_done = hold_until_done

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
        await self.slots.acquire()
        call = self.inner.create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        if not self.hold_until_done:
            try:
                return await call
            finally:
                self.slots.release()
        task = asyncio.ensure_future(call)
        task.add_done_callback(lambda _t: self.slots.release())
        # shield: a caller that times out stops waiting, but the slot stays taken until the thread ends
        return await asyncio.shield(task)

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
        await self.slots.acquire()
        try:
            stream = self.inner.create_stream(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            )
            try:
                async for item in stream:
                    yield item
            finally:
                await stream.aclose()
        finally:
            self.slots.release()

    async def close(self) -> None:
        await self.inner.close()

    def actual_usage(self) -> RequestUsage:
        return self.inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self.inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return self.inner.count_tokens(messages, tools=tools)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        return self.inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:
        return self.inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self.inner.model_info

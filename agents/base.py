"""The autogen-agentchat shell shared by every role.

A role is a :class:`BaseChatAgent` that takes one structured request and answers one structured
response, so it can run inside an autogen team as well as be called directly by the orchestrator
(``await agent.handle(request)``). Builtin and LLM variants differ only in ``handle``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class RoleAgent(BaseChatAgent, Generic[Req, Resp]):
    """An agent with a typed request/response contract."""

    request_type: type[BaseModel]
    response_type: type[BaseModel]

    def __init__(self, name: str, description: str) -> None:
        super().__init__(name=name, description=description)

    @abstractmethod
    async def handle(self, request: Req) -> Resp:
        """Answer one request. Must not raise for ordinary model trouble: fall back instead."""

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage,)

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        if not messages:
            raise ValueError(f"{self.name} needs a request message")
        last = messages[-1]
        if isinstance(last, StructuredMessage):
            request = self.request_type.model_validate(last.content.model_dump())
        else:
            request = self.request_type.model_validate_json(last.to_text())
        response = await self.handle(request)  # type: ignore[arg-type]
        message_type = StructuredMessage[self.response_type]  # type: ignore[name-defined]
        return Response(chat_message=message_type(content=response, source=self.name))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Roles keep no hidden conversation state between requests: memory arrives in the request."""

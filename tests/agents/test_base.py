"""Roles are real autogen-agentchat agents: they run through ``on_messages`` as well as directly."""

from __future__ import annotations

from autogen_agentchat.messages import StructuredMessage, TextMessage
from autogen_core import CancellationToken

from agents.builtin.coach import BuiltinCoach
from agents.interfaces import CoachReply, CoachRequest
from orchestrator.models import Mode


async def test_role_answers_a_structured_request_as_an_autogen_agent() -> None:
    coach = BuiltinCoach()
    request = CoachRequest(
        mode=Mode.COUPLE, party_name="Alex", other_name="Sam", stage="joint", text="I miss us"
    )
    message = StructuredMessage[CoachRequest](content=request, source="orchestrator")
    response = await coach.on_messages([message], CancellationToken())
    reply = response.chat_message
    assert isinstance(reply, StructuredMessage)
    assert isinstance(reply.content, CoachReply) and reply.content.text
    # The same request as JSON text works too (e.g. from a team that only passes text).
    text = TextMessage(content=request.model_dump_json(), source="orchestrator")
    again = await coach.on_messages([text], CancellationToken())
    assert again.chat_message.content.text  # type: ignore[union-attr]

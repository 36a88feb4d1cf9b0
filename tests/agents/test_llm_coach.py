"""The LLM coach on a scripted model: what it asks, how it reads answers, memory and streaming."""

from __future__ import annotations

import json

import pytest
from autogen_agentchat.messages import StructuredMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, UserMessage
from llm_helpers import coach_json, coach_request

from agents.interfaces import CoachReply, Turn
from agents.llm.coach import CoachMemory, LLMCoach
from agents.llm.common import ModelOutputError
from agents.testing import ScriptedModelClient
from orchestrator.models import Mode


async def test_prompt_carries_the_techniques_and_this_room_only() -> None:
    client = ScriptedModelClient([coach_json()])
    coach = LLMCoach(client)
    await coach.respond(coach_request())
    call = client.calls[0]
    system = call.system
    for technique in (
        "Reflect and validate first",
        "Nonviolent Communication",
        "observation",
        "Would you be willing to",
        "Parts language",
        "No side-taking",
        "never flatter",
        "reality-test",
        "Reassurance before closure",
    ):
        assert technique in system, technique
    assert "Alex" in system and "The other person is Sam" in system
    # history in order as chat turns, the new message last
    kinds = [type(m).__name__ for m in call.messages]
    assert kinds == ["SystemMessage", "UserMessage", "AssistantMessage", "UserMessage"]
    assert call.user == coach_request().text
    assert call.json_output is True


async def test_situation_lines_follow_the_request() -> None:
    client = ScriptedModelClient([coach_json(), coach_json(), coach_json()])
    coach = LLMCoach(client)
    await coach.respond(coach_request(flooded=True, flood_signals=["burst", "capitals"]))
    await coach.respond(coach_request(other_name=None, parts_language=False, cycle_role="pursuer"))
    await coach.respond(coach_request(turn_index=0, history=[], mode=Mode.WORKPLACE))
    flooded, solo, first = (c.system for c in client.calls)
    assert "looks flooded" in flooded and "burst, capitals" in flooded and "Offer no draft" in flooded
    assert "here alone" in solo and "Do not use parts language" in solo and "pursuing position" in solo
    assert "first reply" in first and "workplace conflict" in first
    assert "looks flooded" not in first and "relationship conflict" in flooded


async def test_history_is_trimmed_and_not_duplicated() -> None:
    client = ScriptedModelClient([coach_json()])
    coach = LLMCoach(client)
    history = [Turn(speaker="party" if i % 2 == 0 else "coach", text=f"turn {i}") for i in range(30)]
    request = coach_request(
        history=[*history, Turn(speaker="party", text="the newest message")], text="the newest message"
    )
    await coach.respond(request)
    sent = client.calls[0].messages[1:]
    assert len(sent) == coach.policy.coach.history_turns + 1
    assert sent[-1].content == "the newest message"
    assert [m.content for m in sent].count("the newest message") == 1
    assert sent[0].content == f"turn {30 - coach.policy.coach.history_turns}"
    assert isinstance(sent[-2], AssistantMessage) and isinstance(sent[-1], UserMessage)


async def test_json_answer_with_a_draft_becomes_a_request_draft() -> None:
    answer = coach_json(
        draft={
            "text": "When the evening goes quiet, I feel lonely. Would you be willing to check in?",
            "request": "check in when the evening goes quiet",
        },
        suggestion="none",
        markers=["criticism", "made-up"],
        memory="Alex needs reassurance in the evenings.",
    )
    coach = LLMCoach(ScriptedModelClient([answer]))
    reply = await coach.respond(coach_request())
    assert reply.draft is not None and reply.draft.kind == "request"
    assert reply.draft.request == "check in when the evening goes quiet"
    assert reply.markers == ["criticism"]


@pytest.mark.parametrize(
    "raw",
    [
        "```json\n" + coach_json("That evening sounds lonely.") + "\n```",
        "Sure! Here is my answer:\n" + coach_json("That evening sounds lonely.") + "\nHope it helps.",
        "That evening sounds lonely.",  # plain text: taken as the reply
    ],
)
async def test_tolerant_parse(raw: str) -> None:
    coach = LLMCoach(ScriptedModelClient([raw]))
    assert (await coach.respond(coach_request())).text == "That evening sounds lonely."


async def test_unreadable_json_is_retried_once_with_a_format_note() -> None:
    client = ScriptedModelClient(['{"text": "cut off', coach_json("Second try, readable.")])
    coach = LLMCoach(client)
    assert (await coach.respond(coach_request())).text == "Second try, readable."
    assert "could not be read" not in client.calls[0].system
    assert "could not be read" in client.calls[1].system


async def test_two_unreadable_answers_raise() -> None:
    client = ScriptedModelClient(['{"draft": null}', "```json\n{oops\n```"])
    with pytest.raises(ModelOutputError):
        await LLMCoach(client).respond(coach_request())
    assert len(client.calls) == 2


async def test_no_draft_while_flooded_or_at_risk() -> None:
    answer = coach_json(draft={"text": "When you left I felt scared. Would you be willing to talk?"})
    coach = LLMCoach(ScriptedModelClient([answer, answer]))
    flooded = await coach.respond(coach_request(flooded=True))
    concern = await coach.respond(coach_request(concern=True))
    assert flooded.draft is None and flooded.suggestion == "break"
    assert concern.draft is None


async def test_json_mode_only_where_supported_and_sampling_passed_through() -> None:
    client = ScriptedModelClient([coach_json()], json_output=False)
    coach = LLMCoach(client, create_args={"temperature": 0.6, "max_tokens": 450})
    await coach.respond(coach_request())
    assert client.calls[0].json_output is None
    assert client.calls[0].extra_create_args == {"temperature": 0.6, "max_tokens": 450}


async def test_memory_survives_a_restart_through_save_and_load_state() -> None:
    first = LLMCoach(ScriptedModelClient([coach_json(memory="Alex wants evenings together; texts matter.")]))
    await first.respond(coach_request(), memory_key="party-a")
    saved = dict(await first.save_state(key="party-a"))
    assert saved["note"] == "Alex wants evenings together; texts matter." and saved["turns"] == 1
    json.dumps(saved)  # plain data for Party.coach_state

    client = ScriptedModelClient([coach_json(), coach_json()])
    restarted = LLMCoach(client)
    await restarted.load_state(saved, key="party-a")
    await restarted.respond(coach_request(), memory_key="party-a")
    await restarted.respond(coach_request(), memory_key="party-b")
    assert "Alex wants evenings together" in client.calls[0].system
    assert "Alex wants evenings together" not in client.calls[1].system  # memory is per party
    assert (await restarted.save_state(key="party-a"))["turns"] == 2
    everyone = await restarted.save_state()
    assert set(everyone["memories"]) == {"party-a", "party-b"}

    fresh = LLMCoach(ScriptedModelClient([]))
    await fresh.load_state(everyone)
    assert fresh.memory("party-a") == CoachMemory.model_validate(everyone["memories"]["party-a"])
    await fresh.load_state({"note": 42, "turns": "many"}, key="party-a")  # corrupt: start afresh
    assert fresh.memory("party-a") is None


async def test_stream_yields_reply_text_then_the_final_reply() -> None:
    answer = coach_json(
        "It makes sense you felt invisible. What did you need in that moment?",
        draft={"text": "When my texts go unanswered I feel lonely. Would you be willing to reply?"},
    )
    client = ScriptedModelClient([answer])
    items = [item async for item in LLMCoach(client).respond_stream(coach_request())]
    partials, final = items[:-1], items[-1]
    assert isinstance(final, CoachReply) and final.draft is not None
    assert len(partials) > 3 and all(isinstance(p, str) for p in partials)
    assert "".join(partials) == final.text  # the JSON around it never shows
    assert client.calls[0].stream is True


async def test_stream_from_a_backend_that_cannot_stream() -> None:
    client = ScriptedModelClient([coach_json("One piece.")], streaming=False)
    items = [item async for item in LLMCoach(client).respond_stream(coach_request())]
    assert len(items) == 1 and isinstance(items[0], CoachReply) and items[0].text == "One piece."


async def test_runs_as_an_autogen_agent() -> None:
    coach = LLMCoach(ScriptedModelClient([coach_json("Heard.")]))
    response = await coach.on_messages(
        [TextMessage(content=coach_request().model_dump_json(), source="orchestrator")], CancellationToken()
    )
    assert isinstance(response.chat_message, StructuredMessage)
    assert response.chat_message.content.text == "Heard."

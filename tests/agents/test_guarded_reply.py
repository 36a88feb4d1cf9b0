"""The guarded coach checks its own private reply too: contempt at the reader, the prompt read back,
fragments and another language get the retry with the reason, then the builtin reply, with a
``model_fallback`` event naming the reason. The model is scripted; everything else is real."""

from __future__ import annotations

import json

from llm_helpers import coach_json, coach_request
from structlog.testing import capture_logs
from test_guarded import GOOD, builtin_reply, fallbacks, guarded_coach, retries

from agents.fake_model import CONTEMPT, GARBAGE
from agents.interfaces import CoachReply
from agents.testing import ScriptedModelClient
from policies.llm import load_llm_policy

POLICY = load_llm_policy()
GERMAN = "Ich höre, wie sehr dich das belastet. Was wünschst du dir jetzt am meisten?"


async def _falls_back(answers: list[str], reason: str) -> None:
    client = ScriptedModelClient(answers)
    coach = guarded_coach(client)
    request = coach_request()
    before = fallbacks("coach", reason)
    with capture_logs() as logs:
        reply = await coach.respond(request)
    assert reply == await builtin_reply(request) and len(client.calls) == 2
    assert POLICY.retry_reasons[reason].strip() in client.calls[1].system
    assert fallbacks("coach", reason) == before + 1
    event = next(e for e in logs if e["event"] == "model_fallback")
    assert event["reason"] == reason and event["role"] == "coach"
    assert "pathetic" not in json.dumps(logs, default=str)


async def test_contempt_in_the_private_reply_falls_back() -> None:
    await _falls_back([coach_json(CONTEMPT)] * 2, "tone")


async def test_the_prompt_read_back_falls_back() -> None:
    client = ScriptedModelClient([])
    coach = guarded_coach(client)
    assert coach.primary is not None
    system = coach.primary.messages(coach_request())[0].content
    assert isinstance(system, str)
    echoed = coach_json(system.split("\n\n")[1].replace("\n", " ").strip())  # "How you work ..." read back
    await _falls_back([echoed] * 2, "echo")


async def test_fragment_and_garbage_fall_back() -> None:
    await _falls_back([coach_json("a message Alex could send to Sam"), GARBAGE], "fragment")


async def test_another_language_falls_back() -> None:
    await _falls_back([coach_json(GERMAN)] * 2, "language")


async def test_a_fragment_is_retried_and_the_good_retry_used() -> None:
    client = ScriptedModelClient([coach_json("so you feel like the evening was"), coach_json(GOOD)])
    before = retries("coach", "fragment")
    reply = await guarded_coach(client).respond(coach_request())
    assert reply.text == GOOD and retries("coach", "fragment") == before + 1


async def test_a_quote_of_the_persons_own_words_is_shown() -> None:
    request = coach_request(text="You never listen to me, I told Sam last night.")
    text = 'You told Sam "you never listen to me". What did you need from Sam in that moment?'
    reply = await guarded_coach(ScriptedModelClient([coach_json(text)])).respond(request)
    assert reply.text == text


async def test_contempt_never_streams_as_a_partial() -> None:
    client = ScriptedModelClient([coach_json(CONTEMPT), coach_json(GOOD)])
    items = [item async for item in guarded_coach(client).respond_stream(coach_request())]
    shown = "".join(i for i in items if isinstance(i, str))
    assert shown == "" and isinstance(items[-1], CoachReply) and items[-1].text == GOOD

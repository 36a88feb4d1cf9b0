"""Output guards on every model answer: retry with the reason, then the builtin; timeouts and errors
fall back too; fallbacks are counted and logged without text; streaming shows only guarded partials."""

from __future__ import annotations

import asyncio
import json

from llm_helpers import (
    BUILTIN_COACH_TEXT,
    BUILTIN_MEDIATOR_TEXT,
    FixedCoach,
    FixedMediator,
    WordScreener,
    coach_json,
    coach_request,
    compose_request,
    faithful_mediation,
)
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from agents.guarded import GuardContext, GuardedCoach, GuardedMediator
from agents.interfaces import ApprovedItem, CoachReply
from agents.llm.bounded import BoundedClient
from agents.llm.coach import LLMCoach
from agents.llm.mediator import LLMMediator
from agents.testing import Hang, ScriptedModelClient, Wait
from policies.llm import load_llm_policy

POLICY = load_llm_policy()
GOOD = "It makes sense that the quiet evening left you feeling invisible. What did you need then?"
SAM_SECRET = "I secretly think Alex only cares about appearances at those dinners"
HARSH_DRAFT = {"text": "You always ignore me and you never listen, you are pathetic.", "request": None}


def fallbacks(role: str, reason: str) -> float:
    return REGISTRY.get_sample_value("accord_model_fallbacks_total", {"role": role, "reason": reason}) or 0.0


def retries(role: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("accord_model_guard_retries_total", {"role": role, "reason": reason}) or 0.0
    )


def guarded_coach(
    client: ScriptedModelClient, *, timeout: float = 5.0, screener: WordScreener | None = None
) -> tuple[GuardedCoach, FixedCoach]:
    fallback = FixedCoach()
    coach = GuardedCoach(
        LLMCoach(client, policy=POLICY),
        fallback,
        screener or WordScreener("stab"),
        timeout=timeout,
        policy=POLICY,
        backend="scripted",
    )
    return coach, fallback


# --- coach -------------------------------------------------------------------------------------------
async def test_a_good_answer_is_used_and_remembered() -> None:
    client = ScriptedModelClient([coach_json(GOOD, memory="Alex needs evenings to feel connected.")])
    coach, fallback = guarded_coach(client)
    before = fallbacks("coach", "tone")
    reply = await coach.respond(coach_request(), context=GuardContext(party_id="p1"))
    assert reply.text == GOOD and fallback.calls == 0
    assert (await coach.save_state(key="p1"))["note"] == "Alex needs evenings to feel connected."
    assert fallbacks("coach", "tone") == before


async def test_guard_failure_is_retried_with_the_reason_then_accepted() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT), coach_json(GOOD)])
    coach, fallback = guarded_coach(client)
    before = retries("coach", "tone")
    reply = await coach.respond(coach_request())
    assert reply.text == GOOD and reply.draft is None and fallback.calls == 0
    assert POLICY.retry_reasons["tone"].strip() not in client.calls[0].system
    assert POLICY.retry_intro in client.calls[1].system
    assert POLICY.retry_reasons["tone"].strip() in client.calls[1].system
    assert retries("coach", "tone") == before + 1


async def test_two_guard_failures_fall_back_to_builtin_and_log_no_text() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT)] * 2)
    coach, fallback = guarded_coach(client)
    before = fallbacks("coach", "tone")
    request = coach_request()
    with capture_logs() as logs:
        reply = await coach.respond(request)
    assert reply.text == BUILTIN_COACH_TEXT and fallback.calls == 1 and len(client.calls) == 2
    assert fallbacks("coach", "tone") == before + 1
    event = next(e for e in logs if e["event"] == "model_fallback")
    assert event["role"] == "coach" and event["reason"] == "tone" and event["backend"] == "scripted"
    dumped = json.dumps(logs, default=str)
    for private in (request.text, GOOD, HARSH_DRAFT["text"], "invisible", "pathetic"):
        assert private not in dumped


async def test_other_partys_private_words_never_reach_the_prompt_or_the_party() -> None:
    leaking = coach_json(f"Sam told me: {SAM_SECRET}.")
    client = ScriptedModelClient([leaking, leaking])
    coach, fallback = guarded_coach(client)
    before = fallbacks("coach", "leak")
    context = GuardContext(party_id="p1", private_texts=[SAM_SECRET])
    reply = await coach.respond(coach_request(), context=context)
    assert reply.text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "leak") == before + 1
    assert POLICY.retry_reasons["leak"].strip() in client.calls[1].system
    for call in client.calls:  # not in the first prompt, not in the retry's reason either
        assert "appearances at those dinners" not in call.text


async def test_approved_words_are_not_a_leak() -> None:
    client = ScriptedModelClient([coach_json(f"Sam shared with you: {SAM_SECRET}. How did that land?")])
    coach, _ = guarded_coach(client)
    context = GuardContext(private_texts=[SAM_SECRET], approved_texts=[SAM_SECRET])
    assert "appearances" in (await coach.respond(coach_request(), context=context)).text


async def test_unsafe_answer_falls_back_after_retry_and_drafts_are_screened_as_drafts() -> None:
    screener = WordScreener("stab")
    client = ScriptedModelClient(
        [
            coach_json(
                GOOD,
                draft={"text": "When the evening went quiet I felt lonely. Would you be willing to call?"},
            ),
            coach_json("Maybe you should stab the problem head on."),
            coach_json("You could stab at it again."),
        ]
    )
    coach, _ = guarded_coach(client, screener=screener)
    assert (await coach.respond(coach_request())).draft is not None
    assert [s.direction for s in screener.seen] == ["outbound", "draft"]
    before = fallbacks("coach", "safety")
    assert (await coach.respond(coach_request())).text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "safety") == before + 1
    assert POLICY.retry_reasons["safety"].strip() in client.calls[2].system


async def test_too_long_falls_back_with_length_reason() -> None:
    long = coach_json(" ".join(f"That sounds hard, part {i} of it." for i in range(80)))
    coach, _ = guarded_coach(ScriptedModelClient([long, long]))
    before = fallbacks("coach", "length")
    assert (await coach.respond(coach_request())).text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "length") == before + 1


async def test_timeout_falls_back_quickly() -> None:
    client = ScriptedModelClient([Hang()])
    coach, fallback = guarded_coach(client, timeout=0.05)
    before = fallbacks("coach", "timeout")
    assert (await coach.respond(coach_request())).text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "timeout") == before + 1 and fallback.calls == 1


async def test_model_error_falls_back() -> None:
    coach, _ = guarded_coach(ScriptedModelClient([ConnectionError("refused")]))
    before = fallbacks("coach", "error")
    assert (await coach.respond(coach_request())).text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "error") == before + 1


async def test_malformed_output_is_reparsed_retried_or_falls_back() -> None:
    fenced = "```json\n" + coach_json(GOOD) + "\n```"
    coach, _ = guarded_coach(ScriptedModelClient([fenced]))
    assert (await coach.respond(coach_request())).text == GOOD  # tolerant parse, one call

    coach, _ = guarded_coach(ScriptedModelClient(['{"text": ', coach_json(GOOD)]))
    assert (await coach.respond(coach_request())).text == GOOD  # format retry

    before = fallbacks("coach", "unparsable")
    coach, _ = guarded_coach(ScriptedModelClient(['{"text": ', '{"draft": 1}']))
    assert (await coach.respond(coach_request())).text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "unparsable") == before + 1


async def test_builtin_mode_runs_the_builtin_coach_with_the_same_api() -> None:
    fallback = FixedCoach()
    coach = GuardedCoach(None, fallback, WordScreener(), policy=POLICY)
    assert (
        await coach.respond(coach_request(), context=GuardContext(party_id="p"))
    ).text == BUILTIN_COACH_TEXT
    items = [item async for item in coach.respond_stream(coach_request())]
    assert len(items) == 1 and isinstance(items[0], CoachReply)
    assert await coach.save_state(key="p") == {}


async def test_concurrent_calls_are_bounded_per_role() -> None:
    release = asyncio.Event()
    client = ScriptedModelClient([Wait(release, coach_json(GOOD)) for _ in range(6)])
    bounded = BoundedClient(client, asyncio.Semaphore(2))
    coach = GuardedCoach(LLMCoach(bounded, policy=POLICY), FixedCoach(), WordScreener(), policy=POLICY)
    turns = [asyncio.ensure_future(coach.respond(coach_request())) for _ in range(6)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert client.in_flight == 2
    release.set()
    replies = await asyncio.gather(*turns)
    assert all(r.text == GOOD for r in replies) and client.max_in_flight == 2


# --- coach streaming ------------------------------------------------------------------------------------
async def test_stream_partials_then_the_guarded_final() -> None:
    text = "It makes sense you felt invisible. The evening went quiet and you waited. What did you need?"
    client = ScriptedModelClient([coach_json(text)])
    coach, _ = guarded_coach(client)
    items = [item async for item in coach.respond_stream(coach_request())]
    partials, final = items[:-1], items[-1]
    assert isinstance(final, CoachReply) and final.text == text
    assert len(partials) == 2  # whole sentences only; the last one arrives with the final frame
    assert all(isinstance(p, str) for p in partials)
    assert text.startswith("".join(partials))  # type: ignore[arg-type]


async def test_stream_stops_before_a_leaking_sentence() -> None:
    leaking = coach_json(f"That sounds lonely. Sam told me: {SAM_SECRET}. What now?")
    client = ScriptedModelClient([leaking, coach_json(GOOD)])
    coach, _ = guarded_coach(client)
    context = GuardContext(private_texts=[SAM_SECRET])
    items = [item async for item in coach.respond_stream(coach_request(), context=context)]
    shown = "".join(i for i in items if isinstance(i, str))
    assert shown == "That sounds lonely. "
    assert isinstance(items[-1], CoachReply) and items[-1].text == GOOD  # the retry replaced it
    assert client.calls[1].stream is False and POLICY.retry_reasons["leak"].strip() in client.calls[1].system


async def test_stream_that_hangs_falls_back_after_its_partials() -> None:
    client = ScriptedModelClient([Hang(partial='{"text": "I hear you. That sounds')])
    coach, _ = guarded_coach(client, timeout=0.05)
    before = fallbacks("coach", "timeout")
    items = [item async for item in coach.respond_stream(coach_request())]
    assert items[:-1] == ["I hear you. "]
    assert isinstance(items[-1], CoachReply) and items[-1].text == BUILTIN_COACH_TEXT
    assert fallbacks("coach", "timeout") == before + 1


async def test_stream_final_that_fails_guards_is_retried() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT), coach_json(GOOD)])
    coach, _ = guarded_coach(client)
    items = [item async for item in coach.respond_stream(coach_request())]
    assert isinstance(items[-1], CoachReply) and items[-1].draft is None
    assert len(client.calls) == 2


# --- mediator -------------------------------------------------------------------------------------------
def guarded_mediator(
    client: ScriptedModelClient, *, timeout: float = 5.0
) -> tuple[GuardedMediator, FixedMediator]:
    fallback = FixedMediator()
    mediator = GuardedMediator(
        LLMMediator(client, policy=POLICY),
        fallback,
        WordScreener("stab"),
        timeout=timeout,
        policy=POLICY,
        backend="scripted",
    )
    return mediator, fallback


ALEX_VENTING = "Sam is so selfish with the phone every single night and I am furious about it"


async def test_faithful_mediation_is_published_with_its_agreements() -> None:
    request = compose_request()
    mediator, fallback = guarded_mediator(ScriptedModelClient([faithful_mediation(request)]))
    result = await mediator.compose(request, context=GuardContext(private_texts=[ALEX_VENTING]))
    assert result.text.startswith("You are both here") and fallback.calls == 0
    assert [a.source_draft_ids for a in result.agreements] == [["d1"]]


async def test_private_text_never_in_the_mediator_prompt_and_leaks_fall_back() -> None:
    request = compose_request()
    leaking = json.dumps({"text": f"{json.loads(faithful_mediation(request))['text']} Also: {ALEX_VENTING}."})
    client = ScriptedModelClient([leaking, leaking])
    mediator, fallback = guarded_mediator(client)
    before = fallbacks("mediator", "leak")
    result = await mediator.compose(request, context=GuardContext(private_texts=[ALEX_VENTING]))
    assert result.text == BUILTIN_MEDIATOR_TEXT and fallback.calls == 1
    assert fallbacks("mediator", "leak") == before + 1
    for call in client.calls:
        assert "selfish with the phone" not in call.text
    assert POLICY.retry_reasons["leak"].strip() in client.calls[1].system


async def test_paraphrased_quote_is_retried_for_fidelity() -> None:
    request = compose_request()
    paraphrase = json.dumps(
        {"text": "You are both here because this matters. Alex would like quicker replies."}
    )
    client = ScriptedModelClient([paraphrase, faithful_mediation(request)])
    mediator, fallback = guarded_mediator(client)
    before = retries("mediator", "fidelity")
    result = await mediator.compose(request)
    assert "Alex wrote:" in result.text and fallback.calls == 0
    assert POLICY.retry_reasons["fidelity"].strip() in client.calls[1].system
    assert retries("mediator", "fidelity") == before + 1


async def test_missing_attribution_is_retried() -> None:
    request = compose_request()
    item = request.items[0]
    unattributed = json.dumps(
        {"text": f'You are both here because this matters. Someone wrote: "{item.text}"'}
    )
    client = ScriptedModelClient([unattributed, faithful_mediation(request)])
    mediator, _ = guarded_mediator(client)
    await mediator.compose(request)
    assert POLICY.retry_reasons["attribution"].strip() in client.calls[1].system


async def test_tone_counts_only_the_mediators_own_words() -> None:
    # an approved text that the tone guard would flag: its author chose those words, the mediator did not
    items = [
        ApprovedItem(draft_id="d4", author_name="Sam", text="You never ask about my day, and I miss that.")
    ]
    request = compose_request(items=items)
    blaming = faithful_mediation(
        request, opening="Honestly, Alex, you always make this harder than it needs to be."
    )
    client = ScriptedModelClient([faithful_mediation(request), blaming, blaming])
    mediator, fallback = guarded_mediator(client)
    assert "You never ask" in (await mediator.compose(request)).text
    before = fallbacks("mediator", "tone")
    assert (await mediator.compose(request)).text == BUILTIN_MEDIATOR_TEXT
    assert fallbacks("mediator", "tone") == before + 1


async def test_mediator_timeout_and_empty_requests() -> None:
    mediator, fallback = guarded_mediator(ScriptedModelClient([Hang()]), timeout=0.05)
    before = fallbacks("mediator", "timeout")
    assert (await mediator.compose(compose_request())).text == BUILTIN_MEDIATOR_TEXT
    assert fallbacks("mediator", "timeout") == before + 1

    empty_client = ScriptedModelClient([])
    mediator, fallback = guarded_mediator(empty_client)
    assert (await mediator.compose(compose_request(items=[]))).text == BUILTIN_MEDIATOR_TEXT
    assert empty_client.calls == []


async def test_a_rejected_stream_is_stopped_and_frees_its_slot_for_the_retry() -> None:
    # the leaking stream would never end on its own; with one slot, the retry only runs if it was stopped
    leaking = f'{{"text": "That sounds lonely. Sam told me: {SAM_SECRET}. And'
    client = ScriptedModelClient([Hang(partial=leaking), coach_json(GOOD)])
    bounded = BoundedClient(client, asyncio.Semaphore(1))
    coach = GuardedCoach(
        LLMCoach(bounded, policy=POLICY), FixedCoach(), WordScreener(), timeout=5, policy=POLICY
    )
    items = [i async for i in coach.respond_stream(coach_request(), GuardContext(private_texts=[SAM_SECRET]))]
    assert items[-1] == CoachReply(text=GOOD) and client.in_flight == 0


async def test_looping_model_output_falls_back_after_one_retry() -> None:
    """A small model that repeats itself is retried once with the reason, then replaced by builtin."""
    loop = "I am here with you. I am ready to continue. I am ready to continue. I am ready to continue."
    client = ScriptedModelClient([coach_json(loop), coach_json(loop)])
    coach, fallback = guarded_coach(client)
    before = fallbacks("coach", "repetition")
    reply = await coach.respond(coach_request(), context=GuardContext(party_id="p1"))
    assert fallback.calls == 1 and "ready to continue" not in reply.text
    assert len(client.calls) == 2
    assert "repeated the same sentence" in client.calls[1].text
    assert fallbacks("coach", "repetition") == before + 1

"""Output guards on every model answer: retry with the reason, then the builtin; timeouts and errors
fall back too; fallbacks are counted and logged without text; streaming shows only guarded partials.

Every part is the real one (the builtin coach and mediator as fallbacks, the shipped rules +
classifier screener); only the model is scripted. A fallback is recognised by its result (the reply
equals what the builtin role answers to the same request) and by the fallback metric; the number of
model calls, and what they were asked, by the scripted client's record.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Literal

from llm_helpers import coach_json, coach_request, compose_request, faithful_mediation
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from agents.builtin.coach import BuiltinCoach
from agents.builtin.mediator import BuiltinMediator
from agents.guarded import GuardContext, GuardedCoach, GuardedMediator
from agents.interfaces import (
    ApprovedItem,
    CoachReply,
    CoachRequest,
    ComposeRequest,
    ComposeResult,
    ScreenRequest,
)
from agents.llm.bounded import BoundedClient
from agents.llm.coach import LLMCoach
from agents.llm.mediator import LLMMediator
from agents.safety.judge import LLMJudge
from agents.safety.screener import LayeredScreener, build_builtin_screener
from agents.testing import Hang, ScriptedModelClient, Wait
from orchestrator.models import Mode, Severity
from policies.llm import load_llm_policy

POLICY = load_llm_policy()
GOOD = "It makes sense that the quiet evening left you feeling invisible. What did you need then?"
SAM_SECRET = "I secretly think Alex only cares about appearances at those dinners"
HARSH_DRAFT = {"text": "You always ignore me and you never listen, you are pathetic.", "request": None}
SAFE_DRAFT = {"text": "When the evening went quiet I felt lonely. Would you be willing to call?"}
# concrete threats of violence: the shipped rules hold them as critical (checked in the tests that use them)
THREAT_REPLY = "You could tell Sam: I will kill you if you ignore me again."
THREAT_REPLY_AGAIN = "Next time, say it plainly: I am going to stab you with a knife tonight."
THREAT_DRAFT = {"text": "When the evening went quiet I felt lonely. I will kill you if you ignore me again."}


@functools.cache
def real_screener() -> LayeredScreener:
    """The shipped screener (rules + classifier), built once: the classifier takes a moment to load."""
    screener = build_builtin_screener()
    assert screener.healthy, "the shipped classifier must load"
    return screener


async def assert_held(text: str, direction: Literal["outbound", "draft"] = "outbound") -> None:
    """The real screener flags ``text`` (high or critical): the precondition of the safety tests."""
    verdict = await real_screener().screen(ScreenRequest(text=text, mode=Mode.COUPLE, direction=direction))
    assert verdict.severity in (Severity.HIGH, Severity.CRITICAL), verdict


def fallbacks(role: str, reason: str) -> float:
    return REGISTRY.get_sample_value("accord_model_fallbacks_total", {"role": role, "reason": reason}) or 0.0


def all_fallbacks(role: str) -> float:
    """Every fallback ``role`` has recorded, whatever the reason: unchanged means the model answered."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "accord_model_fallbacks"
        for sample in metric.samples
        if sample.name == "accord_model_fallbacks_total" and sample.labels["role"] == role
    )


def retries(role: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("accord_model_guard_retries_total", {"role": role, "reason": reason}) or 0.0
    )


async def builtin_reply(request: CoachRequest) -> CoachReply:
    """What the builtin coach answers (it is deterministic): a fallback reply must equal it."""
    return await BuiltinCoach().respond(request)


async def builtin_composition(request: ComposeRequest) -> ComposeResult:
    """What the builtin mediator composes (deterministic): a fallback result must equal it."""
    return await BuiltinMediator().compose(request)


def guarded_coach(
    client: ScriptedModelClient, *, timeout: float = 5.0, screener: LayeredScreener | None = None
) -> GuardedCoach:
    return GuardedCoach(
        LLMCoach(client, policy=POLICY),
        BuiltinCoach(),
        screener or real_screener(),
        timeout=timeout,
        policy=POLICY,
        backend="scripted",
    )


# --- coach -------------------------------------------------------------------------------------------
async def test_a_good_answer_is_used_and_remembered() -> None:
    client = ScriptedModelClient([coach_json(GOOD, memory="Alex needs evenings to feel connected.")])
    coach = guarded_coach(client)
    before = all_fallbacks("coach")
    reply = await coach.respond(coach_request(), context=GuardContext(party_id="p1"))
    assert reply.text == GOOD and len(client.calls) == 1
    assert (await coach.save_state(key="p1"))["note"] == "Alex needs evenings to feel connected."
    assert all_fallbacks("coach") == before


async def test_guard_failure_is_retried_with_the_reason_then_accepted() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT), coach_json(GOOD)])
    coach = guarded_coach(client)
    before, before_fallbacks = retries("coach", "tone"), all_fallbacks("coach")
    reply = await coach.respond(coach_request())
    assert reply.text == GOOD and reply.draft is None  # the retry's answer, not the builtin's (it drafts)
    assert all_fallbacks("coach") == before_fallbacks
    assert POLICY.retry_reasons["tone"].strip() not in client.calls[0].system
    assert POLICY.retry_intro in client.calls[1].system
    assert POLICY.retry_reasons["tone"].strip() in client.calls[1].system
    assert retries("coach", "tone") == before + 1


async def test_two_guard_failures_fall_back_to_builtin_and_log_no_text() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT)] * 2)
    coach = guarded_coach(client)
    before = fallbacks("coach", "tone")
    request = coach_request()
    with capture_logs() as logs:
        reply = await coach.respond(request)
    assert reply == await builtin_reply(request) and len(client.calls) == 2
    assert fallbacks("coach", "tone") == before + 1
    event = next(e for e in logs if e["event"] == "model_fallback")
    assert event["role"] == "coach" and event["reason"] == "tone" and event["backend"] == "scripted"
    dumped = json.dumps(logs, default=str)
    for private in (request.text, GOOD, str(HARSH_DRAFT["text"]), "invisible", "pathetic"):
        assert private not in dumped


async def test_other_partys_private_words_never_reach_the_prompt_or_the_party() -> None:
    leaking = coach_json(f"Sam told me: {SAM_SECRET}.")
    client = ScriptedModelClient([leaking, leaking])
    coach = guarded_coach(client)
    before = fallbacks("coach", "leak")
    context = GuardContext(party_id="p1", private_texts=[SAM_SECRET])
    request = coach_request()
    reply = await coach.respond(request, context=context)
    assert reply == await builtin_reply(request) and "appearances" not in reply.text
    assert fallbacks("coach", "leak") == before + 1
    assert POLICY.retry_reasons["leak"].strip() in client.calls[1].system
    for call in client.calls:  # not in the first prompt, not in the retry's reason either
        assert "appearances at those dinners" not in call.text


async def test_approved_words_are_not_a_leak() -> None:
    client = ScriptedModelClient([coach_json(f"Sam shared with you: {SAM_SECRET}. How did that land?")])
    coach = guarded_coach(client)
    before = all_fallbacks("coach")
    context = GuardContext(private_texts=[SAM_SECRET], approved_texts=[SAM_SECRET])
    assert "appearances" in (await coach.respond(coach_request(), context=context)).text
    assert all_fallbacks("coach") == before and len(client.calls) == 1


async def test_a_safe_reply_and_draft_pass_the_screener() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=SAFE_DRAFT)])
    coach = guarded_coach(client)
    before = all_fallbacks("coach")
    reply = await coach.respond(coach_request())
    assert reply.text == GOOD and reply.draft is not None and reply.draft.text == SAFE_DRAFT["text"]
    assert all_fallbacks("coach") == before and len(client.calls) == 1


async def test_an_unsafe_draft_is_screened_and_retried() -> None:
    await assert_held(THREAT_DRAFT["text"], "draft")
    client = ScriptedModelClient([coach_json(GOOD, draft=THREAT_DRAFT), coach_json(GOOD, draft=SAFE_DRAFT)])
    coach = guarded_coach(client)
    before = retries("coach", "safety")
    reply = await coach.respond(coach_request())  # the reply text was fine: only the draft was held
    assert reply.draft is not None and reply.draft.text == SAFE_DRAFT["text"]
    assert retries("coach", "safety") == before + 1
    assert POLICY.retry_reasons["safety"].strip() in client.calls[1].system


async def test_unsafe_answer_falls_back_after_retry() -> None:
    await assert_held(THREAT_REPLY)
    await assert_held(THREAT_REPLY_AGAIN)
    client = ScriptedModelClient([coach_json(THREAT_REPLY), coach_json(THREAT_REPLY_AGAIN)])
    coach = guarded_coach(client)
    before = fallbacks("coach", "safety")
    request = coach_request()
    reply = await coach.respond(request)
    assert reply == await builtin_reply(request) and "kill" not in reply.text
    assert fallbacks("coach", "safety") == before + 1
    assert POLICY.retry_reasons["safety"].strip() in client.calls[1].system


async def test_drafts_are_screened_as_drafts() -> None:
    # the screener's LLM judge is told the direction: the reply goes out as outbound, the draft as draft
    judge_client = ScriptedModelClient(['{"severity": "none", "categories": []}'] * 2)
    screener = LayeredScreener.with_judge(real_screener(), LLMJudge(judge_client))
    coach = guarded_coach(ScriptedModelClient([coach_json(GOOD, draft=SAFE_DRAFT)]), screener=screener)
    assert (await coach.respond(coach_request())).draft is not None
    assert [call.user.splitlines()[0] for call in judge_client.calls] == [
        "Mode: couple. Direction: outbound.",
        "Mode: couple. Direction: draft.",
    ]
    assert GOOD in judge_client.calls[0].user and SAFE_DRAFT["text"] in judge_client.calls[1].user


async def test_too_long_falls_back_with_length_reason() -> None:
    long = coach_json(" ".join(f"That sounds hard, part {i} of it." for i in range(80)))
    client = ScriptedModelClient([long, long])
    coach = guarded_coach(client)
    before = fallbacks("coach", "length")
    request = coach_request()
    assert await coach.respond(request) == await builtin_reply(request)
    assert fallbacks("coach", "length") == before + 1 and len(client.calls) == 2


async def test_timeout_falls_back_quickly() -> None:
    client = ScriptedModelClient([Hang()])
    coach = guarded_coach(client, timeout=0.05)
    before, before_all = fallbacks("coach", "timeout"), all_fallbacks("coach")
    request = coach_request()
    assert await coach.respond(request) == await builtin_reply(request)
    assert fallbacks("coach", "timeout") == before + 1 and all_fallbacks("coach") == before_all + 1
    assert len(client.calls) == 1


async def test_model_error_falls_back() -> None:
    coach = guarded_coach(ScriptedModelClient([ConnectionError("refused")]))
    before = fallbacks("coach", "error")
    request = coach_request()
    assert await coach.respond(request) == await builtin_reply(request)
    assert fallbacks("coach", "error") == before + 1


async def test_malformed_output_is_reparsed_retried_or_falls_back() -> None:
    before_all = all_fallbacks("coach")
    fenced = "```json\n" + coach_json(GOOD) + "\n```"
    client = ScriptedModelClient([fenced])
    assert (await guarded_coach(client).respond(coach_request())).text == GOOD
    assert len(client.calls) == 1  # tolerant parse, one call

    client = ScriptedModelClient(['{"text": ', coach_json(GOOD)])
    assert (await guarded_coach(client).respond(coach_request())).text == GOOD
    assert len(client.calls) == 2  # format retry
    assert all_fallbacks("coach") == before_all

    before = fallbacks("coach", "unparsable")
    request = coach_request()
    coach = guarded_coach(ScriptedModelClient(['{"text": ', '{"draft": 1}']))
    assert await coach.respond(request) == await builtin_reply(request)
    assert fallbacks("coach", "unparsable") == before + 1


async def test_builtin_mode_runs_the_builtin_coach_with_the_same_api() -> None:
    coach = GuardedCoach(None, BuiltinCoach(), real_screener(), policy=POLICY)
    before = all_fallbacks("coach")
    request = coach_request()
    expected = await builtin_reply(request)
    assert await coach.respond(request, context=GuardContext(party_id="p")) == expected
    items = [item async for item in coach.respond_stream(request)]
    assert items == [expected]
    assert await coach.save_state(key="p") == {}
    assert all_fallbacks("coach") == before  # builtin by choice is not a fallback


async def test_concurrent_calls_are_bounded_per_role() -> None:
    release = asyncio.Event()
    client = ScriptedModelClient([Wait(release, coach_json(GOOD)) for _ in range(6)])
    bounded = BoundedClient(client, asyncio.Semaphore(2))
    coach = GuardedCoach(LLMCoach(bounded, policy=POLICY), BuiltinCoach(), real_screener(), policy=POLICY)
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
    coach = guarded_coach(client)
    items = [item async for item in coach.respond_stream(coach_request())]
    partials, final = items[:-1], items[-1]
    assert isinstance(final, CoachReply) and final.text == text
    assert len(partials) == 2  # whole sentences only; the last one arrives with the final frame
    assert all(isinstance(p, str) for p in partials)
    assert text.startswith("".join(partials))  # type: ignore[arg-type]


async def test_stream_stops_before_a_leaking_sentence() -> None:
    leaking = coach_json(f"That sounds lonely. Sam told me: {SAM_SECRET}. What now?")
    client = ScriptedModelClient([leaking, coach_json(GOOD)])
    coach = guarded_coach(client)
    context = GuardContext(private_texts=[SAM_SECRET])
    items = [item async for item in coach.respond_stream(coach_request(), context=context)]
    shown = "".join(i for i in items if isinstance(i, str))
    assert shown == "That sounds lonely. "
    assert isinstance(items[-1], CoachReply) and items[-1].text == GOOD  # the retry replaced it
    assert client.calls[1].stream is False and POLICY.retry_reasons["leak"].strip() in client.calls[1].system


async def test_stream_that_hangs_falls_back_after_its_partials() -> None:
    client = ScriptedModelClient([Hang(partial='{"text": "I hear you. That sounds')])
    coach = guarded_coach(client, timeout=0.05)
    before = fallbacks("coach", "timeout")
    request = coach_request()
    items = [item async for item in coach.respond_stream(request)]
    assert items[:-1] == ["I hear you. "]
    assert items[-1] == await builtin_reply(request)
    assert fallbacks("coach", "timeout") == before + 1


async def test_stream_final_that_fails_guards_is_retried() -> None:
    client = ScriptedModelClient([coach_json(GOOD, draft=HARSH_DRAFT), coach_json(GOOD)])
    coach = guarded_coach(client)
    before = all_fallbacks("coach")
    items = [item async for item in coach.respond_stream(coach_request())]
    assert isinstance(items[-1], CoachReply) and items[-1].text == GOOD and items[-1].draft is None
    assert len(client.calls) == 2 and all_fallbacks("coach") == before


# --- mediator -------------------------------------------------------------------------------------------
def guarded_mediator(client: ScriptedModelClient, *, timeout: float = 5.0) -> GuardedMediator:
    return GuardedMediator(
        LLMMediator(client, policy=POLICY),
        BuiltinMediator(),
        real_screener(),
        timeout=timeout,
        policy=POLICY,
        backend="scripted",
    )


ALEX_VENTING = "Sam is so selfish with the phone every single night and I am furious about it"


async def test_faithful_mediation_is_published_with_its_agreements() -> None:
    request = compose_request()
    before = all_fallbacks("mediator")
    mediator = guarded_mediator(ScriptedModelClient([faithful_mediation(request)]))
    result = await mediator.compose(request, context=GuardContext(private_texts=[ALEX_VENTING]))
    assert result.text.startswith("You are both here") and all_fallbacks("mediator") == before
    assert [a.source_draft_ids for a in result.agreements] == [["d1"]]


async def test_private_text_never_in_the_mediator_prompt_and_leaks_fall_back() -> None:
    request = compose_request()
    leaking = json.dumps({"text": f"{json.loads(faithful_mediation(request))['text']} Also: {ALEX_VENTING}."})
    client = ScriptedModelClient([leaking, leaking])
    mediator = guarded_mediator(client)
    before = fallbacks("mediator", "leak")
    result = await mediator.compose(request, context=GuardContext(private_texts=[ALEX_VENTING]))
    assert result == await builtin_composition(request) and "selfish" not in result.text
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
    mediator = guarded_mediator(client)
    before, before_fallbacks = retries("mediator", "fidelity"), all_fallbacks("mediator")
    result = await mediator.compose(request)
    assert result.text.startswith("You are both here") and "Alex wrote:" in result.text  # the retry's
    assert all_fallbacks("mediator") == before_fallbacks
    assert POLICY.retry_reasons["fidelity"].strip() in client.calls[1].system
    assert retries("mediator", "fidelity") == before + 1


async def test_missing_attribution_is_retried() -> None:
    request = compose_request()
    item = request.items[0]
    unattributed = json.dumps(
        {"text": f'You are both here because this matters. Someone wrote: "{item.text}"'}
    )
    client = ScriptedModelClient([unattributed, faithful_mediation(request)])
    mediator = guarded_mediator(client)
    result = await mediator.compose(request)
    assert result.text == json.loads(faithful_mediation(request))["text"]
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
    mediator = guarded_mediator(client)
    before_all = all_fallbacks("mediator")
    accepted = await mediator.compose(request)
    # the model's own message, word for word (the builtin's quotes Sam too, so compare it all)
    assert accepted.text == json.loads(faithful_mediation(request))["text"]
    assert "You never ask" in accepted.text
    assert all_fallbacks("mediator") == before_all and len(client.calls) == 1
    before = fallbacks("mediator", "tone")
    assert await mediator.compose(request) == await builtin_composition(request)
    assert fallbacks("mediator", "tone") == before + 1


async def test_mediator_timeout_and_empty_requests() -> None:
    mediator = guarded_mediator(ScriptedModelClient([Hang()]), timeout=0.05)
    before = fallbacks("mediator", "timeout")
    request = compose_request()
    assert await mediator.compose(request) == await builtin_composition(request)
    assert fallbacks("mediator", "timeout") == before + 1

    # nothing approved: the builtin composes it without asking the model, and that is no fallback
    empty_client = ScriptedModelClient([])
    mediator = guarded_mediator(empty_client)
    before_all = all_fallbacks("mediator")
    empty = compose_request(items=[])
    assert await mediator.compose(empty) == await builtin_composition(empty)
    assert empty_client.calls == [] and all_fallbacks("mediator") == before_all


async def test_a_rejected_stream_is_stopped_and_frees_its_slot_for_the_retry() -> None:
    # the leaking stream would never end on its own; with one slot, the retry only runs if it was stopped
    leaking = f'{{"text": "That sounds lonely. Sam told me: {SAM_SECRET}. And'
    client = ScriptedModelClient([Hang(partial=leaking), coach_json(GOOD)])
    bounded = BoundedClient(client, asyncio.Semaphore(1))
    coach = GuardedCoach(
        LLMCoach(bounded, policy=POLICY), BuiltinCoach(), real_screener(), timeout=5, policy=POLICY
    )
    items = [i async for i in coach.respond_stream(coach_request(), GuardContext(private_texts=[SAM_SECRET]))]
    assert items[-1] == CoachReply(text=GOOD) and client.in_flight == 0


async def test_looping_model_output_falls_back_after_one_retry() -> None:
    """A small model that repeats itself is retried once with the reason, then replaced by builtin."""
    loop = "I am here with you. I am ready to continue. I am ready to continue. I am ready to continue."
    client = ScriptedModelClient([coach_json(loop), coach_json(loop)])
    coach = guarded_coach(client)
    before = fallbacks("coach", "repetition")
    request = coach_request()
    reply = await coach.respond(request, context=GuardContext(party_id="p1"))
    assert reply == await builtin_reply(request) and "ready to continue" not in reply.text
    assert len(client.calls) == 2
    assert "repeated the same sentence" in client.calls[1].text
    assert fallbacks("coach", "repetition") == before + 1

"""The session's safety path: holds, separate work, fail-closed screening, and what the other party
can (not) observe."""

from __future__ import annotations

from typing import Any

import pytest

from agents.interfaces import SafetyScreener, ScreenRequest
from agents.roles import Roles
from orchestrator.clock import ManualClock
from orchestrator.events import Event
from orchestrator.harness import InProcessDriver
from orchestrator.memory_store import MemoryStore
from orchestrator.models import Verdict
from orchestrator.review import MemoryReviewQueue
from orchestrator.session import SessionService
from tests.orchestrator.session_helpers import builtin_roles, joint_session, make_driver, stage

DISCLOSURE = "He checks my phone every night and last week he put his hands around my neck."


def _observable(events: list[Event]) -> list[dict[str, Any]]:
    """What a party could notice: everything but the wall-clock instants."""
    return [e.model_dump(exclude={"at"}) for e in events]


async def test_other_party_cannot_tell_disclosure_from_a_break() -> None:
    # Two identical sessions; in one Sam discloses abuse, in the other Sam presses Pause.
    streams = []
    for action in ("disclose", "pause"):
        store = MemoryStore()
        d = make_driver(store, review=MemoryReviewQueue(ManualClock()))
        sid, a, b = await joint_session(d)
        before = await store.last_seq(sid, a)
        if action == "disclose":
            await d.service.say(sid, b, DISCLOSURE)
        else:
            await d.service.pause(sid, b)
        d.clock.advance(20 * 60)
        await d.service.tick()
        streams.append(_observable(await d.service.events(sid, a, after_seq=before)))
        view = await d.service.view(sid, a)
        streams[-1].append(view.model_dump(exclude={"session_id", "invite_code", "facilitator_code"}))
    disclosed, paused = streams
    assert disclosed == paused
    assert disclosed, "Alex should see a break notice"


async def test_critical_message_holds_and_opens_a_case() -> None:
    store = MemoryStore()
    review = MemoryReviewQueue(ManualClock())
    d = make_driver(store, review=review)
    sid, a, b = await joint_session(d)
    await d.service.say(sid, b, "I'm going to kill myself tonight, I have the pills ready")
    assert await stage(d) == "held"
    await d.sync()
    safety = [e for e in d.rooms["Sam"].events if e.type == "safety"]
    assert safety and safety[-1].resources
    assert safety[-1].severity == "critical"
    assert not [e for e in d.rooms["Alex"].events if e.type == "safety"]
    assert (await d.service.view(sid, a)).stage == "paused"
    queue = await review.queue()
    assert len(queue) == 1 and queue[0].session_id == sid and queue[0].party_id == b
    # Nothing is shared while held, even if Alex approves a draft.
    await d.service.say(sid, a, "I feel shut out when Sam goes quiet, I need to know we're okay")
    draft = await d.latest_draft("Alex")
    await d.service.share(sid, a, draft, "send")
    await d.sync()
    assert not [e for e in d.rooms["Sam"].events if e.type == "shared"]


class _BrokenScreener(SafetyScreener):
    async def screen(self, request: ScreenRequest) -> Verdict:
        raise RuntimeError("classifier backend is down")


class _GarbageScreener(SafetyScreener):
    async def screen(self, request: ScreenRequest) -> Verdict:
        return "looks fine"  # type: ignore[return-value]


@pytest.mark.parametrize("screener", [_BrokenScreener(), _GarbageScreener()])
async def test_screener_failure_fails_closed(screener: SafetyScreener) -> None:
    roles = builtin_roles()
    clock = ManualClock()
    store = MemoryStore()
    service = SessionService(store, Roles(screener, roles.coach, roles.mediator), clock)
    d = InProcessDriver(service, clock)
    sid, a, b = await joint_session(d)
    await service.say(sid, a, "Can we talk about the holidays?")
    assert (await store.load(sid)).stage.value == "held"
    events = await service.events(sid, a)
    assert not [e for e in events if e.type == "coach"]


async def test_positive_intake_keeps_work_separate() -> None:
    store = MemoryStore()
    review = MemoryReviewQueue(ManualClock())
    d = make_driver(store, review=review)
    await d.start("couple", "Alex")
    a = d.pid("Alex")
    await d.service.intake(d.session_id, a, skip=True)
    await d.invite("Sam")
    b = d.pid("Sam")
    questions = [e for e in await d.service.events(d.session_id, b) if e.type == "intake"][0].questions
    assert questions
    first = str(questions[0]["id"])
    before = await store.last_seq(d.session_id, a)
    await d.service.intake(d.session_id, b, answers={first: True})
    state = await store.load(d.session_id)
    assert state.stage.value == "separate"
    # To Alex, Sam is simply still settling in: no event at all, the stage still reads intake.
    assert await store.last_seq(d.session_id, a) == before
    assert (await d.service.view(d.session_id, a)).stage == "intake"
    assert len(await review.queue()) == 1
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do: nothing joint while separate
        await d.service.pause(d.session_id, a)


async def test_reviewer_resume_reopens_readiness_check() -> None:
    store = MemoryStore()
    clock = ManualClock()
    review = MemoryReviewQueue(clock)
    service = SessionService(store, builtin_roles(), clock, review=review)
    d = InProcessDriver(service, clock)
    sid, a, b = await joint_session(d)
    await service.say(sid, b, "He said he would hurt me if I left")
    assert (await store.load(sid)).stage.value == "held"
    case = (await review.queue())[0]
    await review.claim(case.id, "rev-1")
    decided = await review.decide(
        case.id, "rev-1", "resume", "Spoke with Sam; safe to continue with support."
    )
    await service.apply_review_decision(decided)
    # The break Alex was shown is still running; when it ends, the readiness check follows.
    assert (await store.load(sid)).stage.value == "paused"
    clock.advance(20 * 60)
    await service.tick()
    assert (await store.load(sid)).stage.value == "ready_check"


async def test_reviewer_resume_looks_like_the_partner_coming_back() -> None:
    """Disclose → reviewer resumes → Sam says ready, versus: Sam pauses → Sam says ready."""
    streams = []
    for action in ("disclose", "pause"):
        store = MemoryStore()
        clock = ManualClock()
        review = MemoryReviewQueue(clock)
        service = SessionService(store, builtin_roles(), clock, review=review)
        d = InProcessDriver(service, clock)
        sid, a, b = await joint_session(d)
        before = await store.last_seq(sid, a)
        if action == "disclose":
            await service.say(sid, b, DISCLOSURE)
            case = (await review.queue())[0]
            await review.claim(case.id, "rev-1")
            decided = await review.decide(
                case.id, "rev-1", "resume", "Safety plan in place; Sam wants to continue."
            )
            await service.apply_review_decision(decided)
        else:
            await service.pause(sid, b)
        clock.advance(5 * 60)
        await service.ready(sid, b)
        await service.ready(sid, a)
        streams.append(_observable(await service.events(sid, a, after_seq=before)))
        assert (await store.load(sid)).stage.value == "joint"
    assert streams[0] == streams[1]


async def test_hold_before_joint_work_shows_nothing_to_the_other() -> None:
    store = MemoryStore()
    d = make_driver(store, review=MemoryReviewQueue(ManualClock()))
    await d.start("couple", "Alex")
    a = d.pid("Alex")
    await d.invite("Sam")
    b = d.pid("Sam")
    before = await store.last_seq(d.session_id, a)
    await d.service.say(d.session_id, b, DISCLOSURE)
    assert await stage(d) == "held"
    assert await store.last_seq(d.session_id, a) == before
    assert (await d.service.view(d.session_id, a)).stage == "intake"


async def test_self_harm_brings_cssrs_followups_and_a_plan_holds() -> None:
    store = MemoryStore()
    review = MemoryReviewQueue(ManualClock())
    d = make_driver(store, review=review)
    sid, a, b = await joint_session(d)
    await d.service.say(sid, a, "Some days I wish I could just disappear and not wake up")
    await d.sync()
    safety = [e for e in d.rooms["Alex"].events if e.type == "safety"]
    assert safety, "thoughts of not waking up deserve resources"
    ids = {str(q["id"]) for q in safety[-1].questions}
    assert {"cssrs_wish_dead", "cssrs_plan"} <= ids
    assert await stage(d) in ("joint", "agreement")  # ideation alone: support, not a hold
    await d.service.answer_followup(sid, a, {"cssrs_wish_dead": True, "cssrs_plan": True})
    assert await stage(d) == "held"
    assert len(await review.queue()) == 1
    assert (await d.service.view(sid, b)).stage == "paused"


async def test_followup_without_intent_keeps_going() -> None:
    store = MemoryStore()
    d = make_driver(store, review=MemoryReviewQueue(ManualClock()))
    sid, a, b = await joint_session(d)
    await d.service.answer_followup(
        sid, a, {"cssrs_wish_dead": True, "cssrs_plan": False, "cssrs_intent": None}
    )
    assert await stage(d) == "joint"
    assert (await store.load(sid)).parties[a].cssrs_answered

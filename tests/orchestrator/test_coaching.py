"""Coach replies streamed to the speaking party's own room (orchestrator/coaching.py), end to end
through the session service on each store: the LLM coach on a scripted model client, guarded as in
production, with the real screener and the builtin coach as its fallback."""

from __future__ import annotations

import asyncio
import itertools

from prometheus_client import REGISTRY

from agents.builtin.coach import BuiltinCoach
from agents.guarded import GuardedCoach
from agents.guards import leak_problems
from agents.llm.coach import LLMCoach
from agents.roles import Roles
from agents.testing import ScriptedModelClient, scripted_json
from orchestrator.clock import ManualClock
from orchestrator.events import CoachEvent, CoachPartialEvent, Event, SaidEvent, StageEvent
from orchestrator.harness import InProcessDriver
from orchestrator.session import SessionService
from orchestrator.store import SessionStore, Subscription
from tests.orchestrator.session_helpers import builtin_roles, joint_session

THREE = (
    "It makes sense that the quiet evening left you feeling alone. "
    "You wanted to feel noticed by Sam. "
    "What would help you most right now?"
)
GOOD = "It makes sense that the quiet evening left you feeling invisible. What did you need then?"
SAM_SAYS = "I secretly think Alex only cares about appearances at those dinners and nothing else"
SAM_REPLY = "Thank you for saying that here. What would you like Alex to understand?"
LEAKING = f"That sounds lonely. Sam told me that {SAM_SAYS}. What now?"
ALEX_SAYS = "Sam ignored my texts all evening and I felt invisible."


def model_coach(client: ScriptedModelClient) -> GuardedCoach:
    return GuardedCoach(
        LLMCoach(client), BuiltinCoach(), builtin_roles().screener, timeout=30.0, backend="scripted"
    )


def driver_with(store: SessionStore, coach: GuardedCoach) -> InProcessDriver:
    base = builtin_roles()
    clock = ManualClock()
    roles = Roles(screener=base.screener, coach=coach, mediator=base.mediator)
    return InProcessDriver(SessionService(store, roles, clock), clock)


async def until_coach(sub: Subscription) -> list[Event]:
    """Live events up to and including the next ``coach`` event."""
    got: list[Event] = []

    async def read() -> None:
        async for event in sub:
            got.append(event)
            if event.type == "coach":
                return

    await asyncio.wait_for(read(), timeout=10)
    return got


async def nothing_before_marker(
    store: SessionStore, session_id: str, room: str, sub: Subscription
) -> list[Event]:
    """What ``sub`` received before a marker appended now: a room's live events arrive in order,
    so anything sent to it earlier (a stray partial) would come before the marker."""
    await store.append(session_id, room, StageEvent(stage="joint", text="marker"))
    got: list[Event] = []

    async def read() -> None:
        async for event in sub:
            if isinstance(event, StageEvent) and event.text == "marker":
                return
            got.append(event)

    await asyncio.wait_for(read(), timeout=10)
    return got


def partials_total() -> float:
    return REGISTRY.get_sample_value("accord_coach_partials_total") or 0.0


def fallbacks(reason: str) -> float:
    labels = {"role": "coach", "reason": reason}
    return REGISTRY.get_sample_value("accord_model_fallbacks_total", labels) or 0.0


async def test_partials_stream_to_the_speaker_only_then_the_final_replaces_them(store: SessionStore) -> None:
    client = ScriptedModelClient([scripted_json(THREE, memory="Alex wants to feel noticed in the evenings.")])
    d = driver_with(store, model_coach(client))
    sid, a, b = await joint_session(d)
    alex, sam = await store.subscribe(sid, a), await store.subscribe(sid, b)
    before = partials_total()

    await d.service.say(sid, a, ALEX_SAYS)

    got = await until_coach(alex)
    said, *partials, coach = got
    assert isinstance(said, SaidEvent) and isinstance(coach, CoachEvent)
    assert all(isinstance(p, CoachPartialEvent) and p.seq == 0 for p in partials)
    texts = [p.text for p in partials if isinstance(p, CoachPartialEvent)]
    assert len(texts) >= 2
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
    assert THREE.startswith(texts[-1])  # cumulative: each frame carries the whole reply so far
    assert {p.reply_to for p in partials if isinstance(p, CoachPartialEvent)} == {said.message_id}
    assert coach.text == THREE and coach.reply_to == said.message_id
    assert partials_total() == before + len(texts)
    # Nothing reaches the other room, and the log holds no partials.
    assert await nothing_before_marker(store, sid, b, sam) == []
    logged = await store.read(sid, a)
    assert not [e for e in logged if e.type == "coach_partial"]
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
    assert logged[-1] == coach
    # The coach's memory is kept as with a one-piece reply.
    note = (await store.load(sid)).parties[a].coach_state["note"]
    assert note == "Alex wants to feel noticed in the evenings."
    await alex.close()
    await sam.close()


async def test_partials_never_reach_a_facilitator_or_the_other_party(store: SessionStore) -> None:
    client = ScriptedModelClient([scripted_json(THREE)])
    d = driver_with(store, model_coach(client))
    sid, a, b = await joint_session(d, mode="workplace")
    state = await store.load(sid)
    assert state.facilitator_code is not None
    hr = (await d.service.accept_invite(state.facilitator_code, "Hana")).party_id
    rooms = {room: await store.subscribe(sid, room) for room in (a, b, hr)}

    await d.service.say(sid, a, ALEX_SAYS)

    assert [e.type for e in await until_coach(rooms[a])].count("coach_partial") >= 2
    for room in (b, hr):
        assert await nothing_before_marker(store, sid, room, rooms[room]) == []
    for sub in rooms.values():
        await sub.close()


async def test_a_stream_that_leaks_the_other_partys_words_is_stopped_before_the_leak(
    store: SessionStore,
) -> None:
    client = ScriptedModelClient([scripted_json(SAM_REPLY), scripted_json(LEAKING), scripted_json(GOOD)])
    d = driver_with(store, model_coach(client))
    sid, a, b = await joint_session(d)
    await d.service.say(sid, b, SAM_SAYS)  # Sam's private words, which Alex's coach must never show
    alex = await store.subscribe(sid, a)

    await d.service.say(sid, a, ALEX_SAYS)

    *partials, coach = (await until_coach(alex))[1:]
    shown = [p.text for p in partials if isinstance(p, CoachPartialEvent)]
    assert shown == ["That sounds lonely. "]  # the sentence before the leak; nothing after it
    assert not any(leak_problems(text, [SAM_SAYS], []) for text in shown)
    assert isinstance(coach, CoachEvent) and coach.text == GOOD  # the retry replaces the partial
    assert client.calls[2].stream is False
    await alex.close()


async def test_when_the_retry_leaks_too_the_builtin_reply_replaces_the_partial(store: SessionStore) -> None:
    client = ScriptedModelClient(
        [scripted_json(SAM_REPLY), scripted_json(LEAKING), scripted_json(f"Sam said: {SAM_SAYS}.")]
    )
    d = driver_with(store, model_coach(client))
    sid, a, b = await joint_session(d)
    await d.service.say(sid, b, SAM_SAYS)
    alex = await store.subscribe(sid, a)
    before = fallbacks("leak")

    await d.service.say(sid, a, ALEX_SAYS)

    *partials, coach = (await until_coach(alex))[1:]
    assert [p.text for p in partials if isinstance(p, CoachPartialEvent)] == ["That sounds lonely. "]
    assert isinstance(coach, CoachEvent) and not leak_problems(coach.text, [SAM_SAYS], [])
    assert coach.text not in (LEAKING, GOOD) and fallbacks("leak") == before + 1
    await alex.close()


async def test_a_model_that_does_not_stream_sends_no_partials(store: SessionStore) -> None:
    client = ScriptedModelClient([scripted_json(THREE)], streaming=False)
    d = driver_with(store, model_coach(client))
    sid, a, _ = await joint_session(d)
    alex = await store.subscribe(sid, a)
    before = partials_total()

    await d.service.say(sid, a, ALEX_SAYS)

    assert [e.type for e in await until_coach(alex)] == ["said", "coach"]
    last = (await store.read(sid, a))[-1]
    assert isinstance(last, CoachEvent) and last.text == THREE
    assert partials_total() == before
    await alex.close()


async def test_the_builtin_coach_sends_no_partials(store: SessionStore) -> None:
    d = driver_with(store, GuardedCoach(None, BuiltinCoach(), builtin_roles().screener))
    sid, a, _ = await joint_session(d)
    alex = await store.subscribe(sid, a)

    await d.service.say(sid, a, ALEX_SAYS)

    assert [e.type for e in await until_coach(alex)] == ["said", "coach"]
    await alex.close()

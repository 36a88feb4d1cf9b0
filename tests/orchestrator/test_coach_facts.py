"""orchestrator/coaching.py: the session facts a coach is given (only what that party's room shows)."""

from __future__ import annotations

import re

from orchestrator import coaching, notices
from orchestrator.clock import ManualClock
from orchestrator.memory_store import MemoryStore
from orchestrator.review import MemoryReviewQueue
from tests.orchestrator.session_helpers import draft_via_coach, joint_session, make_driver

DISCLOSURE = "He checks my phone every night and last week he put his hands around my neck."


async def test_a_hold_on_the_other_side_reads_to_the_coach_exactly_like_a_break() -> None:
    seen = []
    for action in ("disclose", "pause"):
        store = MemoryStore()
        d = make_driver(store, review=MemoryReviewQueue(ManualClock()))
        sid, a, b = await joint_session(d)
        if action == "disclose":
            await d.service.say(sid, b, DISCLOSURE)
        else:
            await d.service.pause(sid, b)
        state = await store.load(sid)
        facts = coaching.session_facts(state, state.parties[a], 20)
        await d.service.say(sid, a, "Sam paused. Is Sam leaving me?")
        await d.sync()
        reply = [e.text for e in d.rooms["Alex"].events if e.type == "coach"][-1]
        seen.append((facts, reply))
    (held_facts, held_reply), (paused_facts, paused_reply) = seen
    assert held_facts == paused_facts
    assert held_reply == paused_reply
    assert paused_facts.on_break is not None and paused_facts.on_break.by == "other"
    assert paused_facts.on_break.due_back in paused_reply
    assert re.search(r"not leaving|not an exit|isn't leaving", paused_reply)


async def test_the_break_end_is_the_time_the_room_was_told() -> None:
    store = MemoryStore()
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    await d.service.pause(sid, b)
    state = await store.load(sid)
    assert state.timeout is not None
    alex = coaching.session_facts(state, state.parties[a], 20)
    sam = coaching.session_facts(state, state.parties[b], 20)
    assert alex.on_break is not None and alex.on_break.by == "other"
    assert sam.on_break is not None and sam.on_break.by == "you"
    assert alex.on_break.due_back == notices.clock_text(state.timeout.ends_at)
    await d.service.say(sid, a, "Sam paused. Is Sam leaving me?")
    await d.sync()
    reply = [e.text for e in d.rooms["Alex"].events if e.type == "coach"][-1]
    assert alex.on_break.due_back in reply and "break" in reply


async def test_drafts_are_counted_for_their_author_only() -> None:
    store = MemoryStore()
    d = make_driver(store)
    await d.start("couple", "Alex")
    sid, a = d.session_id, d.pid("Alex")
    await d.service.intake(sid, a, skip=True)
    draft = await draft_via_coach(d, "Alex", "Sam went out last night and didn't answer my texts.")
    state = await store.load(sid)
    assert coaching.session_facts(state, state.parties[a], 20).drafts_pending == 1
    await d.service.share(sid, a, draft, "send")
    await d.invite("Sam")
    state = await store.load(sid)
    b = d.pid("Sam")
    alex = coaching.session_facts(state, state.parties[a], 20)
    sam = coaching.session_facts(state, state.parties[b], 20)
    assert (alex.drafts_pending, alex.drafts_waiting, alex.drafts_shared) == (0, 1, 0)
    assert (sam.drafts_pending, sam.drafts_waiting, sam.drafts_shared) == (0, 0, 0)
    await d.service.intake(sid, b, skip=True)
    await d.service.ready(sid, a)
    await d.service.ready(sid, b)
    state = await store.load(sid)
    alex = coaching.session_facts(state, state.parties[a], 20)
    assert (alex.drafts_waiting, alex.drafts_shared) == (0, 1)
    await d.service.say(sid, b, "I didn't know you were worried.")
    state = await store.load(sid)
    assert coaching.session_facts(state, state.parties[b], 20).other_shared is False  # Sam spoke after it
    assert coaching.session_facts(state, state.parties[a], 20).other_shared is False  # nothing from Sam

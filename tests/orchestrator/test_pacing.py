"""Pacing: flood signals, break suggestions, negotiated timeouts on the manual clock, readiness,
and naming the pursue–withdraw cycle."""

from __future__ import annotations

import pytest

from orchestrator import pacing
from orchestrator.errors import WrongStage
from orchestrator.models import Party
from policies.protocol import load_protocols
from tests.orchestrator.session_helpers import draft_via_coach, joint_session, make_driver, stage

PROTOCOLS = load_protocols()
COUPLE = PROTOCOLS.modes["couple"].pacing
MARKERS = PROTOCOLS.flood_markers


def _party() -> Party:
    return Party(id="p1", name="Alex", joined_at=0.0)


def test_calm_messages_do_not_flood() -> None:
    p = _party()
    now = 1000.0
    for i in range(3):
        reading = pacing.read_flood(
            p, now + i * 120, "I'd like to talk about the weekend plans.", COUPLE, MARKERS
        )
        assert not reading.flooded
    assert reading.signals == []


def test_burst_capitals_and_absolutes_flood_and_suggest_once() -> None:
    p = _party()
    now = 1000.0
    readings = [
        pacing.read_flood(p, now + i * 5, "YOU NEVER LISTEN TO ME, I AM SO FED UP", COUPLE, MARKERS)
        for i in range(4)
    ]
    assert readings[-1].flooded
    assert {"burst", "capitals", "absolutes", "intensity"} <= set(readings[-1].signals)
    assert sum(r.suggest_break for r in readings) == 1  # not nagged on every message


def test_flood_score_fades_with_calm_time() -> None:
    p = _party()
    pacing.read_flood(p, 0.0, "I HATE THIS, YOU ALWAYS DO THIS", COUPLE, MARKERS)
    hot = p.flood_score
    reading = pacing.read_flood(p, 30 * 60.0, "ok, I've calmed down a bit", COUPLE, MARKERS)
    assert reading.score < hot
    assert not reading.flooded


def test_cycle_named_when_one_pursues_and_other_is_silent() -> None:
    alex, sam = _party(), Party(id="p2", name="Sam", joined_at=0.0)
    named = [pacing.read_cycle(alex, sam, 100.0 + i, COUPLE) for i in range(COUPLE.pursue_messages)]
    assert named[-1] and not any(named[:-1])
    assert sam.cycle_role_pending == "withdrawer"
    # Once named, not again for a while.
    assert not pacing.read_cycle(alex, sam, 200.0, COUPLE)


def test_no_cycle_alone_or_in_conversation() -> None:
    alex, sam = _party(), Party(id="p2", name="Sam", joined_at=0.0)
    assert not any(pacing.read_cycle(alex, None, float(i), COUPLE) for i in range(10))
    for i in range(10):  # taking turns is a conversation, not a chase
        assert not pacing.read_cycle(alex if i % 2 else sam, sam if i % 2 else alex, float(i), COUPLE)


async def test_flooded_party_gets_break_suggestion_not_pressure(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    for _ in range(4):
        await d.service.say(sid, a, "WHY WON'T YOU ANSWER ME?? YOU ALWAYS DO THIS!!")
        d.clock.advance(5)
    await d.sync()
    suggestions = [e for e in d.rooms["Alex"].events if e.type == "timeout" and e.state == "suggested"]
    assert suggestions
    coach = [e for e in d.rooms["Alex"].events if e.type == "coach"]
    assert any(e.suggestion == "break" for e in coach)
    assert not [e for e in d.rooms["Sam"].events if e.type == "timeout"]


async def test_pause_runs_the_negotiated_timeout_on_the_clock(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    await d.service.pause(sid, b)
    assert await stage(d) == "paused"
    await d.sync()
    notice = [e for e in d.rooms["Alex"].events if e.type == "timeout"][-1]
    assert notice.state == "started"
    assert "Sam needs a moment, and isn't leaving" in notice.text
    assert notice.ends_at == d.clock.now() + 20 * 60
    with pytest.raises(WrongStage):
        await d.service.pause(sid, a)
    # Private coaching goes on during the pause, but nothing is shared.
    draft = await draft_via_coach(d, "Alex", "I get scared when Sam goes quiet, I need to know we're okay.")
    await d.service.share(sid, a, draft, "send")
    await d.sync()
    assert not [e for e in d.rooms["Sam"].events if e.type == "shared"]
    # Time passes: nothing happens before the break ends ...
    d.clock.advance(19 * 60)
    await d.service.tick()
    assert await stage(d) == "paused"
    d.clock.advance(60)
    await d.service.tick()
    assert await stage(d) == "ready_check"
    await d.sync()
    assert [e for e in d.rooms["Sam"].events if e.type == "timeout"][-1].state == "ended"
    # ... and the readiness check reopens the joint room, delivering what was approved meanwhile.
    await d.service.ready(sid, a)
    await d.service.ready(sid, b)
    assert await stage(d) in ("joint", "agreement")
    await d.sync()
    assert len([e for e in d.rooms["Sam"].events if e.type == "shared"]) == 1


async def test_both_ready_early_ends_the_break(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    await d.service.pause(sid, a)
    await d.service.ready(sid, a)
    await d.sync()
    assert any(e.type == "stage" and "ready whenever you are" in e.text for e in d.rooms["Sam"].events)
    await d.service.ready(sid, b)
    assert await stage(d) == "joint"
    assert (await store.load(sid)).timeout is None


async def test_pause_before_the_joint_room_is_refused(store) -> None:
    d = make_driver(store)
    await d.start("couple", "Alex")
    with pytest.raises(WrongStage) as info:
        await d.service.pause(d.session_id, d.pid("Alex"))
    assert info.value.code == "nothing_to_pause"
    with pytest.raises(WrongStage):
        await d.service.ready(d.session_id, d.pid("Alex"))


async def test_pursue_withdraw_named_to_each_coach(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    for text in [
        "Are you there?",
        "Please answer me, I need to know we're okay.",
        "I don't understand why you go quiet like this.",
        "I keep reaching out and you do not reply.",
    ]:
        await d.service.say(sid, a, text)
        d.clock.advance(120)
    await d.sync()
    alex_coach = [e for e in d.rooms["Alex"].events if e.type == "coach"]
    assert alex_coach[-1].suggestion == "cycle"
    await d.service.say(sid, b, "I just need some space right now.")
    await d.sync()
    sam_coach = [e for e in d.rooms["Sam"].events if e.type == "coach"]
    assert sam_coach[-1].suggestion == "cycle"
    assert sam_coach[-1].text != alex_coach[-1].text
    for event in alex_coach + sam_coach:  # the cycle is the problem, not the person
        lowered = event.text.lower()
        assert "your fault" not in lowered and "you're too needy" not in lowered

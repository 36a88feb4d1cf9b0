"""The session core end to end: stages, consent, sharing, agreements, solo start, restart."""

from __future__ import annotations

import pytest

from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound, WrongStage
from orchestrator.redis_store import RedisStore
from orchestrator.session import SessionService
from tests.orchestrator.session_helpers import (
    builtin_roles,
    draft_via_coach,
    joint_session,
    make_driver,
    stage,
)

HURT = "You never answer my texts when you go out. I felt invisible all night."


async def test_solo_start_then_invite_walks_the_stages(store) -> None:
    d = make_driver(store)
    await d.start("couple", "Alex")
    assert await stage(d) == "intake"
    a = d.pid("Alex")
    # Everything private works before anyone else joins.
    draft = await draft_via_coach(d, "Alex", HURT)
    await d.service.share(d.session_id, a, draft, "send")
    await d.service.intake(d.session_id, a, skip=True)
    assert await stage(d) == "waiting"
    await d.invite("Sam")
    assert await stage(d) == "intake"  # Sam has intake questions of their own
    b = d.pid("Sam")
    await d.service.intake(d.session_id, b, skip=True)
    assert await stage(d) == "ready_check"
    await d.service.ready(d.session_id, a)
    assert await stage(d) == "ready_check"
    await d.service.ready(d.session_id, b)
    assert await stage(d) in ("joint", "agreement")
    await d.sync()
    # Alex's draft, approved before Sam joined, is shared once the joint room opens.
    sam_shared = [e for e in d.rooms["Sam"].events if e.type == "shared"]
    assert len(sam_shared) == 1
    assert "Alex" in sam_shared[0].authors
    await d.service.close(d.session_id, b)
    assert await stage(d) == "closed"


async def test_private_messages_stay_in_their_room(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    secret = "I have been looking at flats on my own and haven't told anyone yet"
    await d.service.say(sid, a, secret)
    await d.sync()
    for event in d.rooms["Sam"].events:
        assert "flats" not in event.model_dump_json()
    assert any(e.type == "said" and e.text == secret for e in d.rooms["Alex"].events)


async def test_send_shares_approved_text_with_both_rooms(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    await d.sync()
    draft_text = next(
        e.draft.text for e in d.rooms["Alex"].events if e.type == "draft" and e.draft.id == draft
    )
    await d.service.share(sid, a, draft, "send")
    await d.sync()
    for name in ("Alex", "Sam"):
        shared = [e for e in d.rooms[name].events if e.type == "shared"]
        assert len(shared) == 1
        assert draft_text in shared[0].text


async def test_edit_shares_the_edited_words_only(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    edited = "When my texts go unanswered I get anxious. Could you send a short reply when you see them?"
    await d.service.share(sid, a, draft, "edit", edited)
    await d.sync()
    shared = [e for e in d.rooms["Sam"].events if e.type == "shared"]
    assert len(shared) == 1 and edited in shared[0].text
    state = await store.load(sid)
    assert state.drafts[draft].edited and state.drafts[draft].status.value == "sent"


async def test_discard_shares_nothing(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    await d.service.share(sid, a, draft, "discard")
    await d.sync()
    assert not [e for e in d.rooms["Sam"].events if e.type == "shared"]
    assert (await store.load(sid)).drafts[draft].status.value == "discarded"


async def test_edit_is_screened_again(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    await d.service.share(sid, a, draft, "edit", "I want to kill myself tonight, I have the pills ready")
    await d.sync()
    assert not [e for e in d.rooms["Sam"].events if e.type == "shared"]
    assert any(e.type == "safety" for e in d.rooms["Alex"].events)
    assert await stage(d) == "held"


@pytest.mark.parametrize(
    ("case", "error"),
    [("unknown", NotFound), ("someone_else", Forbidden), ("twice", Conflict), ("bad_action", InvalidInput)],
)
async def test_bad_share_requests_leave_the_session_unchanged(
    store, case: str, error: type[Exception]
) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    if case == "twice":
        await d.service.share(sid, a, draft, "discard")
    before = (await store.load(sid)).model_dump()
    seqs = (await store.last_seq(sid, a), await store.last_seq(sid, b))
    with pytest.raises(error) as info:
        if case == "unknown":
            await d.service.share(sid, a, "d999", "send")
        elif case == "someone_else":
            await d.service.share(sid, b, draft, "send")
        elif case == "twice":
            await d.service.share(sid, a, draft, "send")
        else:
            await d.service.share(sid, a, draft, "publish")  # type: ignore[arg-type]
    assert info.value.code  # a stable, machine-readable code
    assert (await store.load(sid)).model_dump() == before
    assert (await store.last_seq(sid, a), await store.last_seq(sid, b)) == seqs


@pytest.mark.parametrize("text", ["", "   ", "x" * 100_000])
async def test_empty_or_huge_text_is_refused_and_changes_nothing(store, text: str) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    before = (await store.load(sid)).model_dump()
    last = await store.last_seq(sid, a)
    with pytest.raises(InvalidInput) as info:
        await d.service.say(sid, a, text)
    assert info.value.code in ("empty_text", "text_too_long")
    assert (await store.load(sid)).model_dump() == before
    assert await store.last_seq(sid, a) == last


async def test_unknown_session_and_outsider(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    with pytest.raises(NotFound):
        await d.service.say("no-such-session", a, "hello")
    with pytest.raises(Forbidden):
        await d.service.say(sid, "p-stranger", "hello")
    with pytest.raises(NotFound):
        await d.service.accept_invite("not-a-code", "Eve")


async def test_invite_works_once(store) -> None:
    d = make_driver(store)
    await d.start("couple", "Alex")
    await d.invite("Sam")
    with pytest.raises(NotFound) as info:
        await d.service.accept_invite(d.invite_code or "", "Eve")
    assert info.value.code == "invite_used"


async def test_say_is_idempotent_on_client_msg_id(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    await d.service.say(sid, a, "I'm tired of arguing about chores", client_msg_id="c-1")
    seq = await store.last_seq(sid, a)
    await d.service.say(sid, a, "I'm tired of arguing about chores", client_msg_id="c-1")
    assert await store.last_seq(sid, a) == seq


async def test_agreement_needs_both_and_records_who_and_when(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", "I get scared when you're late and I don't hear from you.")
    await d.service.share(
        sid,
        a,
        draft,
        "edit",
        "When you're late and I don't hear from you, I get scared. "
        "Would you be willing to text me if you'll be late?",
    )
    state = await store.load(sid)
    assert state.agreements, "a request should become a proposed agreement"
    assert state.stage.value == "agreement"
    agreement_id = next(iter(state.agreements))
    await d.service.agree(sid, a, agreement_id)
    assert (await store.load(sid)).agreements[agreement_id].status.value == "proposed"
    d.clock.advance(30)
    await d.service.agree(sid, b, agreement_id)
    state = await store.load(sid)
    agreement = state.agreements[agreement_id]
    assert agreement.status.value == "accepted"
    assert set(agreement.accepted_by) == {a, b}
    assert agreement.accepted_by[b] - agreement.accepted_by[a] == 30
    assert state.stage.value == "joint"
    with pytest.raises(Conflict):
        await d.service.agree(sid, a, agreement_id)
    with pytest.raises(NotFound):
        await d.service.agree(sid, a, "a999")
    await d.sync()
    last = [e for e in d.rooms["Sam"].events if e.type == "agreement"][-1]
    assert sorted(last.agreement.accepted_by) == ["Alex", "Sam"]


async def test_declined_agreement(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Sam", "I need some quiet time after work before we talk.")
    await d.service.share(
        sid,
        b,
        draft,
        "edit",
        "After work I need a little quiet before we talk. "
        "Would you be willing to give me twenty minutes when I get home?",
    )
    agreement_id = next(iter((await store.load(sid)).agreements))
    await d.service.agree(sid, a, agreement_id, accept=False)
    state = await store.load(sid)
    assert state.agreements[agreement_id].status.value == "declined"
    assert state.stage.value == "joint"


async def test_facilitator_sees_outcomes_only(store) -> None:
    d = make_driver(store)
    await d.start("workplace", "Priya")
    state = await store.load(d.session_id)
    assert state.facilitator_code
    hr = await d.service.accept_invite(state.facilitator_code, "HR")
    sid, a = d.session_id, d.pid("Priya")
    await d.service.intake(sid, a, skip=True)
    await d.invite("Tom")
    b = d.pid("Tom")
    await d.service.intake(sid, b, skip=True)
    await d.service.ready(sid, a)
    await d.service.ready(sid, b)
    secret = "My manager keeps taking credit for my analysis and I'm furious about it"
    draft = await draft_via_coach(d, "Priya", secret)
    await d.service.share(
        sid, a, draft, "edit", "Would you be willing to name the authors on the slides we present?"
    )
    events = await d.service.events(sid, hr.party_id)
    types = {e.type for e in events}
    assert types <= {"stage", "agreement"}
    assert "agreement" in types
    assert all("furious" not in e.model_dump_json() for e in events)
    with pytest.raises(Forbidden):
        await d.service.say(sid, hr.party_id, "hello")


async def test_restart_with_redis_loses_nothing(redis_url: str) -> None:
    import uuid

    prefix = f"test:{uuid.uuid4().hex}:"
    store1 = RedisStore(redis_url, prefix=prefix)
    try:
        d = make_driver(store1)
        sid, a, b = await joint_session(d)
        draft = await draft_via_coach(d, "Alex", HURT)
        last_a = await store1.last_seq(sid, a)
        await store1.close()
        # A new process: a new store and a new service on the same Redis.
        store2 = RedisStore(redis_url, prefix=prefix)
        service2 = SessionService(store2, builtin_roles(), d.clock)
        assert await store2.last_seq(sid, a) == last_a
        await service2.share(sid, a, draft, "send")
        shared = [e for e in await service2.events(sid, b) if e.type == "shared"]
        assert len(shared) == 1
        events = await service2.events(sid, a)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        await service2.store.delete(sid)
        await store2.close()
    finally:
        await store1.close()


async def test_closed_session_refuses_messages(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    await d.service.close(sid, a)
    with pytest.raises(WrongStage):
        await d.service.say(sid, b, "hello?")


async def test_every_room_log_is_gap_free(store) -> None:
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    draft = await draft_via_coach(d, "Alex", HURT)
    await d.service.share(sid, a, draft, "send")
    await d.service.pause(sid, b)
    for room in (a, b):
        events = await d.service.events(sid, room)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        later = await d.service.events(sid, room, after_seq=3)
        assert [e.seq for e in later] == list(range(4, len(events) + 1))


async def test_view_export_and_delete_own_data(store) -> None:
    d = make_driver(store)
    await d.start("couple", "Alex")
    a = d.pid("Alex")
    view = await d.service.view(d.session_id, a)
    assert view.invite_code == d.invite_code and view.intake == "pending" and view.other is None
    await d.service.intake(d.session_id, a, skip=True)
    await d.invite("Sam")
    b = d.pid("Sam")
    sam_view = await d.service.view(d.session_id, b)
    assert sam_view.invite_code is None and sam_view.other == "Alex"
    assert (await d.service.view(d.session_id, a)).invite_code is None  # used up
    await d.service.say(d.session_id, b, "I feel tired of always being the one who plans things")
    exported = await d.service.export_party(d.session_id, b)
    assert [t["text"] for t in exported["private_history"] if t["speaker"] == "party"] == [
        "I feel tired of always being the one who plans things"
    ]
    await d.service.delete_party(d.session_id, b)
    state = await store.load(d.session_id)
    assert state.parties[b].history == [] and state.parties[b].deleted
    assert await d.service.events(d.session_id, b) == []
    assert await d.service.events(d.session_id, a)  # Alex's room is Alex's

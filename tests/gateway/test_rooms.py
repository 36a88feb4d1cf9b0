"""Party rooms over a real socket: separation, bad frames, limits, idempotent say, resume."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets

from agents.builtin.coach import BuiltinCoach
from agents.guarded import GuardedCoach
from agents.llm.coach import LLMCoach
from agents.roles import Roles
from agents.testing import ScriptedModelClient, scripted_json
from gateway.app import create_app
from gateway.auth import Principal
from gateway.rooms import RoomConnection
from orchestrator.clock import ManualClock
from orchestrator.events import Event, StageEvent
from orchestrator.memory_store import MemoryStore, QueueSubscription
from orchestrator.models import Role
from tests.gateway.helpers import (
    DANGER_WORD,
    Gateway,
    RoomClient,
    builtin_roles,
    joint_pair,
    make_settings,
    running_gateway,
)


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    """The log seqs of frames (error/pong have none; transient coach_partial frames have 0)."""
    return [f["seq"] for f in frames if f.get("seq")]


def assert_gap_free(frames: list[dict[str, Any]], start: int = 1) -> None:
    got = seqs(frames)
    assert got == list(range(start, start + len(got))), got


async def test_backlog_then_live_in_order_without_gaps(gateway: Gateway) -> None:
    alex = await gateway.create("Alex")
    room = await gateway.connect(alex)
    first = await room.expect("stage")
    assert first["seq"] == 1 and first["stage"] == "intake"
    await room.send({"type": "intake", "skip": True})
    await room.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "waiting")
    await room.send({"type": "say", "text": "I feel unheard lately."})
    await room.expect("draft")
    await room.sync()
    assert_gap_free(room.frames)
    view = (await gateway.http.get(f"/v1/sessions/{alex['session_id']}", headers=auth(alex))).json()
    assert view["last_seq"] == seqs(room.frames)[-1]


async def test_a_room_never_sees_the_other_rooms_private_events(gateway: Gateway) -> None:
    alex, sam, a, b = await joint_pair(gateway)
    private = "Sam never listens and I am furious about the money."
    await a.send({"type": "say", "text": private, "client_msg_id": "a-1"})
    draft = (await a.expect("draft"))["draft"]
    await b.sync()
    assert all(f["type"] not in ("said", "coach", "draft") for f in b.frames)
    assert private not in json.dumps(b.frames)

    await a.send({"type": "share", "draft_id": draft["id"], "action": "send"})
    shared_a = await a.expect("shared")
    shared_b = await b.expect("shared")
    assert shared_a["text"] == shared_b["text"] and draft["text"] in shared_b["text"]
    assert private not in json.dumps(b.frames)
    # each room has its own gap-free sequence
    await a.sync()
    await b.sync()
    assert_gap_free(a.frames)
    assert_gap_free(b.frames)


async def test_a_party_cannot_decide_on_the_other_partys_draft(gateway: Gateway) -> None:
    alex, sam, a, b = await joint_pair(gateway)
    await a.send({"type": "say", "text": "I want to talk about chores."})
    draft = (await a.expect("draft"))["draft"]
    await b.send({"type": "share", "draft_id": draft["id"], "action": "send"})
    error = await b.expect("error")
    assert error["code"] in ("forbidden", "not_found", "not_your_draft", "unknown_draft")
    assert error["frame_type"] == "share"
    await a.sync()
    assert not any(f["type"] == "shared" for f in a.frames)  # nothing was shared


async def test_service_errors_become_error_frames_and_the_room_stays_open(gateway: Gateway) -> None:
    alex = await gateway.create()
    room = await gateway.connect(alex)
    await room.send({"type": "share", "draft_id": "d-does-not-exist", "action": "send"})
    error = await room.expect("error")
    assert error["seq"] is None and error["code"] and error["message"]
    await room.send({"type": "say", "text": "Still here?", "client_msg_id": "m1"})
    said = await room.expect("said")
    assert said["client_msg_id"] == "m1"


BAD_FRAMES: list[tuple[str | bytes, str]] = [
    ("{not json", "bad_json"),
    ('{"type": "shout", "text": "x"}', "unknown_type"),
    ('{"type": "say"}', "invalid_frame"),
    ('{"type": "say", "text": "x", "surprise": true}', "invalid_frame"),
    ('{"type": "share", "draft_id": "d1", "action": "edit"}', "invalid_frame"),
    ("[1, 2, 3]", "invalid_frame"),
    (b"\xff\xfe\xfd", "bad_utf8"),
    (b'{"type": "say", "text": "caf\xe9"}', "bad_utf8"),  # Latin-1, not UTF-8
]


async def test_each_bad_frame_gets_an_error_and_the_room_stays_usable(gateway: Gateway) -> None:
    alex = await gateway.create()
    room = await gateway.connect(alex)
    for raw, code in BAD_FRAMES:
        await room.send(raw)
        error = await room.expect("error")
        assert error["code"] == code, (raw, error)
    await room.send({"type": "say", "text": "A valid message after all that.", "client_msg_id": "ok"})
    assert (await room.expect("said"))["client_msg_id"] == "ok"


async def test_binary_frames_with_valid_utf8_json_work(gateway: Gateway) -> None:
    room = await gateway.connect(await gateway.create())
    await room.send(json.dumps({"type": "say", "text": "grüß dich", "client_msg_id": "bin"}).encode())
    assert (await room.expect("said"))["client_msg_id"] == "bin"


async def test_oversize_frame_gets_an_error_and_the_room_stays_usable() -> None:
    async with running_gateway(make_settings(max_frame_bytes=1024)) as gw:
        room = await gw.connect(await gw.create())
        await room.send(json.dumps({"type": "say", "text": "x" * 2000}))
        assert (await room.expect("error"))["code"] == "frame_too_large"
        await room.send({"type": "say", "text": "short", "client_msg_id": "after"})
        assert (await room.expect("said"))["client_msg_id"] == "after"


async def test_frames_over_the_hard_cap_close_the_socket_with_1009() -> None:
    async with running_gateway(make_settings(max_frame_bytes=1024)) as gw:
        room = await gw.connect(await gw.create())
        await room.send("y" * (4 * 1024 + 1))
        code, _ = await room.closed()
        assert code == 1009


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(gateway: Gateway) -> None:
    room = await gateway.connect(await gateway.create())
    await room.conn.send(b'{"type":"ping"}\xff', text=True)  # a text frame that is not UTF-8
    code, _ = await room.closed()
    assert code == 1007  # RFC 6455: the WebSocket layer must fail such a connection


async def test_rate_limit_per_party_answers_rate_limited_and_keeps_the_socket() -> None:
    async with running_gateway(make_settings(messages_per_second=0.001, messages_burst=3)) as gw:
        room = await gw.connect(await gw.create())
        for _ in range(4):
            await room.send({"type": "ping"})
        answers = [await room.expect(lambda f: f["type"] in ("pong", "error")) for _ in range(4)]
        assert [a["type"] for a in answers] == ["pong", "pong", "pong", "error"]
        assert answers[-1]["code"] == "rate_limited"
        assert room.conn.state is websockets.State.OPEN


async def test_say_is_idempotent_across_reconnects(gateway: Gateway) -> None:
    alex = await gateway.create()
    room = await gateway.connect(alex)
    await room.send({"type": "say", "text": "Did this arrive?", "client_msg_id": "retry-me"})
    await room.expect("coach")
    last = await room.sync()
    await room.close()

    again = await gateway.connect(alex, after_seq=last)
    await again.send({"type": "say", "text": "Did this arrive?", "client_msg_id": "retry-me"})
    await again.sync()
    assert again.events() == []  # the retry was recognised: nothing new happened
    await again.send({"type": "say", "text": "Something new.", "client_msg_id": "fresh"})
    said = await again.expect("said")
    assert said["client_msg_id"] == "fresh" and said["seq"] == last + 1


async def _missed_while_away(gw: Gateway) -> tuple[dict[str, Any], RoomClient, int, list[dict[str, Any]]]:
    """Alex leaves at ``seq = n``; Sam shares and pauses; returns what Alex's room logged since."""
    alex, sam, a, b = await joint_pair(gw)
    left_at = await a.sync()
    await a.close()
    await b.send({"type": "say", "text": "I do want to fix this."})
    draft = (await b.expect("draft"))["draft"]
    await b.send({"type": "share", "draft_id": draft["id"], "action": "send"})
    await b.expect("shared")
    await b.send({"type": "pause"})
    await b.expect("timeout")
    missed = await gw.app.state.service.events(alex["session_id"], alex["party_id"], left_at)
    assert [e.type for e in missed][:1] == ["shared"] and len(missed) >= 2
    return alex, b, left_at, [e.model_dump(mode="json") for e in missed]


async def test_resume_frame_gives_exactly_what_was_missed_once_in_order() -> None:
    async with running_gateway(make_settings(resume_wait_seconds=30.0)) as gw:
        alex, b, left_at, missed = await _missed_while_away(gw)
        back = await gw.connect(alex, after_seq=None)  # no ?after_seq: the first frame decides
        await back.send({"type": "resume", "after_seq": left_at})
        await back.sync()
        assert back.events() == missed
        # live events continue after the backlog, still gap-free: let the break run out
        gw.clock.advance(24 * 3600)
        await gw.app.state.service.tick()
        await back.expect(lambda f: f.get("seq") == missed[-1]["seq"] + 1)
        assert_gap_free(back.events(), start=left_at + 1)


async def test_resume_by_query_parameter(gateway: Gateway) -> None:
    alex, _, left_at, missed = await _missed_while_away(gateway)
    back = await gateway.connect(alex, after_seq=left_at)
    await back.sync()
    assert back.events() == missed


async def test_without_a_starting_point_the_whole_history_is_sent(gateway: Gateway) -> None:
    alex = await gateway.create()
    first = await gateway.connect(alex)
    last = await first.sync()
    await first.close()
    room = await gateway.connect(alex, after_seq=None)  # resume_wait_seconds is 0 in tests
    await room.expect(lambda f: f.get("seq") == last)
    assert seqs(room.frames) == list(range(1, last + 1))


async def test_a_first_frame_that_is_not_resume_starts_from_zero_and_is_handled() -> None:
    async with running_gateway(make_settings(resume_wait_seconds=30.0)) as gw:
        alex = await gw.create()
        room = await gw.connect(alex, after_seq=None)
        await room.send({"type": "say", "text": "Hello there.", "client_msg_id": "first"})
        await room.expect("coach")
        await room.sync()
        assert_gap_free(room.frames)
        assert seqs(room.frames)[0] == 1


async def test_resume_mid_connection_replays_on_request(gateway: Gateway) -> None:
    room = await gateway.connect(await gateway.create())
    last = await room.sync()
    await room.send({"type": "resume", "after_seq": 0})
    await room.sync()
    assert seqs(room.frames) == list(range(1, last + 1)) * 2


async def test_safety_hold_reaches_the_writer_only_as_safety(gateway: Gateway) -> None:
    alex, sam, a, b = await joint_pair(gateway)
    await a.send({"type": "say", "text": f"I will {DANGER_WORD} tonight"})
    safety = await a.expect("safety")
    assert safety["severity"] == "critical"
    await b.expect(lambda f: f.get("type") in ("timeout", "stage"))
    await b.sync()
    assert DANGER_WORD not in json.dumps(b.frames)
    assert all(f["type"] != "safety" for f in b.frames)


async def test_deleting_own_data_closes_the_room_and_refuses_reconnects(gateway: Gateway) -> None:
    alex = await gateway.create()
    room = await gateway.connect(alex)
    await room.sync()
    response = await gateway.http.delete(f"/v1/sessions/{alex['session_id']}/me", headers=auth(alex))
    assert response.status_code == 200 and response.json()["deleted"] is True
    code, reason = await room.closed()
    assert code == 4404


def auth(creds: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds['token']}"}


class _RacingStore(MemoryStore):
    """Appends an event to a room between the socket's subscribe and its backlog read, so the same
    event reaches the socket twice (live feed and log) — the overlap the sender must absorb."""

    race: tuple[str, str] | None = None

    async def read(
        self, session_id: str, room: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        if self.race == (session_id, room):
            self.race = None
            await self.append(session_id, room, StageEvent(stage="waiting", text="raced in"))
        return await super().read(session_id, room, after_seq, limit)


class _LossyStore(MemoryStore):
    """Live feeds lose the n-th event (as Redis pub/sub may while reconnecting)."""

    drop_seq: int | None = None

    async def subscribe(self, session_id: str, room: str) -> QueueSubscription:
        sub = await super().subscribe(session_id, room)
        push = sub.push

        def lossy_push(event: Event) -> None:
            if event.seq != self.drop_seq:
                push(event)

        sub.push = lossy_push  # type: ignore[method-assign]
        return sub


async def test_an_event_both_in_the_backlog_and_the_live_feed_is_sent_once() -> None:
    store = _RacingStore()
    async with running_gateway(store=store) as gw:
        alex = await gw.create()
        store.race = (alex["session_id"], alex["party_id"])
        room = await gw.connect(alex)
        await room.expect(lambda f: f.get("text") == "raced in")
        await room.sync()
        assert store.race is None  # the race happened
        assert_gap_free(room.frames)


async def test_an_event_lost_by_the_live_feed_is_filled_from_the_log_in_order() -> None:
    store = _LossyStore()
    async with running_gateway(store=store) as gw:
        alex = await gw.create()
        room = await gw.connect(alex)
        last = await room.sync()
        store.drop_seq = (
            last + 2
        )  # the coach reply: said (+1) arrives, coach (+2) is lost, draft (+3) arrives
        await room.send({"type": "say", "text": "I feel lonely when you work late every evening."})
        await room.expect("draft")
        assert_gap_free(room.frames)
        assert [f["type"] for f in room.events()][-3:] == ["said", "coach", "draft"]


class _StuckSocket:
    """A peer that never reads: the first send blocks forever."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    async def send_text(self, data: str) -> None:
        self.sending.set()
        await asyncio.Event().wait()

    async def receive(self) -> dict[str, Any]:
        await self.closed.wait()
        return {"type": "websocket.disconnect", "code": self.close_code}

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.close_code is None:
            self.close_code = code
        self.closed.set()


async def test_a_reader_that_stops_reading_is_closed_with_4408_not_buffered_forever() -> None:
    settings = make_settings(ws_send_queue=8)
    app = create_app(settings, store=MemoryStore(), roles=builtin_roles(), clock=ManualClock())
    service = app.state.service
    joined = await service.create_session("couple", "Alex")
    socket = _StuckSocket()
    principal = Principal(joined.party_id, Role.PARTY, joined.session_id, "jti", 0)
    conn = RoomConnection(
        socket,
        service,
        settings,
        app.state.metrics,
        app.state.limiter,  # type: ignore[arg-type]
        joined.session_id,
        principal,
        after_seq=0,
    )
    running = asyncio.create_task(conn.run())
    await asyncio.wait_for(socket.sending.wait(), 5)
    for _ in range(settings.ws_send_queue + 1):
        await service.store.append(joined.session_id, joined.party_id, StageEvent(stage="waiting", text="x"))
    await asyncio.wait_for(running, 5)
    assert socket.close_code == 4408


class _DroppingStore(MemoryStore):
    """The first live feed of each room breaks at its first event (a Redis connection lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed = 0

    async def subscribe(self, session_id: str, room: str) -> QueueSubscription:
        sub = await super().subscribe(session_id, room)
        self.subscribed += 1
        if self.subscribed == 1:
            sub.push = lambda event: sub.finish("disconnected")  # type: ignore[method-assign]
        return sub


async def test_a_broken_live_feed_is_replaced_and_nothing_is_lost() -> None:
    store = _DroppingStore()
    async with running_gateway(store=store) as gw:
        alex = await gw.create()
        room = await gw.connect(alex)
        await room.expect("intake")
        await room.send({"type": "say", "text": "I feel lonely when you work late every evening."})
        await room.expect("draft")  # arrives without any ping: the new feed plus a catch-up read
        assert store.subscribed == 2
        assert_gap_free(room.frames)


# --- coach replies in progress (coach_partial) -------------------------------------------------
STREAMED = (
    "It makes sense that the quiet evening left you feeling alone. "
    "You wanted to feel noticed by Sam. "
    "What would help you most right now?"
)


def streaming_roles(client: ScriptedModelClient) -> Roles:
    """The shipped roles, but the coach is the LLM coach on a scripted model that streams."""
    base = builtin_roles()
    coach = GuardedCoach(LLMCoach(client), BuiltinCoach(), base.screener, timeout=30.0, backend="scripted")
    return Roles(screener=base.screener, coach=coach, mediator=base.mediator)


def partial_frames(room: RoomClient) -> list[dict[str, Any]]:
    return [f for f in room.frames if f.get("type") == "coach_partial"]


async def test_coach_partials_reach_the_speakers_socket_only_and_are_never_replayed() -> None:
    client = ScriptedModelClient([scripted_json(STREAMED)])
    settings = make_settings(resume_wait_seconds=30.0)
    async with running_gateway(settings, roles=streaming_roles(client)) as gw:
        alex, sam, a, b = await joint_pair(gw)
        await a.send({"type": "say", "text": "Sam ignored my texts all evening.", "client_msg_id": "a-1"})
        said = await a.expect("said")
        coach = await a.expect("coach")

        partials = partial_frames(a)
        texts = [f["text"] for f in partials]
        assert len(partials) >= 2 and all(f["seq"] == 0 for f in partials)
        assert all(b.startswith(a) and b != a for a, b in itertools.pairwise(texts))  # cumulative
        assert STREAMED.startswith(texts[-1]) and {f["reply_to"] for f in partials} == {said["message_id"]}
        assert a.frames.index(said) < a.frames.index(partials[0])
        assert a.frames.index(partials[-1]) < a.frames.index(coach)
        assert coach["text"] == STREAMED and coach["reply_to"] == said["message_id"]
        # Partials never count as sent events: the pong's last_seq and the log stay gap-free.
        assert await a.sync() == seqs(a.frames)[-1]
        assert_gap_free(a.frames)

        await b.sync()  # Sam's socket got none of it
        assert partial_frames(b) == [] and "noticed" not in json.dumps(b.frames)

        again = await gw.connect(alex, after_seq=0)  # reconnect: the whole log, no partials
        await again.sync()
        assert partial_frames(again) == [] and again.events() == a.events()
        resumed = await gw.connect(alex, after_seq=None)
        await resumed.send({"type": "resume", "after_seq": said["seq"] - 1})
        await resumed.sync()
        assert partial_frames(resumed) == []
        assert [f["type"] for f in resumed.events()][:2] == ["said", "coach"]

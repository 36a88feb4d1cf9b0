"""One contract for every SessionStore: each test runs on MemoryStore and on RedisStore (real Redis).

Tests at the end marked ``redis`` cover what only a shared store can do: several processes, restarts,
lost pub/sub messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orchestrator.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from orchestrator.events import CoachPartialEvent, Event, SaidEvent, StageEvent
from orchestrator.memory_store import QueueSubscription
from orchestrator.models import Mode, Party, SessionState, Stage
from orchestrator.redis_store import RedisStore, RedisSubscription
from orchestrator.store import SessionStore, Subscription

T0 = 1_800_000_000.123456  # sub-second digits must survive the round trip


def make_state(session_id: str = "s1") -> SessionState:
    alex = Party(id="p1", name="Alex", joined_at=T0)
    return SessionState(
        id=session_id, mode=Mode.COUPLE, created_at=T0, updated_at=T0, initiator="p1", parties={"p1": alex}
    )


def said(n: int) -> SaidEvent:
    return SaidEvent(text=f"message {n}", message_id=f"m{n}", at=T0 + n)


async def take(sub: Subscription, n: int) -> list[Event]:
    """The next ``n`` live events (fails instead of hanging if they never come)."""
    it = aiter(sub)
    return [await asyncio.wait_for(anext(it), timeout=5) for _ in range(n)]


async def ends(sub: Subscription) -> list[Event]:
    """Everything left in the feed until it ends."""
    return [event async for event in sub]


@pytest.fixture
async def session(store: SessionStore) -> SessionState:
    state = make_state()
    await store.create(state)
    return state


# --- sessions --------------------------------------------------------------------------------------
async def test_create_load_save_round_trip(store: SessionStore) -> None:
    state = make_state()
    await store.create(state)
    assert await store.load("s1") == state
    state.stage = Stage.JOINT
    state.parties["p2"] = Party(id="p2", name="Sam", joined_at=T0 + 1)
    await store.save(state)
    assert await store.load("s1") == state
    assert await store.session_ids() == ["s1"]


async def test_create_twice_conflicts(store: SessionStore, session: SessionState) -> None:
    with pytest.raises(Conflict):
        await store.create(make_state())


async def test_missing_session(store: SessionStore) -> None:
    with pytest.raises(NotFound):
        await store.load("nope")
    with pytest.raises(NotFound):
        await store.save(make_state("nope"))  # saving never resurrects a deleted session
    with pytest.raises(NotFound):
        await store.append("nope", "p1", said(1))
    with pytest.raises(NotFound):
        await store.subscribe("nope", "p1")
    assert await store.read("nope", "p1") == []
    assert await store.last_seq("nope", "p1") == 0
    await store.delete("nope")  # deleting twice is fine
    assert await store.session_ids() == []


async def test_loaded_and_created_copies_are_isolated(store: SessionStore) -> None:
    state = make_state()
    await store.create(state)
    state.stage = Stage.CLOSED  # mutating the object passed to create changes nothing stored
    loaded = await store.load("s1")
    loaded.parties["p1"].history.clear()
    loaded.parties["p1"].name = "changed"
    loaded.drafts.clear()
    again = await store.load("s1")
    assert again == make_state()
    assert again is not loaded


async def test_session_ids_lists_every_session(store: SessionStore) -> None:
    for sid in ("b", "a", "c"):
        await store.create(make_state(sid))
    assert await store.session_ids() == ["a", "b", "c"]


# --- codes ----------------------------------------------------------------------------------------
async def test_codes_bind_and_resolve(store: SessionStore, session: SessionState) -> None:
    await store.create(make_state("s2"))
    await store.bind_code("INV-1", "s1")
    await store.bind_code("INV-1", "s1")  # binding again to the same session is harmless
    assert await store.resolve_code("INV-1") == "s1"
    assert await store.resolve_code("unknown") is None
    with pytest.raises(Conflict):
        await store.bind_code("INV-1", "s2")  # a code never moves to another session
    with pytest.raises(NotFound):
        await store.bind_code("INV-2", "nope")
    assert await store.resolve_code("INV-2") is None


# --- delete ---------------------------------------------------------------------------------------
async def test_delete_removes_session_codes_and_rooms(store: SessionStore, session: SessionState) -> None:
    await store.create(make_state("keep"))
    await store.bind_code("INV", "s1")
    await store.bind_code("FAC", "s1")
    await store.bind_code("OTHER", "keep")
    for room in ("p1", "p2"):
        await store.append("s1", room, said(1))
    await store.append("keep", "p1", said(1))

    await store.delete("s1")

    with pytest.raises(NotFound):
        await store.load("s1")
    assert await store.resolve_code("INV") is None
    assert await store.resolve_code("FAC") is None
    for room in ("p1", "p2"):
        assert await store.read("s1", room) == []
        assert await store.last_seq("s1", room) == 0
    assert await store.session_ids() == ["keep"]
    with pytest.raises(NotFound):
        await store.append("s1", "p1", said(2))  # nothing can be written after deletion
    # the other session is untouched
    assert await store.resolve_code("OTHER") == "keep"
    assert [e.seq for e in await store.read("keep", "p1")] == [1]
    # a new session may reuse the id and starts from nothing
    await store.create(make_state("s1"))
    assert (await store.append("s1", "p1", said(1))).seq == 1


async def test_delete_ends_live_subscriptions(store: SessionStore, session: SessionState) -> None:
    sub = await store.subscribe("s1", "p1")
    await store.append("s1", "p1", said(1))
    await store.delete("s1")
    assert [e.seq for e in await asyncio.wait_for(ends(sub), timeout=5)] == [1]
    assert isinstance(sub, QueueSubscription) and sub.end_reason == "deleted"
    await sub.close()


# --- event log ------------------------------------------------------------------------------------
async def test_append_assigns_gap_free_seq_per_room(store: SessionStore, session: SessionState) -> None:
    original = said(1)
    first = await store.append("s1", "p1", original)
    assert first.seq == 1 and original.seq == 0  # the caller's event is not modified
    assert first.model_dump(exclude={"seq"}) == original.model_dump(exclude={"seq"})
    assert [(await store.append("s1", "p1", said(n))).seq for n in (2, 3)] == [2, 3]
    assert [(await store.append("s1", "p2", said(n))).seq for n in (1, 2)] == [1, 2]  # rooms are independent
    events = await store.read("s1", "p1")
    assert [e.seq for e in events] == [1, 2, 3]
    assert events == [said(n).model_copy(update={"seq": n}) for n in (1, 2, 3)]
    assert await store.last_seq("s1", "p1") == 3
    assert await store.last_seq("s1", "p2") == 2
    assert await store.last_seq("s1", "empty") == 0


async def test_append_keeps_every_event_type(store: SessionStore, session: SessionState) -> None:
    stage = StageEvent(stage="joint", text="You are both here.", parties=["Alex", "Sam"], at=T0)
    stored = await store.append("s1", "p1", stage)
    assert await store.read("s1", "p1") == [stored]
    assert isinstance(stored, StageEvent) and stored.seq == 1


async def test_read_after_seq_and_limit(store: SessionStore, session: SessionState) -> None:
    for n in range(1, 8):
        await store.append("s1", "p1", said(n))

    async def seqs(after: int = 0, limit: int | None = None) -> list[int]:
        return [e.seq for e in await store.read("s1", "p1", after_seq=after, limit=limit)]

    assert await seqs() == [1, 2, 3, 4, 5, 6, 7]
    assert await seqs(after=3) == [4, 5, 6, 7]
    assert await seqs(after=3, limit=2) == [4, 5]
    assert await seqs(limit=1) == [1]
    assert await seqs(limit=0) == []
    assert await seqs(after=7) == []
    assert await seqs(after=100) == []
    assert await seqs(after=-5) == [1, 2, 3, 4, 5, 6, 7]
    assert await store.read("s1", "unknown-room") == []


async def test_read_returns_copies(store: SessionStore, session: SessionState) -> None:
    await store.append("s1", "p1", said(1))
    (event,) = await store.read("s1", "p1")
    assert isinstance(event, SaidEvent)
    event.text = "changed"
    assert [e.text for e in await store.read("s1", "p1") if isinstance(e, SaidEvent)] == ["message 1"]


async def test_delete_room_erases_one_log_and_keeps_its_counter(
    store: SessionStore, session: SessionState
) -> None:
    for n in (1, 2, 3):
        await store.append("s1", "p1", said(n))
    await store.append("s1", "p2", said(1))
    await store.delete_room("s1", "p1")
    assert await store.read("s1", "p1") == []
    # seq never goes back: a client resuming after seq 3 must not skip the next event as seen
    assert await store.last_seq("s1", "p1") == 3
    assert (await store.append("s1", "p1", said(4))).seq == 4
    assert [e.seq for e in await store.read("s1", "p1", after_seq=3)] == [4]
    assert [e.seq for e in await store.read("s1", "p2")] == [1]
    await store.load("s1")  # the session itself stays


# --- live -----------------------------------------------------------------------------------------
async def test_subscribe_gets_later_events_in_order(
    store: SessionStore, other_store: SessionStore, session: SessionState
) -> None:
    await store.append("s1", "p1", said(1))  # before subscribing: in the log only
    sub = await store.subscribe("s1", "p1")
    other = await store.subscribe("s1", "p2")
    for n in (2, 3):
        await store.append("s1", "p1", said(n))
    for n in (4, 5):
        await other_store.append("s1", "p1", said(n))  # another process appends
    await other_store.append("s1", "p2", said(1))
    got = await take(sub, 4)
    assert [e.seq for e in got] == [2, 3, 4, 5]
    assert got == await store.read("s1", "p1", after_seq=1)
    assert [e.seq for e in await take(other, 1)] == [1]  # each room sees only its own events
    await sub.close()
    await other.close()
    assert await asyncio.wait_for(ends(sub), timeout=5) == []  # closed: iteration ends


async def test_subscribers_in_two_processes_both_receive(
    store: SessionStore, other_store: SessionStore, session: SessionState
) -> None:
    here = await store.subscribe("s1", "p1")
    there = await other_store.subscribe("s1", "p1")
    for n in (1, 2, 3):
        await store.append("s1", "p1", said(n))
    assert [e.seq for e in await take(here, 3)] == [1, 2, 3]
    assert [e.seq for e in await take(there, 3)] == [1, 2, 3]
    async with here, there:  # subscriptions are async context managers too
        pass
    assert here.ended and there.ended  # type: ignore[attr-defined]


async def test_slow_subscriber_is_ended_not_waited_for(store: SessionStore, session: SessionState) -> None:
    store.subscriber_queue_size = 3  # type: ignore[attr-defined]
    sub = await store.subscribe("s1", "p1")
    assert isinstance(sub, QueueSubscription)
    for n in range(1, 6):
        await store.append("s1", "p1", said(n))  # never blocks on the reader
    assert await asyncio.wait_for(sub.wait_ended(), timeout=5) == "overflow"
    # what was queued is still delivered, then the reader must resume from the log
    assert [e.seq for e in await asyncio.wait_for(ends(sub), timeout=5)] == [1, 2, 3]
    assert [e.seq for e in await store.read("s1", "p1", after_seq=3)] == [4, 5]
    await sub.close()


# --- transient events (signal) --------------------------------------------------------------------
def partial(text: str = "That sounds hard. ") -> CoachPartialEvent:
    return CoachPartialEvent(text=text, reply_to="m1", at=T0)


async def test_signal_is_delivered_live_in_order_and_never_logged(
    store: SessionStore, other_store: SessionStore, session: SessionState
) -> None:
    sub = await store.subscribe("s1", "p1")
    await store.append("s1", "p1", said(1))
    await other_store.signal("s1", "p1", partial())  # from another process too
    await store.append("s1", "p1", said(2))
    got = await take(sub, 3)
    assert [(e.type, e.seq) for e in got] == [("said", 1), ("coach_partial", 0), ("said", 2)]
    assert got[1] == partial()
    assert [e.seq for e in await store.read("s1", "p1")] == [1, 2]  # not in the log
    assert await store.last_seq("s1", "p1") == 2
    assert (await store.append("s1", "p1", said(3))).seq == 3  # no seq was spent on it
    with pytest.raises(TypeError):
        await store.append("s1", "p1", partial())  # transient events are never logged
    await sub.close()


async def test_signal_to_a_full_queue_is_dropped_and_the_subscription_lives(
    store: SessionStore, session: SessionState
) -> None:
    store.subscriber_queue_size = 2  # type: ignore[attr-defined]
    small = await store.subscribe("s1", "p1")
    store.subscriber_queue_size = 100  # type: ignore[attr-defined]
    witness = await store.subscribe("s1", "p1")  # same reader: once it has the signal, so had `small`
    for n in (1, 2):
        await store.append("s1", "p1", said(n))
    await store.signal("s1", "p1", partial())  # `small` is full: dropped, not an overflow
    assert [e.seq for e in await take(witness, 3)] == [1, 2, 0]
    assert isinstance(small, QueueSubscription) and not small.ended
    assert [e.seq for e in await take(small, 2)] == [1, 2]
    await store.append("s1", "p1", said(3))
    assert [(e.type, e.seq) for e in await take(small, 1)] == [("said", 3)]
    await small.close()
    await witness.close()


async def test_signal_to_a_room_nobody_listens_to_is_harmless(
    store: SessionStore, session: SessionState
) -> None:
    await store.signal("s1", "p9", partial())
    await store.signal("unknown", "p1", partial())
    assert await store.read("s1", "p9") == [] and await store.last_seq("s1", "p9") == 0
    sub = await store.subscribe("s1", "p9")  # subscribing later replays nothing
    await store.append("s1", "p9", said(1))
    assert [(e.type, e.seq) for e in await take(sub, 1)] == [("said", 1)]
    await sub.close()


async def test_signal_reaches_only_its_own_room(store: SessionStore, session: SessionState) -> None:
    alex = await store.subscribe("s1", "p1")
    sam = await store.subscribe("s1", "p2")
    await store.signal("s1", "p1", partial("only for Alex. "))
    await store.append("s1", "p2", said(1))  # a marker: anything signalled to p2 before would come first
    assert [(e.type, e.seq) for e in await take(sam, 1)] == [("said", 1)]
    assert await take(alex, 1) == [partial("only for Alex. ")]
    await alex.close()
    await sam.close()


# --- concurrency ----------------------------------------------------------------------------------
async def test_lock_serialises_read_modify_write(
    store: SessionStore, other_store: SessionStore, session: SessionState
) -> None:
    async def increment(handle: SessionStore) -> None:
        async with handle.lock("s1"):
            state = await handle.load("s1")
            await asyncio.sleep(0)  # yield mid-update: without the lock, updates would be lost
            state.counter += 1
            await handle.save(state)

    await asyncio.gather(*(increment(store if i % 2 else other_store) for i in range(20)))
    assert (await store.load("s1")).counter == 20


async def test_unlocked_read_modify_write_loses_updates(store: SessionStore, session: SessionState) -> None:
    """Shows the lock test above can fail: the same work without the lock loses increments."""

    async def increment() -> None:
        state = await store.load("s1")
        await asyncio.sleep(0)
        state.counter += 1
        await store.save(state)

    await asyncio.gather(*(increment() for _ in range(20)))
    assert (await store.load("s1")).counter < 20


async def test_concurrent_appends_get_distinct_gap_free_seqs(
    store: SessionStore, other_store: SessionStore, session: SessionState
) -> None:
    results = await asyncio.gather(
        *(store.append("s1", "p1", said(n)) for n in range(50)),
        *(other_store.append("s1", "p1", said(100 + n)) for n in range(50)),
    )
    assert sorted(e.seq for e in results) == list(range(1, 101))
    log = await store.read("s1", "p1")
    assert [e.seq for e in log] == list(range(1, 101))
    assert {e.message_id for e in log if isinstance(e, SaidEvent)} == {e.message_id for e in results}  # type: ignore[attr-defined]


async def test_ping(store: SessionStore) -> None:
    assert await store.ping() is True


# --- Redis only -----------------------------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., object])


def redis_only(test: F) -> F:
    """Run ``test`` with the Redis variant of the ``store`` fixture only."""
    return pytest.mark.redis(pytest.mark.parametrize("store", ["redis"], indirect=True)(test))  # type: ignore[no-any-return]


@pytest.fixture
def redis_store(store: SessionStore) -> RedisStore:
    assert isinstance(store, RedisStore)
    return store


@redis_only
async def test_redis_sessions_and_logs_survive_a_restart(redis_store: RedisStore) -> None:
    state = make_state()
    await redis_store.create(state)
    await redis_store.bind_code("INV", "s1")
    appended = [await redis_store.append("s1", "p1", said(n)) for n in (1, 2)]
    await redis_store.close()

    restarted = RedisStore(redis_store.url, redis_store.prefix)
    try:
        assert await restarted.load("s1") == state
        assert await restarted.resolve_code("INV") == "s1"
        assert await restarted.read("s1", "p1") == appended
        assert (await restarted.append("s1", "p1", said(3))).seq == 3
    finally:
        await restarted.close()


@redis_only
async def test_redis_names_that_could_alias_another_room_are_rejected(redis_store: RedisStore) -> None:
    # keys join session id and room with ':' ("a" + "b:c" would alias "a:b" + "c")
    with pytest.raises(InvalidInput):
        await redis_store.create(make_state("a:b"))
    await redis_store.create(make_state("a"))
    with pytest.raises(InvalidInput):
        await redis_store.append("a", "b:c", said(1))


@redis_only
async def test_redis_delete_leaves_no_keys(redis_store: RedisStore, redis_url: str) -> None:
    await redis_store.create(make_state())
    await redis_store.bind_code("INV", "s1")
    sub = await redis_store.subscribe("s1", "never-written")
    for room in ("p1", "p2"):
        await redis_store.append("s1", room, said(1))
    async with redis_store.lock("s1"):
        pass
    await redis_store.delete("s1")
    await asyncio.wait_for(sub.wait_ended(), timeout=5)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert [key async for key in client.scan_iter(match=f"{redis_store.prefix}*")] == []
    finally:
        await client.aclose()


@redis_only
async def test_redis_feed_fills_pubsub_gaps_from_the_log(redis_store: RedisStore, redis_url: str) -> None:
    """Pub/sub may drop messages (e.g. across a reconnect); the feed must not."""
    await redis_store.create(make_state())
    sub = await redis_store.subscribe("s1", "p1")
    await redis_store.append("s1", "p1", said(1))
    assert [e.seq for e in await take(sub, 1)] == [1]
    # Events 2 and 3 reach the log but their live messages are "lost": written without PUBLISH.
    stream, counter, _ = redis_store._room_keys("s1", "p1")
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for n in (2, 3):
            await raw.incr(counter)
            payload = said(n).model_copy(update={"seq": n}).model_dump_json()
            await raw.xadd(stream, {"e": payload}, id=f"0-{n}")
    finally:
        await raw.aclose()
    await redis_store.append("s1", "p1", said(4))
    assert [e.seq for e in await take(sub, 3)] == [2, 3, 4]
    await sub.close()


@redis_only
@pytest.mark.parametrize("retries", [0, 3], ids=["default-client", "retrying-client"])
async def test_redis_feed_survives_a_dropped_connection(
    redis_store: RedisStore, redis_url: str, retries: int
) -> None:
    """Kill the subscriber's connection server-side while events are appended.

    Nothing may be lost or repeated: with a client that reconnects, the feed carries on with every
    event; with the default client (no retries) it may end instead, and the log has the rest.
    """
    client = aioredis.Redis.from_url(redis_url, decode_responses=True, retry=Retry(NoBackoff(), retries))
    store = RedisStore(redis_store.url, redis_store.prefix, client=client)
    try:
        await store.create(make_state())
        sub = await store.subscribe("s1", "p1")
        assert isinstance(sub, RedisSubscription)
        connection = store._feed.connection  # the store's one pub/sub connection
        assert connection is not None and connection._writer is not None
        host, port = connection._writer.get_extra_info("sockname")[:2]
        assert await redis_store._client.client_kill(f"{host}:{port}")  # only this test's connection
        for n in (1, 2, 3):
            await store.append("s1", "p1", said(n))

        async def first_three() -> list[int]:
            got: list[int] = []
            async for event in sub:
                got.append(event.seq)
                if len(got) == 3:
                    break
            return got

        got = await asyncio.wait_for(first_three(), timeout=5)
        if retries:
            assert got == [1, 2, 3] and not sub.ended
        else:
            assert got == [1, 2, 3][: len(got)]
            assert len(got) == 3 or sub.end_reason == "disconnected"
            rest = await store.read("s1", "p1", after_seq=got[-1] if got else 0)
            assert got + [e.seq for e in rest] == [1, 2, 3]
        await sub.close()
    finally:
        await store.close()
        await client.aclose()


@redis_only
async def test_redis_lock_expires_and_wait_is_bounded(redis_store: RedisStore, redis_url: str) -> None:
    await redis_store.create(make_state())
    impatient = RedisStore(redis_store.url, redis_store.prefix, lock_wait=0.05)
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with redis_store.lock("s1"):
            # the lock carries an expiry, so a crashed holder cannot freeze the session forever
            ttl_ms = await raw.pttl(f"{redis_store.prefix}lock:s1")
            assert 0 < ttl_ms <= redis_store.lock_timeout * 1000
            with pytest.raises(StoreUnavailable):
                async with impatient.lock("s1"):
                    pass
        async with impatient.lock("s1"):  # released: free again
            pass
    finally:
        await raw.aclose()
        await impatient.close()


@pytest.mark.redis
async def test_redis_connect_reports_an_unreachable_server(redis_url: str) -> None:
    store = await RedisStore.connect(redis_url, f"test:unused-{id(redis_url)}:")
    assert await store.ping() is True
    await store.close()
    with pytest.raises(StoreUnavailable) as caught:
        await RedisStore.connect("redis://user:s3cret@127.0.0.1:1/0")
    assert "127.0.0.1:1" in caught.value.message and "s3cret" not in caught.value.message
    unreachable = RedisStore("redis://127.0.0.1:1/0")
    assert await unreachable.ping() is False
    with pytest.raises(StoreUnavailable):
        await unreachable.load("s1")
    await unreachable.close()

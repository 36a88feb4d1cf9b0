"""The human review queue: one contract, run on the memory queue and on the Redis queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from orchestrator.clock import ManualClock
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.models import Severity, Verdict
from orchestrator.review import (
    CaseFeed,
    Decision,
    MemoryReviewQueue,
    ReviewCase,
    ReviewQueue,
    ReviewStatus,
)
from orchestrator.review_redis import RedisReviewQueue
from tests.orchestrator.conftest import redis_test_prefix

LEASE = 600.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def review(
    request: pytest.FixtureRequest, redis_url: str, clock: ManualClock
) -> AsyncIterator[ReviewQueue]:
    """A fresh queue of each kind (Redis on a private prefix whose keys are deleted afterwards)."""
    if request.param == "memory":
        memory = MemoryReviewQueue(clock, lease_seconds=LEASE)
        yield memory
        await memory.close()
        return
    async with redis_test_prefix(redis_url) as prefix:
        queue = RedisReviewQueue(redis_url, clock, prefix=prefix, lease_seconds=LEASE)
        yield queue
        await queue.close()


@pytest.fixture
async def other_node(review: ReviewQueue, redis_url: str, clock: ManualClock) -> AsyncIterator[ReviewQueue]:
    """Another handle on the same cases, as a second gateway node has it (memory: the same queue)."""
    if not isinstance(review, RedisReviewQueue):
        yield review
        return
    second = RedisReviewQueue(redis_url, clock, prefix=review.prefix, lease_seconds=LEASE)
    yield second
    await second.close()


async def _open(
    review: ReviewQueue, severity: Severity = Severity.HIGH, session: str = "s1", party: str = "p2"
) -> ReviewCase:
    verdict = Verdict(severity=severity, categories=["violence_threat"], layer="rules")
    return await review.open_case(
        session_id=session, party_id=party, verdict=verdict, flagged_text="flagged", context=["one", "two"]
    )


async def _next(feed: CaseFeed) -> ReviewCase:
    # The timeout only guards against a hang; the case is expected at once.
    return await asyncio.wait_for(anext(feed), timeout=5)


async def test_open_case_keeps_the_minimum_context(review: ReviewQueue) -> None:
    verdict = Verdict(severity=Severity.CRITICAL, categories=["self_harm"], layer="classifier")
    case = await review.open_case(
        session_id="s1", party_id="p2", verdict=verdict, flagged_text="the message", context=["a", "b", "c"]
    )
    stored = await review.get(case.id)
    assert stored == case
    assert stored.status is ReviewStatus.OPEN
    assert stored.severity is Severity.CRITICAL and stored.categories == ["self_harm"]
    assert stored.flagged_text == "the message"
    assert stored.context == ["b", "c"]  # at most two earlier lines
    assert stored.time_to_claim is None and stored.time_to_decision is None
    with pytest.raises(NotFound):
        await review.get("case-9999999999")


async def test_queue_orders_by_severity_then_age(review: ReviewQueue, clock: ManualClock) -> None:
    opened: dict[str, str] = {}
    for name, severity in [
        ("concern", Severity.CONCERN),
        ("high-old", Severity.HIGH),
        ("critical-old", Severity.CRITICAL),
        ("high-new", Severity.HIGH),
        ("critical-new", Severity.CRITICAL),
    ]:
        opened[(await _open(review, severity)).id] = name
        clock.advance(60)
    same_instant = [await _open(review, Severity.HIGH) for _ in range(3)]  # ties keep arrival order
    names = [opened.get(c.id, c.id) for c in await review.queue()]
    assert names == [
        "critical-old",
        "critical-new",
        "high-old",
        "high-new",
        *(c.id for c in same_instant),
        "concern",
    ]
    assert [opened.get(c.id, c.id) for c in await review.queue(limit=2)] == ["critical-old", "critical-new"]
    assert await review.queue(limit=0) == []


async def test_lease_expiry_returns_a_case_to_the_queue(review: ReviewQueue, clock: ManualClock) -> None:
    case = await _open(review)
    await review.claim(case.id, "rev-a")
    assert await review.queue() == []
    clock.advance(LEASE - 1)
    assert await review.queue() == []
    assert (await review.get(case.id)).status is ReviewStatus.CLAIMED

    clock.advance(1)  # the lease ends exactly now
    waiting = await review.queue()
    assert [c.id for c in waiting] == [case.id]
    assert waiting[0].status is ReviewStatus.OPEN and waiting[0].claimed_by is None
    await review.queue()  # applied once, not on every read
    trail = [(e.actor, e.action) for e in (await review.get(case.id)).audit]
    assert trail == [("system", "opened"), ("rev-a", "claimed"), ("system", "lease_expired")]

    with pytest.raises(Forbidden) as refused:
        await review.decide(case.id, "rev-a", Decision.RESUME, "too late")
    assert refused.value.code == "not_claimed"
    assert (await review.claim(case.id, "rev-b")).claimed_by == "rev-b"


async def test_expiry_is_applied_on_get_and_claim_too(review: ReviewQueue, clock: ManualClock) -> None:
    case = await _open(review)
    await review.claim(case.id, "rev-a")
    clock.advance(LEASE + 5)
    assert (await review.get(case.id)).status is ReviewStatus.OPEN

    other = await _open(review)
    await review.claim(other.id, "rev-a")
    clock.advance(LEASE)
    taken = await review.claim(other.id, "rev-b")  # no queue() in between
    assert [e.action for e in taken.audit] == ["opened", "claimed", "lease_expired", "claimed"]


async def test_claim_conflicts_and_lease_extension(
    review: ReviewQueue, other_node: ReviewQueue, clock: ManualClock
) -> None:
    case = await _open(review)
    first = await review.claim(case.id, "rev-a")
    assert first.status is ReviewStatus.CLAIMED and first.lease_until == clock.now() + LEASE
    with pytest.raises(Conflict) as taken:
        await other_node.claim(case.id, "rev-b")
    assert taken.value.code == "already_claimed"

    clock.advance(LEASE - 10)
    again = await other_node.claim(case.id, "rev-a")  # the holder, on another node
    assert again.lease_until == clock.now() + LEASE
    assert again.audit[-1].action == "lease_extended"
    clock.advance(LEASE - 10)
    with pytest.raises(Conflict):  # still held: the extension counted
        await review.claim(case.id, "rev-b")

    await review.decide(case.id, "rev-a", Decision.FALSE_ALARM, "Figurative, checked with the coach log.")
    with pytest.raises(Conflict) as closed:
        await review.claim(case.id, "rev-b")
    assert closed.value.code == "case_closed"
    with pytest.raises(NotFound):
        await review.claim("case-9999999999", "rev-a")
    with pytest.raises(InvalidInput):
        await review.claim(case.id, " ")


@pytest.mark.redis
async def test_two_nodes_racing_to_claim_exactly_one_wins(redis_url: str, clock: ManualClock) -> None:
    async with redis_test_prefix(redis_url) as prefix:
        nodes = [RedisReviewQueue(redis_url, clock, prefix=prefix) for _ in range(4)]
        try:
            for _ in range(10):
                case = await _open(nodes[0])
                results = await asyncio.gather(
                    *(node.claim(case.id, f"rev-{i}") for i, node in enumerate(nodes)), return_exceptions=True
                )
                winners = [r for r in results if isinstance(r, ReviewCase)]
                assert len(winners) == 1, results
                assert all(isinstance(r, Conflict) for r in results if r not in winners), results
                stored = await nodes[1].get(case.id)
                assert stored.claimed_by == winners[0].claimed_by
                assert [e.action for e in stored.audit] == ["opened", "claimed"]
        finally:
            for node in nodes:
                await node.close()


async def test_decide_needs_a_live_claim_and_a_rationale(review: ReviewQueue) -> None:
    case = await _open(review)
    with pytest.raises(Forbidden) as unclaimed:
        await review.decide(case.id, "rev-a", Decision.RESUME, "Looks fine.")
    assert unclaimed.value.code == "not_claimed"
    await review.claim(case.id, "rev-a")
    with pytest.raises(Forbidden) as not_yours:
        await review.decide(case.id, "rev-b", Decision.RESUME, "Looks fine.")
    assert not_yours.value.code == "not_claimed"
    for empty in ("", "   \n"):
        with pytest.raises(InvalidInput) as missing:
            await review.decide(case.id, "rev-a", Decision.RESUME, empty)
        assert missing.value.code == "rationale_required"
    with pytest.raises(InvalidInput) as unknown:
        await review.decide(case.id, "rev-a", "ignore", "Because.")
    assert unknown.value.code == "unknown_decision"
    unchanged = await review.get(case.id)
    assert unchanged.status is ReviewStatus.CLAIMED and unchanged.decision is None
    assert [e.action for e in unchanged.audit] == ["opened", "claimed"]

    closed = await review.decide(case.id, "rev-a", "keep_separate", "  Disclosure of control; keep apart. ")
    assert closed.status is ReviewStatus.CLOSED and closed.decision is Decision.KEEP_SEPARATE
    assert closed.rationale == "Disclosure of control; keep apart."
    assert await review.queue() == []
    with pytest.raises(Conflict):
        await review.decide(case.id, "rev-a", Decision.RESUME, "Changed my mind.")


async def test_release_gives_the_case_back(review: ReviewQueue) -> None:
    case = await _open(review)
    await review.claim(case.id, "rev-a")
    with pytest.raises(Forbidden):
        await review.release(case.id, "rev-b")
    released = await review.release(case.id, "rev-a")
    assert released.status is ReviewStatus.OPEN and released.claimed_by is None
    assert [c.id for c in await review.queue()] == [case.id]
    assert (await review.claim(case.id, "rev-b")).claimed_by == "rev-b"


async def test_escalate_returns_the_case_to_the_queue(review: ReviewQueue, clock: ManualClock) -> None:
    low = await _open(review, Severity.CONCERN)
    case = await _open(review, Severity.CRITICAL)
    await review.claim(case.id, "rev-a")
    escalated = await review.decide(case.id, "rev-a", Decision.ESCALATE, "Needs a clinician.")
    assert escalated.status is ReviewStatus.ESCALATED and escalated.claimed_by is None
    assert escalated.severity is Severity.CRITICAL and escalated.decision is Decision.ESCALATE
    assert [c.id for c in await review.queue()] == [case.id, low.id]

    await review.claim(case.id, "senior")
    clock.advance(LEASE)
    assert (await review.get(case.id)).status is ReviewStatus.ESCALATED  # expiry keeps the escalation
    await review.claim(case.id, "senior")
    done = await review.decide(case.id, "senior", Decision.CONTACT_MADE, "Called the party; safe tonight.")
    assert done.status is ReviewStatus.CLOSED and done.claimed_by == "senior"
    assert [c.id for c in await review.queue()] == [low.id]
    assert {c.id for c in await review.all_cases()} == {low.id, case.id}


async def test_audit_trail_is_complete_ordered_and_append_only(
    review: ReviewQueue, clock: ManualClock
) -> None:
    case = await _open(review)
    snapshots = [case]
    clock.advance(10)
    snapshots.append(await review.claim(case.id, "rev-a"))
    clock.advance(10)
    snapshots.append(await review.claim(case.id, "rev-a"))
    clock.advance(10)
    snapshots.append(await review.release(case.id, "rev-a"))
    clock.advance(10)
    snapshots.append(await review.claim(case.id, "rev-b"))
    clock.advance(10)
    snapshots.append(await review.decide(case.id, "rev-b", Decision.ESCALATE, "Second opinion."))
    clock.advance(LEASE)
    snapshots.append(await review.claim(case.id, "rev-c"))
    clock.advance(LEASE + 1)
    snapshots.append(await review.get(case.id))
    snapshots.append(await review.claim(case.id, "rev-c"))
    snapshots.append(await review.decide(case.id, "rev-c", Decision.RESOURCES_SENT, "Sent local resources."))

    t0 = case.created_at
    trail = [(e.at - t0, e.actor, e.action) for e in snapshots[-1].audit]
    assert trail == [
        (0, "system", "opened"),
        (10, "rev-a", "claimed"),
        (20, "rev-a", "lease_extended"),
        (30, "rev-a", "released"),
        (40, "rev-b", "claimed"),
        (50, "rev-b", "escalated"),
        (50 + LEASE, "rev-c", "claimed"),
        (51 + 2 * LEASE, "system", "lease_expired"),
        (51 + 2 * LEASE, "rev-c", "claimed"),
        (51 + 2 * LEASE, "rev-c", "decided"),
    ]
    assert snapshots[-1].audit[-1].detail == "resources_sent: Sent local resources."
    for earlier, later in zip(snapshots, snapshots[1:], strict=False):
        assert later.audit[: len(earlier.audit)] == earlier.audit  # nothing rewritten or removed

    stored = await review.get(case.id)
    stored.audit.clear()  # a caller's copy: the stored trail does not change
    assert len((await review.get(case.id)).audit) == len(trail)
    with pytest.raises(Exception):  # noqa: B017 - entries are frozen
        snapshots[-1].audit[0].actor = "someone else"  # type: ignore[misc]


def _histogram_sum(name: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_sum") or 0.0


async def test_time_to_claim_and_decision_come_from_the_clock(
    review: ReviewQueue, clock: ManualClock
) -> None:
    claim_sum = _histogram_sum("accord_review_time_to_claim_seconds")
    decision_sum = _histogram_sum("accord_review_time_to_decision_seconds")
    case = await _open(review)
    clock.advance(90)
    claimed = await review.claim(case.id, "rev-a")
    assert claimed.time_to_claim == 90 and claimed.time_to_decision is None
    clock.advance(30)
    await review.release(case.id, "rev-a")
    await review.claim(case.id, "rev-b")  # not a first claim: not observed again
    clock.advance(30)
    decided = await review.decide(case.id, "rev-b", Decision.RESUME, "Safe to continue.")
    assert decided.time_to_claim == 90 and decided.time_to_decision == 150
    assert decided.model_dump()["time_to_decision"] == 150  # part of what the API returns
    assert _histogram_sum("accord_review_time_to_claim_seconds") - claim_sum == 90
    assert _histogram_sum("accord_review_time_to_decision_seconds") - decision_sum == 150


async def test_subscribe_sees_new_and_changed_cases(review: ReviewQueue, other_node: ReviewQueue) -> None:
    feed = await other_node.subscribe()
    try:
        case = await _open(review, Severity.CRITICAL)
        seen = await _next(feed)
        assert seen.id == case.id and seen.status is ReviewStatus.OPEN and seen.flagged_text == "flagged"
        await review.claim(case.id, "rev-a")
        changed = await _next(feed)
        assert changed.id == case.id and changed.status is ReviewStatus.CLAIMED
        assert [e.action for e in changed.audit] == ["opened", "claimed"]
    finally:
        await feed.close()
    assert feed.end_reason == "closed"


async def test_all_cases_filters_by_session(review: ReviewQueue) -> None:
    a = await _open(review, session="s1")
    b = await _open(review, session="s2")
    await review.claim(a.id, "rev-a")
    await review.decide(a.id, "rev-a", Decision.END_SESSION, "Threats continued after the hold.")
    assert [c.id for c in await review.all_cases()] == [a.id, b.id]
    assert [c.id for c in await review.all_cases(session_id="s1")] == [a.id]

"""The human review queue: safety cases a person must look at, most urgent first.

A case is opened when the safety path holds a session (or keeps it separate). Reviewers take cases
from :meth:`ReviewQueue.queue` (severity first, then age, like a crisis line's queue), ``claim`` one
with a lease that expires back to the queue if they walk away, and ``decide`` it with a required
rationale. ``escalate`` puts the case back in the queue for someone else; every other decision
closes it. Every change appends an :class:`AuditEntry` (who, what, when); nothing edits or removes
one. A case holds the flagged message and at most two earlier lines of the same party: the
minimum a reviewer needs, nothing more.

Lease expiry is applied lazily: whenever a case is read or changed, a claim whose lease ended by
the :class:`~orchestrator.clock.Clock` becomes open again (audited as ``lease_expired``), so no
timer has to run and a :class:`~orchestrator.clock.ManualClock` drives it in tests.

``MemoryReviewQueue`` is the embedded default; ``RedisReviewQueue`` (in ``review_redis``, also
importable from here) is shared by every gateway node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Histogram
from pydantic import BaseModel, ConfigDict, Field, computed_field

from orchestrator.clock import Clock, RealClock
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.feed import BoundedFeed, EndReason
from orchestrator.models import Severity, Verdict

if TYPE_CHECKING:
    from orchestrator.review_redis import RedisReviewQueue as RedisReviewQueue  # re-exported

log = structlog.get_logger("accord.review")

DEFAULT_LEASE_SECONDS = 600.0
MAX_CONTEXT_LINES = 2  # earlier lines of the same party a reviewer sees with the flagged one
MAX_RATIONALE_CHARS = 4000
DEFAULT_FEED_QUEUE = 1000
SYSTEM_ACTOR = "system"  # the actor of audit entries no person caused (opening, lease expiry)

# Defined once, here, in the default registry (``review_redis`` imports them from this module).
_H = 3600
_REVIEW_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, _H, 4 * _H, 12 * _H, 24 * _H, 72 * _H)
TIME_TO_CLAIM = Histogram(
    "accord_review_time_to_claim_seconds",
    "From a review case opened to its first claim.",
    buckets=_REVIEW_BUCKETS,
)
TIME_TO_DECISION = Histogram(
    "accord_review_time_to_decision_seconds",
    "From a review case opened to the decision that closed it.",
    buckets=_REVIEW_BUCKETS,
)


class ReviewStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    ESCALATED = "escalated"  # decided "escalate": back in the queue for another (senior) reviewer
    CLOSED = "closed"


class Decision(StrEnum):
    RESUME = "resume"
    KEEP_SEPARATE = "keep_separate"
    END_SESSION = "end_session"
    RESOURCES_SENT = "resources_sent"
    CONTACT_MADE = "contact_made"
    FALSE_ALARM = "false_alarm"
    ESCALATE = "escalate"  # the only decision that does not close the case


class AuditEntry(BaseModel):
    """One change to a case. Frozen: an entry, once written, is never edited."""

    model_config = ConfigDict(frozen=True)

    at: float
    actor: str  # reviewer name, or ``system``
    action: str  # opened | claimed | lease_extended | released | lease_expired | decided | escalated
    detail: str = ""


class ReviewCase(BaseModel):
    """A flagged message waiting for (or decided by) a human reviewer."""

    id: str
    session_id: str
    party_id: str
    severity: Severity
    categories: list[str] = Field(default_factory=list)
    status: ReviewStatus = ReviewStatus.OPEN
    created_at: float
    claimed_by: str | None = None  # the current claim holder; on a closed case, who decided
    claimed_at: float | None = None
    lease_until: float | None = None
    decided_at: float | None = None  # the latest decision (an escalation included)
    decision: Decision | None = None
    rationale: str | None = None
    flagged_text: str
    context: list[str] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_claim(self) -> float | None:
        """Seconds from opening to the first claim (from the audit trail), or None if never claimed."""
        first = next((e for e in self.audit if e.action == "claimed"), None)
        return None if first is None else first.at - self.created_at

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_decision(self) -> float | None:
        """Seconds from opening to the latest decision, or None if undecided."""
        return None if self.decided_at is None else self.decided_at - self.created_at

    def lease_live(self, now: float) -> bool:
        """True while a reviewer holds a claim that has not expired."""
        return self.status is ReviewStatus.CLAIMED and self.lease_until is not None and self.lease_until > now

    def stored_json(self) -> str:
        """The case as stored: without its audit trail (kept append-only apart) and computed fields."""
        return self.model_dump_json(exclude={"audit", "time_to_claim", "time_to_decision"})


# A change to one case: mutates it at ``now`` and returns the audit entries it adds (none = no-op).
Change = Callable[[ReviewCase, float], list[AuditEntry]]

FeedEndReason = EndReason


class CaseFeed(BoundedFeed[ReviewCase]):
    """Live feed of new and changed cases (each a snapshot). The pattern that misses nothing:
    subscribe first, then read ``queue()``, then follow the feed (a case may arrive twice; the
    later snapshot wins)."""


def _parse_decision(decision: Decision | str) -> Decision:
    try:
        return Decision(str(decision))
    except ValueError:
        known = ", ".join(d.value for d in Decision)
        raise InvalidInput(
            f"unknown decision {decision!r}; one of: {known}", code="unknown_decision"
        ) from None


def _check_reviewer(reviewer: str) -> None:
    if not reviewer or not reviewer.strip():
        raise InvalidInput("a reviewer name is required", code="reviewer_required")


def _expire(case: ReviewCase, now: float) -> list[AuditEntry]:
    """Return a claim whose lease ended to the queue (as open, or escalated if it was)."""
    if case.status is not ReviewStatus.CLAIMED or case.lease_until is None or case.lease_until > now:
        return []
    holder = case.claimed_by or ""
    _unclaim(case)
    return [
        AuditEntry(at=now, actor=SYSTEM_ACTOR, action="lease_expired", detail=f"claim of {holder} expired")
    ]


def _unclaim(case: ReviewCase) -> None:
    case.status = ReviewStatus.ESCALATED if case.decision is Decision.ESCALATE else ReviewStatus.OPEN
    case.claimed_by = None
    case.claimed_at = None
    case.lease_until = None


def _queue_key(case: ReviewCase) -> tuple[int, float, str]:
    # Ids sort in opening order (zero-padded counter), so equal instants keep arrival order.
    return (-case.severity.rank, case.created_at, case.id)


def format_case_id(n: int) -> str:
    """Case ids sort in opening order as text (both stores rely on it to break ties)."""
    return f"case-{n:010d}"


class ReviewQueue(ABC):
    """Review cases, their queue, claims, decisions and audit trail.

    Subclasses provide storage (``_new_id``, ``_insert``, ``_load``, ``_update``, ``_candidates``,
    ``all_cases``, ``subscribe``); the rules live here so both stores behave the same.
    """

    def __init__(self, clock: Clock | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.clock: Clock = clock or RealClock()
        self.lease_seconds = float(lease_seconds)

    # --- storage, per backend --------------------------------------------------------------------
    @abstractmethod
    async def _new_id(self) -> str:
        """A new case id, greater (as text) than every earlier one."""

    @abstractmethod
    async def _insert(self, case: ReviewCase, entry: AuditEntry) -> None:
        """Store a new case with its first audit entry, index it, and announce it to feeds."""

    @abstractmethod
    async def _load(self, case_id: str) -> ReviewCase:
        """The stored case with its audit trail, as is (no expiry applied). Raises ``NotFound``."""

    @abstractmethod
    async def _update(self, case_id: str, change: Change) -> tuple[ReviewCase, list[AuditEntry]]:
        """Atomically apply ``change`` to the stored case (no write when it adds no entry).

        ``change`` may run more than once (optimistic retries); only its last run is committed.
        Returns the committed case (with its whole audit) and the entries this change added.
        """

    @abstractmethod
    async def _candidates(self, batch: int, offset: int) -> list[ReviewCase]:
        """Up to ``batch`` cases that are not closed, in queue order, starting at ``offset``."""

    @abstractmethod
    async def all_cases(self, session_id: str | None = None) -> list[ReviewCase]:
        """Every case (closed ones too), oldest first; only one session's when ``session_id``."""

    @abstractmethod
    async def subscribe(self) -> CaseFeed:
        """A live feed of new and changed cases, from now on."""

    async def close(self) -> None:  # noqa: B027 - optional hook: the memory queue holds no connection
        """Release connections and end feeds."""

    # --- the rules ---------------------------------------------------------------------------------
    async def _apply(self, case_id: str, change: Change) -> tuple[ReviewCase, list[AuditEntry]]:
        def with_expiry(case: ReviewCase, now: float) -> list[AuditEntry]:
            return _expire(case, now) + change(case, now)

        return await self._update(case_id, with_expiry)

    async def open_case(
        self, *, session_id: str, party_id: str, verdict: Verdict, flagged_text: str, context: list[str]
    ) -> ReviewCase:
        """Open a case for a flagged message; ``context`` is earlier lines of the same party."""
        now = self.clock.now()
        case = ReviewCase(
            id=await self._new_id(),
            session_id=session_id,
            party_id=party_id,
            severity=verdict.severity,
            categories=list(verdict.categories),
            created_at=now,
            flagged_text=flagged_text,
            context=list(context)[-MAX_CONTEXT_LINES:] if context else [],
        )
        categories = ",".join(verdict.categories)
        detail = f"severity={verdict.severity.value}; layer={verdict.layer}; categories={categories}"
        entry = AuditEntry(at=now, actor=SYSTEM_ACTOR, action="opened", detail=detail)
        await self._insert(case, entry)
        case.audit = [entry]
        log.info("review_case_opened", case_id=case.id, severity=case.severity.value)
        return case

    async def get(self, case_id: str) -> ReviewCase:
        """The case, with an ended lease already returned to the queue. Raises ``NotFound``."""
        case = await self._load(case_id)
        if case.status is ReviewStatus.CLAIMED and not case.lease_live(self.clock.now()):
            case, _ = await self._apply(case_id, lambda c, now: [])
        return case

    async def queue(self, limit: int = 100) -> list[ReviewCase]:
        """Cases needing a human (open, escalated, or claimed with an ended lease), most urgent first."""
        if limit <= 0:
            return []
        found: list[ReviewCase] = []
        offset, batch = 0, max(limit, 100)
        while len(found) < limit:
            cases = await self._candidates(batch, offset)
            for case in cases:
                if case.status is ReviewStatus.CLAIMED:
                    if case.lease_live(self.clock.now()):
                        continue
                    case, _ = await self._apply(case.id, lambda c, now: [])
                    if case.status not in (ReviewStatus.OPEN, ReviewStatus.ESCALATED):
                        continue  # claimed or decided by someone else meanwhile
                found.append(case)
                if len(found) == limit:
                    break
            if len(cases) < batch:
                break
            offset += batch
        return found

    async def claim(self, case_id: str, reviewer: str) -> ReviewCase:
        """Take the case for ``lease_seconds``. The holder may claim again to extend the lease.

        Raises ``Conflict`` when another reviewer holds a live lease or the case is closed.
        """
        _check_reviewer(reviewer)

        def change(case: ReviewCase, now: float) -> list[AuditEntry]:
            if case.status is ReviewStatus.CLOSED:
                raise Conflict("this case is already closed", code="case_closed")
            if case.lease_live(now):
                if case.claimed_by != reviewer:
                    raise Conflict("another reviewer holds this case", code="already_claimed")
                case.lease_until = now + self.lease_seconds
                return [AuditEntry(at=now, actor=reviewer, action="lease_extended")]
            case.status = ReviewStatus.CLAIMED
            case.claimed_by = reviewer
            case.claimed_at = now
            case.lease_until = now + self.lease_seconds
            return [AuditEntry(at=now, actor=reviewer, action="claimed")]

        case, added = await self._apply(case_id, change)
        first_claim = sum(1 for e in case.audit if e.action == "claimed") == 1
        if first_claim and any(e.action == "claimed" for e in added) and case.time_to_claim is not None:
            TIME_TO_CLAIM.observe(case.time_to_claim)
        log.info("review_case_claimed", case_id=case_id, reviewer=reviewer)
        return case

    async def release(self, case_id: str, reviewer: str) -> ReviewCase:
        """Give the case back to the queue. Raises ``Forbidden`` (``not_claimed``) unless held."""
        _check_reviewer(reviewer)

        def change(case: ReviewCase, now: float) -> list[AuditEntry]:
            self._require_claim(case, reviewer, now)
            _unclaim(case)
            return [AuditEntry(at=now, actor=reviewer, action="released")]

        case, _ = await self._apply(case_id, change)
        return case

    async def decide(
        self, case_id: str, reviewer: str, decision: Decision | str, rationale: str
    ) -> ReviewCase:
        """Record a decision with its rationale. ``escalate`` requeues the case; others close it.

        The reviewer must hold a live claim (``Forbidden``, code ``not_claimed``); the rationale is
        required (``InvalidInput``, code ``rationale_required``).
        """
        _check_reviewer(reviewer)
        chosen = _parse_decision(decision)
        reason = (rationale or "").strip()
        if not reason:
            raise InvalidInput("a decision needs a rationale", code="rationale_required")
        if len(reason) > MAX_RATIONALE_CHARS:
            raise InvalidInput(
                f"a rationale holds at most {MAX_RATIONALE_CHARS} characters", code="rationale_too_long"
            )

        def change(case: ReviewCase, now: float) -> list[AuditEntry]:
            self._require_claim(case, reviewer, now)
            case.decision = chosen
            case.rationale = reason
            case.decided_at = now
            if chosen is Decision.ESCALATE:
                _unclaim(case)  # decision is ESCALATE now, so the case goes back as escalated
                return [AuditEntry(at=now, actor=reviewer, action="escalated", detail=reason)]
            case.status = ReviewStatus.CLOSED
            case.lease_until = None
            return [AuditEntry(at=now, actor=reviewer, action="decided", detail=f"{chosen.value}: {reason}")]

        case, _ = await self._apply(case_id, change)
        if case.status is ReviewStatus.CLOSED and case.time_to_decision is not None:
            TIME_TO_DECISION.observe(case.time_to_decision)
        log.info("review_case_decided", case_id=case_id, reviewer=reviewer, decision=chosen.value)
        return case

    @staticmethod
    def _require_claim(case: ReviewCase, reviewer: str, now: float) -> None:
        if case.status is ReviewStatus.CLOSED:
            raise Conflict("this case is already closed", code="case_closed")
        if not case.lease_live(now) or case.claimed_by != reviewer:
            raise Forbidden("claim this case first (your claim may have expired)", code="not_claimed")


class _MemoryFeed(CaseFeed):
    def __init__(self, feeds: set[CaseFeed], maxsize: int) -> None:
        super().__init__(maxsize)
        self._feeds = feeds

    async def _release(self) -> None:
        self._feeds.discard(self)


class MemoryReviewQueue(ReviewQueue):
    """Cases in process memory (the embedded default; one process). Cases are kept as JSON, so a
    caller who changes a returned case never changes the stored one."""

    def __init__(
        self,
        clock: Clock | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        *,
        feed_queue_size: int = DEFAULT_FEED_QUEUE,
    ) -> None:
        super().__init__(clock, lease_seconds)
        self.feed_queue_size = feed_queue_size
        self._cases: dict[str, str] = {}  # id -> case JSON without audit
        self._audit: dict[str, list[AuditEntry]] = {}  # append-only; entries are frozen
        self._counter = 0
        self._feeds: set[CaseFeed] = set()

    async def _new_id(self) -> str:
        self._counter += 1
        return format_case_id(self._counter)

    def _read(self, case_id: str) -> ReviewCase:
        try:
            raw = self._cases[case_id]
        except KeyError:
            raise NotFound(f"no review case {case_id!r}") from None
        case = ReviewCase.model_validate_json(raw)
        case.audit = list(self._audit[case_id])
        return case

    def _publish(self, case_id: str) -> None:
        for feed in list(self._feeds):
            feed.push(self._read(case_id))  # each reader gets its own copy
            if feed.ended:
                self._feeds.discard(feed)

    async def _insert(self, case: ReviewCase, entry: AuditEntry) -> None:
        if case.id in self._cases:
            raise Conflict(f"review case {case.id!r} already exists")
        self._cases[case.id] = case.stored_json()
        self._audit[case.id] = [entry]
        self._publish(case.id)

    async def _load(self, case_id: str) -> ReviewCase:
        return self._read(case_id)

    async def _update(self, case_id: str, change: Change) -> tuple[ReviewCase, list[AuditEntry]]:
        # No await between read and write: atomic within the event loop.
        case = self._read(case_id)
        added = change(case, self.clock.now())
        if not added:
            return case, []
        self._cases[case_id] = case.stored_json()
        self._audit[case_id].extend(added)
        self._publish(case_id)
        return self._read(case_id), added

    async def _candidates(self, batch: int, offset: int) -> list[ReviewCase]:
        cases = [self._read(cid) for cid in self._cases]
        waiting = sorted((c for c in cases if c.status is not ReviewStatus.CLOSED), key=_queue_key)
        return waiting[offset : offset + batch]

    async def all_cases(self, session_id: str | None = None) -> list[ReviewCase]:
        cases = [self._read(cid) for cid in sorted(self._cases)]
        return [c for c in cases if session_id is None or c.session_id == session_id]

    async def subscribe(self) -> CaseFeed:
        feed = _MemoryFeed(self._feeds, self.feed_queue_size)
        self._feeds.add(feed)
        return feed

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.finish("closed")
        self._feeds.clear()


def __getattr__(name: str) -> Any:
    # ``from orchestrator.review import RedisReviewQueue`` works without importing redis up front
    # (and without an import cycle: review_redis imports this module).
    if name == "RedisReviewQueue":
        from orchestrator.review_redis import RedisReviewQueue

        return RedisReviewQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The state of a mediation session, as stored. Every field is plain data (pydantic), so the same
state lives in memory or as JSON in Redis and survives a restart unchanged."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Stage(StrEnum):
    """Where a session is. ``held`` and ``separate`` can be entered from anywhere."""

    INTAKE = "intake"  # parties alone: goals and safety questions; private coaching works
    WAITING = "waiting"  # the initiator is alone until the invite is accepted
    READY_CHECK = "ready_check"  # both present; each must say they are ready
    JOINT = "joint"  # approved messages are shared through the mediator
    PAUSED = "paused"  # a negotiated timeout is running; nothing is shared
    AGREEMENT = "agreement"  # proposed agreements wait for each party's answer
    CLOSED = "closed"
    HELD = "held"  # safety: a human reviewer must look before anything continues
    SEPARATE = "separate"  # joint work contraindicated: private support only


class Mode(StrEnum):
    COUPLE = "couple"
    WORKPLACE = "workplace"


class Role(StrEnum):
    PARTY = "party"
    FACILITATOR = "facilitator"
    REVIEWER = "reviewer"


class Severity(StrEnum):
    NONE = "none"
    CONCERN = "concern"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def max(cls, *values: Severity) -> Severity:
        return max(values, key=lambda s: s.rank, default=cls.NONE)


_SEVERITY_RANK = {Severity.NONE: 0, Severity.CONCERN: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Verdict(BaseModel):
    """What the safety screener decided about one text."""

    severity: Severity = Severity.NONE
    categories: list[str] = Field(default_factory=list)
    layer: str = "rules"  # rules | classifier | llm | error
    reasons: list[str] = Field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.severity.rank >= Severity.HIGH.rank


class IntakeStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


class PrivateTurn(BaseModel):
    """One line of a private room: the party or their coach. Never leaves that room."""

    speaker: Literal["party", "coach"]
    text: str
    at: float
    message_id: str


class Party(BaseModel):
    id: str
    name: str
    role: Role = Role.PARTY
    joined_at: float
    intake: IntakeStatus = IntakeStatus.PENDING
    ready: bool = False
    # pacing: recent message times and flood score, read by orchestrator.pacing
    recent_message_times: list[float] = Field(default_factory=list)
    flood_score: float = 0.0
    flood_suggested_at: float | None = None
    messages_since_other_spoke: int = 0
    cycle_named_at: float | None = None
    cycle_role_pending: str | None = None  # "withdrawer": named gently the next time they speak
    coach_turns: int = 0
    deleted: bool = False  # the party erased their private data
    cssrs_answered: bool = False  # the self-harm follow-up questions were answered
    # private history (coach memory input; the leak guard compares shared text against it)
    history: list[PrivateTurn] = Field(default_factory=list)
    seen_client_msg_ids: list[str] = Field(default_factory=list)
    coach_state: dict[str, object] = Field(default_factory=dict)  # LLM coach memory (save_state)


class DraftStatus(StrEnum):
    PENDING = "pending"  # proposed by the coach; the author has not decided
    SENT = "sent"  # approved by its author; shared (or queued while paused)
    DISCARDED = "discarded"


class DraftKind(StrEnum):
    MESSAGE = "message"
    REQUEST = "request"  # carries a request that may become an agreement


class Draft(BaseModel):
    """A reframed message the coach proposed for the other side. Shared only on its author's ``send``."""

    id: str
    author: str  # party id
    text: str
    kind: DraftKind = DraftKind.MESSAGE
    request: str | None = None  # the NVC request clause, when there is one
    status: DraftStatus = DraftStatus.PENDING
    edited: bool = False
    created_at: float
    decided_at: float | None = None
    shared_message_id: str | None = None


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"  # every party accepted
    DECLINED = "declined"  # at least one party declined


class Agreement(BaseModel):
    id: str
    text: str
    proposed_at: float
    source_draft_ids: list[str] = Field(default_factory=list)
    accepted_by: dict[str, float] = Field(default_factory=dict)  # party id -> when
    declined_by: dict[str, float] = Field(default_factory=dict)
    status: AgreementStatus = AgreementStatus.PROPOSED


class SharedMessage(BaseModel):
    """A message both rooms saw, composed by the mediator from approved drafts only."""

    id: str
    text: str
    draft_ids: list[str]
    authors: list[str]
    at: float


class Timeout(BaseModel):
    """A negotiated break: started by one party, ends at ``ends_at`` or when both are ready."""

    started_by: str
    started_at: float
    ends_at: float
    reason: Literal["pause", "flood", "safety"] = "pause"


class SessionState(BaseModel):
    """Everything Accord knows about one session."""

    id: str
    mode: Mode
    stage: Stage = Stage.INTAKE
    created_at: float
    updated_at: float
    initiator: str
    parties: dict[str, Party] = Field(default_factory=dict)
    invite_code: str | None = None
    invite_used: bool = False
    facilitator_code: str | None = None
    drafts: dict[str, Draft] = Field(default_factory=dict)
    agreements: dict[str, Agreement] = Field(default_factory=dict)
    shared: list[SharedMessage] = Field(default_factory=list)
    queued_draft_ids: list[str] = Field(default_factory=list)  # sent while paused
    timeout: Timeout | None = None
    stage_before_pause: Stage | None = None
    hold_party: str | None = None  # who triggered held/separate (never shown to the other)
    review_case_ids: list[str] = Field(default_factory=list)
    counter: int = 0  # for short, ordered ids within the session

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def party(self, party_id: str) -> Party:
        from orchestrator.errors import NotFound

        try:
            return self.parties[party_id]
        except KeyError:
            raise NotFound(f"no party {party_id!r} in this session") from None

    def other(self, party_id: str) -> Party | None:
        for p in self.parties.values():
            if p.id != party_id and p.role is Role.PARTY:
                return p
        return None

    @property
    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties.values() if p.role is Role.PARTY]

    @property
    def facilitator_ids(self) -> list[str]:
        return [p.id for p in self.parties.values() if p.role is Role.FACILITATOR]

"""What each role is asked and what it answers. Builtin and LLM variants share these types, so the
orchestrator never knows (or cares) which one runs. Agents see only what they are handed here: they
never touch storage or sockets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.models import Mode, Verdict


# --- safety screener ---------------------------------------------------------------------------
class ScreenRequest(BaseModel):
    text: str
    mode: Mode = Mode.COUPLE
    # inbound: a party's own message; draft: an edited draft before sharing; outbound: a composed
    # shared message before it is published
    direction: Literal["inbound", "draft", "outbound"] = "inbound"


class SafetyScreener(ABC):
    """Reads a text and returns a verdict. Must fail closed: any internal error becomes ``high``."""

    @abstractmethod
    async def screen(self, request: ScreenRequest) -> Verdict: ...


# --- coach -------------------------------------------------------------------------------------
class Turn(BaseModel):
    speaker: Literal["party", "coach"]
    text: str


class BreakFacts(BaseModel):
    """A break as this party's room shows it. A safety hold on the other side reads exactly like
    their ordinary break here (docs/design.md): no reason, only who paused and when it ends."""

    by: Literal["you", "other"]
    due_back: str  # HH:MM, as the room's break notice shows it
    minutes: float


class SessionFacts(BaseModel):
    """What this party may know about the session, for the coach: never the other room's private
    words, drafts or safety state, only what this party's own room already shows them."""

    on_break: BreakFacts | None = None
    other_ready: bool = False  # the other said they are ready (shown to this room as a notice)
    other_shared: bool = False  # the other's approved words were shared since this party last wrote
    agreements_open: int = 0  # proposed agreements waiting for answers
    agreements_accepted: int = 0  # accepted by both
    drafts_pending: int = 0  # this party's drafts not yet decided
    drafts_waiting: int = 0  # approved by this party, waiting for the shared room
    drafts_shared: int = 0  # approved by this party and already shared


class CoachRequest(BaseModel):
    mode: Mode
    party_name: str
    other_name: str | None = None  # None while the party is alone (solo start)
    stage: str
    text: str  # the party's new private message
    history: list[Turn] = Field(default_factory=list)  # this room only, oldest first
    turn_index: int = 0  # how many coach replies this party has had (for variety)
    flooded: bool = False
    flood_signals: list[str] = Field(default_factory=list)  # e.g. "burst", "capitals", "absolutes"
    cycle_role: Literal["pursuer", "withdrawer"] | None = None  # pursue–withdraw, named gently
    concern: bool = False  # the screener saw something worth attending to (severity concern)
    parts_language: bool = True
    paused: bool = False
    session: SessionFacts = Field(default_factory=SessionFacts)
    # this room's turns before ``history`` (oldest first): the builtin coach remembers the whole
    # session, a model sees only the recent ``history``
    earlier_turns: list[Turn] = Field(default_factory=list)


class DraftProposal(BaseModel):
    text: str
    kind: Literal["message", "request"] = "message"
    request: str | None = None  # the "would you be willing to ..." clause, plain


class CoachReply(BaseModel):
    text: str
    draft: DraftProposal | None = None
    suggestion: Literal["break", "cycle", "none"] = "none"
    markers: list[str] = Field(default_factory=list)  # horsemen / absolutes noticed (for metrics)


class Coach(ABC):
    """A party's private coach: reflects and validates first, reality-tests, proposes drafts."""

    @abstractmethod
    async def respond(self, request: CoachRequest) -> CoachReply: ...


# --- mediator ----------------------------------------------------------------------------------
class ApprovedItem(BaseModel):
    draft_id: str
    author_name: str
    text: str  # exactly the text its author approved
    request: str | None = None


class ComposeRequest(BaseModel):
    mode: Mode
    parties: list[str]  # display names, both sides
    items: list[ApprovedItem]  # approved drafts only; the mediator sees nothing private
    previous_shared: list[str] = Field(default_factory=list)
    shared_count: int = 0  # how many shared messages came before (reassurance comes first)


class ProposedAgreement(BaseModel):
    text: str
    source_draft_ids: list[str] = Field(default_factory=list)


class ComposeResult(BaseModel):
    text: str
    agreements: list[ProposedAgreement] = Field(default_factory=list)


class Mediator(ABC):
    """Composes shared messages from approved drafts: attributed, balanced, warm, short."""

    @abstractmethod
    async def compose(self, request: ComposeRequest) -> ComposeResult: ...

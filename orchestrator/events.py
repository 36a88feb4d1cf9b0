"""Events: what a room receives. Each room (one party, or a facilitator) has its own append-only log
with a gap-free ``seq`` starting at 1. Shared events are appended to every room they concern.

Rooms have separate logs on purpose: one per-session counter would let a party infer, from gaps,
how much the other party is saying privately (or that something happened to them). With one log
per room, nothing about the other room is observable.

These models are also the server → client WebSocket frames (see ``docs/protocol.md``).

``seq == 0`` means **transient**: an event that is only ever delivered live to the subscribers of a
room at that moment (``SessionStore.signal``), never appended to a log, never replayed on resume
and never counted in ``last_seq``. The one transient event is :class:`CoachPartialEvent`, a coach
reply in progress; the logged ``coach`` event with the same ``reply_to`` replaces it.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, TypeAdapter


class _Event(BaseModel):
    seq: int = 0  # assigned by the event log on append
    at: float = 0.0


class DraftView(BaseModel):
    id: str
    text: str
    kind: str
    status: str
    edited: bool = False


class AgreementView(BaseModel):
    id: str
    text: str
    status: str
    accepted_by: list[str] = Field(default_factory=list)  # display names
    declined_by: list[str] = Field(default_factory=list)
    accepted_at: dict[str, float] = Field(default_factory=dict)  # display name -> when


class Resource(BaseModel):
    name: str
    contact: str
    note: str = ""


class SaidEvent(_Event):
    """Echo of the party's own private message (so a reloaded room can redraw it)."""

    type: Literal["said"] = "said"
    text: str
    message_id: str
    client_msg_id: str | None = None


class CoachEvent(_Event):
    """A private reply from the party's coach."""

    type: Literal["coach"] = "coach"
    text: str
    message_id: str
    reply_to: str | None = None
    suggestion: Literal["break", "cycle", "none"] = "none"


class CoachPartialEvent(_Event):
    """A coach reply in progress (transient: ``seq`` stays 0; never logged, never replayed).

    ``text`` is the whole partial reply so far, not a delta, so a dropped frame costs nothing: the
    next one carries everything. ``reply_to`` is the ``message_id`` of the ``said`` message it
    answers; the ``coach`` event with the same ``reply_to`` replaces it.
    """

    type: Literal["coach_partial"] = "coach_partial"
    text: str
    reply_to: str


class DraftEvent(_Event):
    """A draft was proposed, edited, sent or discarded. Only in its author's room."""

    type: Literal["draft"] = "draft"
    draft: DraftView


class SharedEvent(_Event):
    """A mediator message that both rooms see."""

    type: Literal["shared"] = "shared"
    text: str
    message_id: str
    authors: list[str] = Field(default_factory=list)  # display names


class StageEvent(_Event):
    """The session's stage as this room sees it, with plain words for people."""

    type: Literal["stage"] = "stage"
    stage: str
    text: str
    parties: list[str] = Field(default_factory=list)  # display names present


class TimeoutEvent(_Event):
    """A negotiated break: suggested, started, or over."""

    type: Literal["timeout"] = "timeout"
    state: Literal["suggested", "started", "ended"]
    text: str
    ends_at: float | None = None
    by: str | None = None  # display name


class SafetyEvent(_Event):
    """A private safety reply to the writer only, with resources."""

    type: Literal["safety"] = "safety"
    severity: str
    text: str
    resources: list[Resource] = Field(default_factory=list)
    questions: list[dict[str, object]] = Field(default_factory=list)  # intake / follow-up items


class IntakeEvent(_Event):
    """Private intake: the party's goals and a short, skippable safety screen. Only in their room."""

    type: Literal["intake"] = "intake"
    text: str
    questions: list[dict[str, object]] = Field(default_factory=list)


class AgreementEvent(_Event):
    type: Literal["agreement"] = "agreement"
    agreement: AgreementView


Event = Annotated[
    SaidEvent
    | CoachEvent
    | CoachPartialEvent
    | DraftEvent
    | SharedEvent
    | StageEvent
    | TimeoutEvent
    | SafetyEvent
    | IntakeEvent
    | AgreementEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# Every event type (the ``type`` default of each model in the union).
EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default for model in get_args(get_args(Event)[0])
)
# Event types that are only signalled live (seq 0), never appended to a room's log.
TRANSIENT_TYPES: frozenset[str] = frozenset({"coach_partial"})


def is_transient(event: Event) -> bool:
    """True for an event that is delivered live only (``seq`` 0): never logged, never replayed."""
    return event.type in TRANSIENT_TYPES


def event_text(event: Event) -> str | None:
    """The human-readable text of an event, if it has one (used by transcripts)."""
    if isinstance(event, DraftEvent):
        return event.draft.text
    if isinstance(event, AgreementEvent):
        return event.agreement.text
    return getattr(event, "text", None)

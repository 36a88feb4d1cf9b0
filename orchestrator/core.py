"""The session core's shared machinery: state in, events out.

Every change runs under the session's lock: load, change, append events to the rooms that may see
them, save. Subclasses (breaks, party data, the session service) add the operations.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from agents.interfaces import ApprovedItem, ScreenRequest
from agents.roles import Roles
from orchestrator import metrics, notices
from orchestrator.clock import Clock, RealClock
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.events import AgreementView, DraftView, Event, StageEvent
from orchestrator.models import Draft, IntakeStatus, Mode, Party, Role, SessionState, Stage, Verdict
from orchestrator.safety_path import SafetyPath
from orchestrator.store import SessionStore
from policies.protocol import ModeProtocol, Protocols, load_protocols

T = TypeVar("T")


@dataclass
class Joined:
    """Who just entered a session, and how they get back in."""

    session_id: str
    party_id: str
    name: str
    role: Role
    invite_code: str | None = None
    facilitator_code: str | None = None


class SessionView(BaseModel):
    """A session as one room sees it."""

    session_id: str
    mode: Mode
    stage: str
    stage_text: str
    you: str
    role: Role
    other: str | None = None
    invite_code: str | None = None
    facilitator_code: str | None = None
    drafts: list[DraftView] = Field(default_factory=list)
    agreements: list[AgreementView] = Field(default_factory=list)
    last_seq: int = 0
    timeout_ends_at: float | None = None
    ready: bool = False
    intake: str = "pending"  # this party's intake: pending | done | skipped


class SessionCore:
    """State handling shared by every session operation."""

    def __init__(
        self,
        store: SessionStore,
        roles: Roles,
        clock: Clock | None = None,
        protocols: Protocols | None = None,
        review: Any | None = None,
    ) -> None:
        self.store = store
        self.roles = roles
        self.clock = clock or RealClock()
        self.protocols = protocols or load_protocols()
        self.safety = SafetyPath(review=review, clock=self.clock)
        # Sessions with a running break, by when it ends: tick() looks only at these.
        self._due: dict[str, float] = {}
        self._due_loaded = False

    async def _advance(self, state: SessionState) -> bool:
        """Move through intake → waiting → ready_check as parties join and finish their intake.
        Returns whether the stage changed (every room has then been told)."""
        if state.stage not in (Stage.INTAKE, Stage.WAITING):
            return False
        parties = [state.parties[p] for p in state.party_ids]
        intake_done = all(p.intake is not IntakeStatus.PENDING for p in parties)
        if len(parties) < 2:
            target = Stage.WAITING if intake_done else Stage.INTAKE
        else:
            target = Stage.READY_CHECK if intake_done else Stage.INTAKE
        if target is state.stage:
            return False
        await self._set_stage(state, target)
        return True

    async def _set_stage(self, state: SessionState, stage: Stage) -> None:
        state.stage = stage
        for room in state.parties.values():
            await self._stage_event(state, room)

    async def _stage_event(self, state: SessionState, room: Party | None) -> None:
        if room is None:
            return
        minutes = self._protocol(state.mode).pacing.break_minutes
        await self._append(
            state,
            room.id,
            StageEvent(
                stage=notices.room_stage(state, room),
                text=notices.stage_text(state, room, self.protocols.notices, minutes),
                parties=self._names(state),
            ),
        )

    async def _offer_intake(self, state: SessionState, party: Party) -> None:
        event = self.safety.intake_event(state.mode, self.protocols.notices.intake)
        await self._append(state, party.id, event)

    async def _to_all(self, state: SessionState, event: Event, *, facilitators: bool = False) -> None:
        rooms = state.party_ids + (state.facilitator_ids if facilitators else [])
        for room in rooms:
            await self._append(state, room, event.model_copy())

    async def _append(self, state: SessionState, room: str, event: Event) -> Event:
        event.at = self.clock.now()
        stored = await self.store.append(state.id, room, event)
        metrics.EVENTS.labels(event.type).inc()
        return stored

    async def _save(self, state: SessionState) -> None:
        state.updated_at = self.clock.now()
        await self.store.save(state)

    async def _screen(
        self, text: str, mode: Mode, direction: Literal["inbound", "draft", "outbound"]
    ) -> Verdict:
        started = time.perf_counter()
        verdict = await self.safety.screen(
            self.roles.screener, ScreenRequest(text=text, mode=mode, direction=direction)
        )
        metrics.STAGE_LATENCY.labels("screen").observe(time.perf_counter() - started)
        metrics.VERDICTS.labels(verdict.severity.value, direction).inc()
        return verdict

    def _party(self, state: SessionState, party_id: str) -> Party:
        party = state.parties.get(party_id)
        if party is None:
            raise Forbidden("you are not a party to this session", code="not_a_party")
        if party.role is not Role.PARTY:
            raise Forbidden(
                "a facilitator sees outcomes only and cannot act in the session", code="facilitator_read_only"
            )
        return party

    def _protocol(self, mode: Mode) -> ModeProtocol:
        return self.protocols.mode(mode.value)

    def _names(self, state: SessionState) -> list[str]:
        return [state.parties[p].name for p in state.party_ids]

    def _clean_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise InvalidInput("text must be a string", code="invalid_text")
        text = text.strip()
        if not text:
            raise InvalidInput("the message is empty", code="empty_text")
        limit = self.protocols.limits.max_text_chars
        if len(text) > limit:
            raise InvalidInput(
                f"the message is {len(text)} characters; the limit is {limit}", code="text_too_long"
            )
        return text

    async def _publish(self, state: SessionState, drafts: list[Draft]) -> None:
        """Compose and share approved drafts (the session service implements it)."""
        raise NotImplementedError


def _parse_mode(mode: Mode | str) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        raise InvalidInput(
            f"unknown mode {mode!r}; use 'couple' or 'workplace'", code="invalid_mode"
        ) from None


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise InvalidInput("a display name is needed", code="empty_name")
    if len(name) > 40:
        raise InvalidInput("a display name can be at most 40 characters", code="name_too_long")
    return name


def _plain_composition(items: list[ApprovedItem]) -> str:
    """The safest shared message: each approved text, attributed, with nothing added."""
    return "\n\n".join(f"{item.author_name} wants to share: “{item.text}”" for item in items)


def _int(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


async def _timed(histogram: Any, awaitable: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        return await awaitable
    finally:
        histogram.observe(time.perf_counter() - started)

"""Negotiated timeouts and the readiness check.

``pause`` starts a break of the protocol's length; every other room hears that the person is coming
back. Breaks end on the Clock (``tick``) or when every party says they are ready.
"""

from __future__ import annotations

from typing import Literal

from orchestrator import agreements as agreement_rules
from orchestrator import notices, pacing
from orchestrator.core import SessionCore
from orchestrator.errors import NotFound, WrongStage
from orchestrator.events import StageEvent, TimeoutEvent
from orchestrator.models import Draft, Party, SessionState, Stage, Timeout

_PAUSABLE = (Stage.READY_CHECK.value, Stage.JOINT.value, Stage.AGREEMENT.value)
_HIDDEN = (Stage.HELD, Stage.SEPARATE)


class Breaks(SessionCore):
    """Pause, ready, and the ticker that ends breaks."""

    async def pause(self, session_id: str, party_id: str) -> None:
        """Start the negotiated timeout: both rooms hear it is a break, not an exit."""
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            shown = notices.room_stage(state, party)
            if shown == Stage.PAUSED.value:
                raise WrongStage("a break is already running", code="already_paused")
            if shown not in _PAUSABLE:
                raise WrongStage(
                    "a break pauses the shared conversation, which has not started yet; "
                    "your private room stays open",
                    code="nothing_to_pause",
                )
            # While a hold is disguised as a readiness check, a pause from the other side runs as
            # an ordinary break for them; the hold itself stays in place underneath.
            self._start_break(state, party, reason="pause", keep_stage=state.stage in _HIDDEN)
            pacing.note_break_taken(party)
            await self._announce_break(state, party, self_text=True)
            await self._save(state)

    def _start_break(
        self,
        state: SessionState,
        party: Party,
        reason: Literal["pause", "flood", "safety"],
        keep_stage: bool = False,
    ) -> None:
        now = self.clock.now()
        minutes = self._protocol(state.mode).pacing.break_minutes
        state.timeout = Timeout(
            started_by=party.id, started_at=now, ends_at=now + minutes * 60, reason=reason
        )
        if reason != "safety" and not keep_stage:
            state.stage_before_pause = state.stage
            state.stage = Stage.PAUSED
        for p in state.parties.values():
            p.ready = False
        self._due[state.id] = state.timeout.ends_at

    async def _announce_break(self, state: SessionState, party: Party, *, self_text: bool) -> None:
        """Tell every room about a break. Other rooms get the same words whatever the reason."""
        assert state.timeout is not None
        minutes = self._protocol(state.mode).pacing.break_minutes
        ends_at = state.timeout.ends_at
        for room in state.parties.values():
            if room.id == party.id:
                if not self_text:
                    continue
                text = notices.pause_self(self.protocols.notices, minutes, ends_at)
                await self._append(
                    state, room.id, TimeoutEvent(state="started", text=text, ends_at=ends_at, by=party.name)
                )
            else:
                text = notices.pause_other(self.protocols.notices, party.name, minutes, ends_at)
                await self._append(
                    state, room.id, TimeoutEvent(state="started", text=text, ends_at=ends_at, by=party.name)
                )
            await self._stage_event(state, room)

    async def ready(self, session_id: str, party_id: str) -> None:
        """The readiness check: the joint room (re)opens when every party says they are ready."""
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            shown = notices.room_stage(state, party)
            if shown not in (Stage.READY_CHECK.value, Stage.PAUSED.value):
                if state.stage in (Stage.INTAKE, Stage.WAITING):
                    raise WrongStage(
                        "the other person has not joined (or finished their intake) yet", code="not_ready_yet"
                    )
                raise WrongStage(
                    f"there is nothing to be ready for in stage {shown}", code="nothing_to_ready"
                )
            if party.ready:
                return
            party.ready = True
            if state.stage in (Stage.HELD, Stage.SEPARATE):
                await self._save(state)  # the other side waits; a reviewer decides what happens next
                return
            if all(state.parties[p].ready for p in state.party_ids):
                await self._open_joint(state)
            else:
                other = state.other(party_id)
                if other is not None:
                    await self._append(
                        state,
                        other.id,
                        StageEvent(
                            stage=notices.room_stage(state, other),
                            text=self.protocols.notices.ready_one.format(name=party.name),
                            parties=self._names(state),
                        ),
                    )
            await self._save(state)

    async def _open_joint(self, state: SessionState) -> None:
        state.timeout = None
        self._due.pop(state.id, None)
        for p in state.parties.values():
            p.ready = False
        await self._set_stage(
            state, Stage.AGREEMENT if agreement_rules.open_proposals(state) else Stage.JOINT
        )
        queued = [state.drafts[d] for d in state.queued_draft_ids if d in state.drafts]
        state.queued_draft_ids = []
        # One shared message per author keeps attribution clear; the earliest waiting author goes first.
        by_author: dict[str, list[Draft]] = {}
        for d in sorted(queued, key=lambda d: d.decided_at or 0):
            by_author.setdefault(d.author, []).append(d)
        for drafts in by_author.values():
            await self._publish(state, drafts)

    async def tick(self, session_id: str | None = None) -> None:
        """Apply breaks that have run out (reads the Clock; the gateway calls this every second)."""
        if not self._due_loaded and session_id is None:
            await self._load_due()
        now = self.clock.now()
        ids = [session_id] if session_id else [sid for sid, due in list(self._due.items()) if due <= now]
        for sid in ids:
            try:
                async with self.store.lock(sid):
                    state = await self.store.load(sid)
                    if state.timeout is None or state.timeout.ends_at > now:
                        if state.timeout is None:
                            self._due.pop(sid, None)
                        continue
                    await self._end_break(state)
                    await self._save(state)
            except NotFound:
                self._due.pop(sid, None)

    async def _end_break(self, state: SessionState) -> None:
        assert state.timeout is not None
        hidden = state.stage in (Stage.HELD, Stage.SEPARATE)
        starter = state.timeout.started_by
        state.timeout = None
        self._due.pop(state.id, None)
        if not hidden:
            state.stage = Stage.READY_CHECK
        for room in state.parties.values():
            if hidden and room.id == state.hold_party:
                continue  # the person being supported sees their own room unchanged
            await self._append(
                state,
                room.id,
                TimeoutEvent(
                    state="ended", text=self.protocols.notices.pause_over, by=state.parties[starter].name
                ),
            )
            await self._stage_event(state, room)

    async def _load_due(self) -> None:
        for sid in await self.store.session_ids():
            try:
                state = await self.store.load(sid)
            except NotFound:
                continue
            if state.timeout is not None:
                self._due[sid] = state.timeout.ends_at
        self._due_loaded = True

"""What a party can read about a session, export, or erase."""

from __future__ import annotations

from orchestrator import agreements as agreement_rules
from orchestrator import consent, notices
from orchestrator.core import SessionCore, SessionView
from orchestrator.events import Event
from orchestrator.models import DraftStatus, Role
from orchestrator.store import Subscription


class PartyData(SessionCore):
    """Reading a room, a party's view of the session, export and deletion of their own data."""

    async def events(self, session_id: str, room: str, after_seq: int = 0) -> list[Event]:
        return await self.store.read(session_id, room, after_seq)

    async def subscribe(self, session_id: str, room: str) -> Subscription:
        return await self.store.subscribe(session_id, room)

    async def view(self, session_id: str, party_id: str) -> SessionView:
        state = await self.store.load(session_id)
        party = state.party(party_id)
        other = state.other(party_id) if party.role is Role.PARTY else None
        minutes = self._protocol(state.mode).pacing.break_minutes
        is_initiator = party_id == state.initiator
        return SessionView(
            session_id=state.id,
            mode=state.mode,
            stage=notices.room_stage(state, party),
            stage_text=notices.stage_text(state, party, self.protocols.notices, minutes),
            you=party.name,
            role=party.role,
            other=other.name if other else None,
            invite_code=state.invite_code if is_initiator and not state.invite_used else None,
            facilitator_code=state.facilitator_code if is_initiator else None,
            drafts=[consent.view(d) for d in consent.pending_for(state, party_id)],
            agreements=[agreement_rules.view(state, a) for a in state.agreements.values()],
            last_seq=await self.store.last_seq(session_id, party_id),
            timeout_ends_at=state.timeout.ends_at
            if state.timeout and notices.room_stage(state, party) == "paused"
            else None,
            ready=party.ready,
            intake=party.intake.value,
        )

    async def export_party(self, session_id: str, party_id: str) -> dict[str, object]:
        """Everything Accord holds that this party may see: their own room, drafts, shared messages."""
        state = await self.store.load(session_id)
        party = state.party(party_id)
        return {
            "session_id": state.id,
            "mode": state.mode.value,
            "you": party.name,
            "role": party.role.value,
            "private_history": [t.model_dump() for t in party.history],
            "drafts": [d.model_dump() for d in state.drafts.values() if d.author == party_id],
            "shared": [m.model_dump() for m in state.shared] if party.role is Role.PARTY else [],
            "agreements": [agreement_rules.view(state, a).model_dump() for a in state.agreements.values()],
            "events": [e.model_dump() for e in await self.store.read(session_id, party_id)],
        }

    async def delete_party(self, session_id: str, party_id: str) -> None:
        """Erase this party's private words: their history, their undecided and discarded drafts and
        their room's log. Messages they approved for sharing stay in the other party's room."""
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = state.party(party_id)
            party.history = []
            party.coach_state = {}
            party.seen_client_msg_ids = []
            party.deleted = True
            for draft_id in [
                d.id
                for d in state.drafts.values()
                if d.author == party_id and d.status is not DraftStatus.SENT
            ]:
                del state.drafts[draft_id]
            await self.store.delete_room(session_id, party_id)
            await self._save(state)

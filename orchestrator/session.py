"""The session service: one message, end to end.

``say``: screen → (hold on danger) → pacing → coach → draft. ``share``: consent → (re-screen an
edit) → tone check → mediator → output guards → shared. Every step reads the store under the
session's lock, changes the state, appends events to the rooms that may see them, and saves; an
error raised before the save leaves the session exactly as it was.

No sockets here: the gateway, the simulator, the demo and the tests all drive this same core.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal

import structlog

from agents.guarded import GuardContext, GuardedCoach, GuardedMediator
from agents.guards import leak_problems, tone_problems, tone_signals
from agents.interfaces import ApprovedItem, CoachReply, CoachRequest, ComposeRequest, ComposeResult, Turn
from orchestrator import agreements as agreement_rules
from orchestrator import coaching, consent, metrics, notices, pacing
from orchestrator.core import Joined, SessionView, _clean_name, _int, _parse_mode, _plain_composition, _timed
from orchestrator.errors import NotFound, WrongStage
from orchestrator.events import (
    AgreementEvent,
    CoachEvent,
    DraftEvent,
    SaidEvent,
    SharedEvent,
    StageEvent,
    TimeoutEvent,
)
from orchestrator.holds import Holds
from orchestrator.models import (
    Draft,
    DraftStatus,
    IntakeStatus,
    Mode,
    Party,
    PrivateTurn,
    Role,
    SessionState,
    SharedMessage,
    Stage,
    Verdict,
)
from orchestrator.party_data import PartyData

log = structlog.get_logger("accord.session")

# Stages in which approved drafts go straight to the shared room; elsewhere they wait.
_SHARING = (Stage.JOINT, Stage.AGREEMENT)
_PAUSABLE = (Stage.READY_CHECK, Stage.JOINT, Stage.AGREEMENT)
_SEEN_IDS_KEPT = 500
_EARLIER_TURNS_KEPT = 200  # the builtin coach's memory of a long session (a model sees ``history``)


class SessionService(Holds, PartyData):
    """Runs mediation sessions on a :class:`SessionStore` with a set of role agents.

    ``SessionService(store, roles, clock=None, protocols=None, review=None)``.
    """

    # ------------------------------------------------------------------ joining
    async def create_session(self, mode: Mode | str, name: str) -> Joined:
        """Start a session with one party (solo start). Returns the invite code to share later."""
        mode = _parse_mode(mode)
        name = _clean_name(name)
        now = self.clock.now()
        session_id = secrets.token_urlsafe(12)
        party_id = "p-" + secrets.token_urlsafe(8)
        state = SessionState(
            id=session_id,
            mode=mode,
            created_at=now,
            updated_at=now,
            initiator=party_id,
            invite_code=secrets.token_urlsafe(9),
            facilitator_code=secrets.token_urlsafe(9) if self._protocol(mode).facilitator else None,
        )
        state.parties[party_id] = Party(id=party_id, name=name, joined_at=now)
        await self.store.create(state)
        assert state.invite_code is not None
        await self.store.bind_code(state.invite_code, session_id)
        if state.facilitator_code:
            await self.store.bind_code(state.facilitator_code, session_id)
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = state.parties[party_id]
            await self._stage_event(state, party)
            await self._offer_intake(state, party)
            await self._save(state)
        log.info("session_created", session_id=session_id, mode=mode.value)
        return Joined(session_id, party_id, name, Role.PARTY, state.invite_code, state.facilitator_code)

    async def accept_invite(self, code: str, name: str) -> Joined:
        """Join with an invite code: the second party, or (workplace) a facilitator."""
        name = _clean_name(name)
        session_id = await self.store.resolve_code(code)
        if session_id is None:
            raise NotFound("this invite link is not valid", code="unknown_invite")
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            now = self.clock.now()
            if state.stage is Stage.CLOSED:
                raise WrongStage("this session has ended", code="session_closed")
            party_id = "p-" + secrets.token_urlsafe(8)
            if code == state.facilitator_code:
                role = Role.FACILITATOR
                party = Party(id=party_id, name=name, role=role, joined_at=now, intake=IntakeStatus.SKIPPED)
                state.parties[party_id] = party
                await self._stage_event(state, party)
                for agreement in state.agreements.values():
                    await self._append(
                        state, party_id, AgreementEvent(agreement=agreement_rules.view(state, agreement))
                    )
            else:
                if state.invite_used or code != state.invite_code:
                    raise NotFound("this invite link has already been used", code="invite_used")
                role = Role.PARTY
                party = Party(id=party_id, name=name, joined_at=now)
                state.parties[party_id] = party
                state.invite_used = True
                initiator = state.parties[state.initiator]
                await self._append(
                    state,
                    initiator.id,
                    StageEvent(
                        stage=notices.room_stage(state, initiator),
                        text=self.protocols.notices.joined.format(name=name),
                        parties=self._names(state),
                    ),
                )
                if not await self._advance(state):
                    await self._stage_event(state, party)
                await self._offer_intake(state, party)
            await self._save(state)
        log.info("party_joined", session_id=session_id, role=role.value)
        return Joined(session_id, party_id, name, role)

    # ------------------------------------------------------------------ one message
    async def say(self, session_id: str, party_id: str, text: str, client_msg_id: str | None = None) -> None:
        """A party's private message: screened, then answered by their coach (maybe with a draft)."""
        text = self._clean_text(text)
        async with self.store.lock(session_id):
            started = time.perf_counter()
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            if client_msg_id is not None and client_msg_id in party.seen_client_msg_ids:
                return  # a retry after a reconnect: already handled
            if state.stage is Stage.CLOSED:
                raise WrongStage("this session has ended", code="session_closed")
            now = self.clock.now()
            verdict = await self._screen(text, state.mode, "inbound")

            message_id = state.next_id("m")
            party.history.append(PrivateTurn(speaker="party", text=text, at=now, message_id=message_id))
            if client_msg_id is not None:
                party.seen_client_msg_ids = (party.seen_client_msg_ids + [client_msg_id])[-_SEEN_IDS_KEPT:]
            await self._append(
                state, party_id, SaidEvent(text=text, message_id=message_id, client_msg_id=client_msg_id)
            )

            if verdict.flagged:
                await self._safety_hold(state, party, verdict, text)
            else:
                await self.safety.attend(self, state, party, verdict)
                await self._coach_turn(state, party, text, message_id, verdict)
            await self._save(state)
            metrics.SAY_TO_COACH.observe(time.perf_counter() - started)

    async def _coach_turn(
        self, state: SessionState, party: Party, text: str, message_id: str, verdict: Verdict
    ) -> None:
        protocol = self._protocol(state.mode)
        now = self.clock.now()
        other = state.other(party.id)
        horsemen = ["horsemen"] if "horsemen" in tone_signals(text) else []
        reading = pacing.read_flood(party, now, text, protocol.pacing, self.protocols.flood_markers, horsemen)
        pursuing = pacing.read_cycle(party, other, now, protocol.pacing)
        cycle_role: Literal["pursuer", "withdrawer"] | None = None
        if pursuing:
            cycle_role = "pursuer"
        elif party.cycle_role_pending == "withdrawer":
            cycle_role = "withdrawer"
            party.cycle_role_pending = None
        limit = self.protocols.limits.history_turns_for_coach
        before = [Turn(speaker=t.speaker, text=t.text) for t in party.history[:-1]]
        shown = notices.room_stage(state, party)
        request = CoachRequest(
            mode=state.mode,
            party_name=party.name,
            other_name=other.name if other else None,
            stage=shown,
            text=text,
            history=before[-limit:],
            earlier_turns=before[:-limit][-_EARLIER_TURNS_KEPT:],
            session=coaching.session_facts(state, party, protocol.pacing.break_minutes),
            turn_index=party.coach_turns,
            flooded=reading.flooded,
            flood_signals=reading.signals,
            cycle_role=cycle_role,
            concern=verdict.severity.value == "concern",
            parts_language=protocol.parts_language,
            paused=shown == Stage.PAUSED.value,  # a hold on the other side reads like their break
        )
        reply = await _timed(
            metrics.STAGE_LATENCY.labels("coach"), self._ask_coach(state, party, request, message_id)
        )
        party.coach_turns += 1
        reply_id = state.next_id("m")
        party.history.append(PrivateTurn(speaker="coach", text=reply.text, at=now, message_id=reply_id))
        await self._append(
            state,
            party.id,
            CoachEvent(
                text=reply.text, message_id=reply_id, reply_to=message_id, suggestion=reply.suggestion
            ),
        )
        if reply.suggestion == "break" or reading.suggest_break:
            await self._append(
                state,
                party.id,
                TimeoutEvent(
                    state="suggested",
                    text=self.protocols.notices.break_suggestion.format(
                        minutes=_int(protocol.pacing.break_minutes)
                    ),
                ),
            )
        await self._maybe_draft(state, party, reply)

    async def _ask_coach(
        self, state: SessionState, party: Party, request: CoachRequest, reply_to: str
    ) -> CoachReply:
        """The party's coach, with its memory and the words it must never repeat (the other room's).
        A model coach streams: its guarded partials go to this party's own room only (coaching.py)."""
        coach = self.roles.coach
        if not isinstance(coach, GuardedCoach):
            return await coach.respond(request)
        other_private = [
            t.text
            for p in state.parties.values()
            if p.id != party.id
            for t in p.history
            if t.speaker == "party"
        ] + [
            d.text for d in state.drafts.values() if d.author != party.id and d.status is not DraftStatus.SENT
        ]
        context = GuardContext(
            party_id=party.id, private_texts=other_private, approved_texts=self._approved(state)
        )
        await coach.load_state(party.coach_state, key=party.id)
        if coach.primary is None:
            reply = await coach.respond(request, context=context)
        else:
            reply = await coaching.streamed_reply(
                coach,
                request,
                context,
                store=self.store,
                session_id=state.id,
                room=party.id,
                reply_to=reply_to,
                clock=self.clock,
            )
        party.coach_state = dict(await coach.save_state(key=party.id))
        return reply

    async def _ask_mediator(self, state: SessionState, request: ComposeRequest) -> ComposeResult:
        mediator = self.roles.mediator
        if not isinstance(mediator, GuardedMediator):
            return await mediator.compose(request)
        private = [t.text for p in state.parties.values() for t in p.history if t.speaker == "party"] + [
            d.text for d in state.drafts.values() if d.status is not DraftStatus.SENT
        ]
        context = GuardContext(private_texts=private, approved_texts=self._approved(state))
        return await mediator.compose(request, context=context)

    def _approved(self, state: SessionState) -> list[str]:
        return [d.text for d in state.drafts.values() if d.status is DraftStatus.SENT] + [
            m.text for m in state.shared
        ]

    async def _maybe_draft(self, state: SessionState, party: Party, reply: CoachReply) -> None:
        if reply.draft is None:
            return
        draft_text = reply.draft.text.strip()
        # A draft the coach wrote must itself be safe to share; otherwise it is not offered.
        if not draft_text or tone_problems(draft_text):
            log.warning("draft_dropped", session_id=state.id, reason="tone")
            return
        now = self.clock.now()
        for dropped in consent.drop_oldest_pending(
            state, party.id, self.protocols.limits.max_pending_drafts - 1
        ):
            await self._append(state, party.id, DraftEvent(draft=consent.view(dropped)))
        draft = consent.propose(
            state, party.id, draft_text, now, kind=reply.draft.kind, request=reply.draft.request
        )
        await self._append(state, party.id, DraftEvent(draft=consent.view(draft)))

    # ------------------------------------------------------------------ consent
    async def share(
        self,
        session_id: str,
        party_id: str,
        draft_id: str,
        action: Literal["send", "edit", "discard"],
        text: str | None = None,
    ) -> None:
        """The author's decision on a draft: send it, send an edited version, or discard it."""
        if text is not None and action == "edit":
            text = self._clean_text(text)
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            draft = consent.check_decision(state, party_id, draft_id, action, text)
            if state.stage is Stage.CLOSED:
                raise WrongStage("this session has ended", code="session_closed")
            now = self.clock.now()
            if action == "discard":
                consent.mark_discarded(draft, now)
                await self._append(state, party_id, DraftEvent(draft=consent.view(draft)))
                await self._save(state)
                return
            if action == "edit":
                assert text is not None
                verdict = await self._screen(text, state.mode, "draft")
                if verdict.flagged:
                    # An edit is private words too: a disclosure here is handled like any other.
                    message_id = state.next_id("m")
                    party.history.append(
                        PrivateTurn(speaker="party", text=text, at=now, message_id=message_id)
                    )
                    await self._safety_hold(state, party, verdict, text)
                    await self._save(state)
                    return
                party.history.append(
                    PrivateTurn(speaker="party", text=text, at=now, message_id=state.next_id("m"))
                )
                consent.apply_edit(draft, text)
            problems = tone_problems(draft.text)
            if problems:
                await self._return_for_softening(state, party, draft, problems)
                await self._save(state)
                return
            consent.mark_sent(draft, now)
            if state.stage in _SHARING:
                await self._append(state, party_id, DraftEvent(draft=consent.view(draft)))
                await self._publish(state, [draft])
            else:
                state.queued_draft_ids.append(draft.id)
                await self._append(state, party_id, DraftEvent(draft=consent.view(draft)))
                await self._append(
                    state,
                    party_id,
                    CoachEvent(
                        text=self.protocols.notices.queued, message_id=state.next_id("m"), reply_to=None
                    ),
                )
            await self._save(state)

    async def _return_for_softening(
        self, state: SessionState, party: Party, draft: Draft, problems: list[str]
    ) -> None:
        """Contempt, criticism or absolutes never reach the shared room: the draft goes back to its
        author with a gentler version offered as a new draft."""
        from agents.guards import soften

        now = self.clock.now()
        consent.mark_discarded(draft, now)
        await self._append(state, party.id, DraftEvent(draft=consent.view(draft)))
        gentler = soften(
            draft.text, mode=state.mode, parts_language=self._protocol(state.mode).parts_language
        )
        text = self.protocols.notices.soften_offer
        if gentler is None or tone_problems(gentler):
            text = self.protocols.notices.soften_ask
        await self._append(state, party.id, CoachEvent(text=text, message_id=state.next_id("m")))
        if gentler is not None and not tone_problems(gentler):
            new = consent.propose(state, party.id, gentler, now, kind=draft.kind.value, request=None)
            await self._append(state, party.id, DraftEvent(draft=consent.view(new)))
        log.info("draft_returned", session_id=state.id, markers=len(problems))

    async def _publish(self, state: SessionState, drafts: list[Draft]) -> None:
        """Mediator → output guards → shared, to every party's room."""
        names = {pid: state.parties[pid].name for pid in state.parties}
        items = [
            ApprovedItem(draft_id=d.id, author_name=names[d.author], text=d.text, request=d.request)
            for d in drafts
        ]
        request = ComposeRequest(
            mode=state.mode,
            parties=[state.parties[p].name for p in state.party_ids],
            items=items,
            previous_shared=[m.text for m in state.shared[-3:]],
            shared_count=len(state.shared),
        )
        result = await _timed(metrics.STAGE_LATENCY.labels("mediator"), self._ask_mediator(state, request))
        text = result.text.strip()
        if not await self._shareable(state, text):
            metrics.GUARD_FALLBACKS.labels("mediator").inc()
            text = _plain_composition(items)
        now = self.clock.now()
        message = SharedMessage(
            id=state.next_id("s"),
            text=text,
            draft_ids=[d.id for d in drafts],
            authors=sorted({d.author for d in drafts}),
            at=now,
        )
        state.shared.append(message)
        for d in drafts:
            d.shared_message_id = message.id
        authors = [names[a] for a in message.authors]
        for pid in state.party_ids:
            await self._append(state, pid, SharedEvent(text=text, message_id=message.id, authors=authors))
        proposed = [a for a in result.agreements if a.text.strip() and not tone_problems(a.text)]
        for item in proposed:
            agreement = agreement_rules.propose(state, item.text.strip(), item.source_draft_ids, now)
            await self._to_all(
                state, AgreementEvent(agreement=agreement_rules.view(state, agreement)), facilitators=True
            )
        if proposed and state.stage is Stage.JOINT:
            await self._set_stage(state, Stage.AGREEMENT)

    async def _shareable(self, state: SessionState, text: str) -> bool:
        """Output guards on a composed message: screened, no contempt, no unapproved private words."""
        if not text or len(text) > 2000:
            return False
        verdict = await self._screen(text, state.mode, "outbound")
        if verdict.flagged or tone_problems(text):
            return False
        private = [t.text for p in state.parties.values() for t in p.history if t.speaker == "party"]
        approved = [d.text for d in state.drafts.values() if d.status is DraftStatus.SENT]
        return not leak_problems(text, private, approved)

    # ------------------------------------------------------------------ agreements, intake, close
    async def agree(self, session_id: str, party_id: str, agreement_id: str, accept: bool = True) -> None:
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            self._party(state, party_id)
            now = self.clock.now()
            agreement = agreement_rules.answer(state, party_id, agreement_id, accept, now)
            await self._to_all(
                state, AgreementEvent(agreement=agreement_rules.view(state, agreement)), facilitators=True
            )
            if state.stage is Stage.AGREEMENT and not agreement_rules.open_proposals(state):
                await self._set_stage(state, Stage.JOINT)
            await self._save(state)

    async def intake(
        self,
        session_id: str,
        party_id: str,
        answers: dict[str, bool | None] | None = None,
        skip: bool = False,
    ) -> None:
        """A party's private intake answers (or a skip). A positive screen keeps the work separate."""
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            if party.intake is not IntakeStatus.PENDING:
                raise WrongStage("you have already finished the intake questions", code="intake_done")
            result = None if skip else self.safety.score_intake(answers or {})
            party.intake = IntakeStatus.SKIPPED if skip else IntakeStatus.DONE
            if result is not None and result.positive:
                await self._safety_separate(state, party, result)
            else:
                await self._advance(state)
            await self._save(state)

    async def close(self, session_id: str, party_id: str) -> None:
        """Either party may end the session at any time (mediation is voluntary)."""
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            self._party(state, party_id)
            if state.stage is Stage.CLOSED:
                return
            state.timeout = None
            self._due.pop(state.id, None)
            await self._set_stage(state, Stage.CLOSED)
            await self._save(state)

    # ------------------------------------------------------------------ safety


__all__ = ["Joined", "SessionService", "SessionView"]  # Joined and SessionView live in core

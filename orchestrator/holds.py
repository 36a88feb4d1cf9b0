"""Safety holds: ``held`` and ``separate``, disguised for every other room, and what a human
reviewer's decision does to them.

A disclosure must never reach the other party, not even as a hint: while a session is held for one
party, every other room sees exactly what an ordinary break (or, before any joint work, nothing at
all) would show. See docs/design.md.
"""

from __future__ import annotations

from typing import Any

from orchestrator.breaks import Breaks
from orchestrator.errors import InvalidInput
from orchestrator.events import CoachEvent
from orchestrator.models import Party, SessionState, Severity, Stage, Verdict

_PAUSABLE = (Stage.READY_CHECK, Stage.JOINT, Stage.AGREEMENT)


class Holds(Breaks):
    """Crisis holds, positive intake screens, C-SSRS follow-ups and review decisions."""

    async def answer_followup(self, session_id: str, party_id: str, answers: dict[str, bool | None]) -> None:
        """Answers to the C-SSRS follow-ups. Intent, a plan or recent behaviour holds the session for
        a human right away; thoughts alone keep the resources in view and the coach attentive."""
        if not answers:
            raise InvalidInput("no answers were given", code="empty_answers")
        async with self.store.lock(session_id):
            state = await self.store.load(session_id)
            party = self._party(state, party_id)
            severity = self.safety.score_followup(answers)
            party.cssrs_answered = True
            if severity.rank >= Severity.HIGH.rank:
                verdict = Verdict(
                    severity=severity, categories=["self_harm"], layer="cssrs", reasons=["cssrs"]
                )
                await self._safety_hold(state, party, verdict, "(self-harm follow-up answers)")
            else:
                await self._append(
                    state,
                    party_id,
                    CoachEvent(
                        text=self.protocols.notices.followup_thanks,
                        message_id=state.next_id("m"),
                    ),
                )
            await self._save(state)

    async def _safety_hold(self, state: SessionState, party: Party, verdict: Verdict, text: str) -> None:
        """Danger: hold the session, answer the writer warmly with resources, page a human. Every
        other room sees only what it would see had this party taken an ordinary break."""
        await self.safety.reply(self, state, party, verdict)
        await self.safety.open_case(state, party, verdict, text)
        if verdict.categories == ["ai_manipulation"]:
            return  # answered without leaking anything; nothing to hold
        await self._hide(state, party, Stage.HELD)

    async def _safety_separate(self, state: SessionState, party: Party, result: Any) -> None:
        """A positive intake screen: joint work is contraindicated; each party keeps private support."""
        verdict = Verdict(
            severity=result.severity,
            categories=list(result.categories),
            layer="intake",
            reasons=list(result.reasons),
        )
        await self.safety.reply(self, state, party, verdict)
        await self.safety.open_case(state, party, verdict, "(intake screen)")
        await self._hide(state, party, Stage.SEPARATE)

    async def _hide(self, state: SessionState, party: Party, stage: Stage) -> None:
        """Enter ``held`` or ``separate`` for ``party``'s sake, disguised for everyone else.

        Where a break is possible (readiness check, joint, agreement) the others get exactly the
        notices of a pause. Before that (intake, waiting) they get nothing at all: from outside it
        looks like a partner still settling in. A running break simply goes on.
        """
        if state.stage in (Stage.HELD, Stage.SEPARATE):
            if stage is Stage.SEPARATE:
                state.stage = stage
            await self._stage_event(state, state.parties.get(state.hold_party or party.id))
            return
        held_from = state.stage
        if held_from is not Stage.PAUSED:
            state.stage_before_pause = held_from
        state.hold_party = party.id
        state.stage = stage
        if held_from in _PAUSABLE:
            self._start_break(state, party, reason="safety")
            await self._announce_break(state, party, self_text=False)
        await self._stage_event(state, party)

    async def apply_review_decision(self, case: Any) -> None:
        """Carry out a reviewer's decision on the session the case belongs to.

        ``resume`` (or ``false_alarm``) turns a hold back into what the other rooms were shown all
        along: a break still running, a readiness check, or intake; so nothing they see changes.
        """
        decision = str(getattr(case.decision, "value", case.decision))
        async with self.store.lock(case.session_id):
            state = await self.store.load(case.session_id)
            held = state.parties.get(state.hold_party) if state.hold_party else None
            if decision in ("resume", "false_alarm") and state.stage in (Stage.HELD, Stage.SEPARATE):
                before = state.stage_before_pause
                state.hold_party = None
                if state.timeout is not None:
                    state.stage = Stage.PAUSED
                    state.timeout.reason = "pause"
                    if before not in _PAUSABLE:
                        state.stage_before_pause = Stage.JOINT
                elif before in (Stage.INTAKE, Stage.WAITING, None):
                    state.stage = before or Stage.INTAKE
                    await self._advance(state)
                else:
                    state.stage = Stage.READY_CHECK
                await self._stage_event(state, held)
            elif decision == "keep_separate" and state.stage in (Stage.HELD, Stage.SEPARATE):
                state.stage = Stage.SEPARATE
                await self._stage_event(state, held)
            elif decision == "end_session":
                state.timeout = None
                self._due.pop(state.id, None)
                await self._set_stage(state, Stage.CLOSED)
            await self._save(state)

"""A coach reply streamed to the speaking party's own room while the model writes it.

:meth:`agents.guarded.GuardedCoach.respond_stream` releases the reply sentence by sentence, each
piece already checked for leaks of the other room's words and by the safety screener. Each piece is
signalled to the party's room as a transient ``coach_partial`` event carrying the whole text so far
(``SessionStore.signal``: live subscribers only, no ``seq``, never logged or replayed). The final
:class:`CoachReply` (which passed every guard, or is the retry or the builtin reply after a guard
tripped mid-stream) is returned to the session, which logs it as the ``coach`` event that replaces
the partials.

Privacy: partials go to ``room`` only, which the caller sets to the speaking party's own room;
never the other party's room, never a facilitator's. Their text is never logged.
"""

from __future__ import annotations

import structlog

from agents.guarded import GuardContext, GuardedCoach
from agents.interfaces import BreakFacts, CoachReply, CoachRequest, SessionFacts
from orchestrator import metrics, notices
from orchestrator.clock import Clock
from orchestrator.errors import StoreUnavailable
from orchestrator.events import CoachPartialEvent
from orchestrator.models import AgreementStatus, DraftStatus, Party, SessionState, Stage
from orchestrator.store import SessionStore

log = structlog.get_logger("accord.coaching")

_HIDDEN = (Stage.HELD, Stage.SEPARATE)


def session_facts(state: SessionState, party: Party, break_minutes: float) -> SessionFacts:
    """What ``party``'s coach may know about the session: only what ``party``'s own room shows.

    Never the other room's words, drafts or safety state. A hold on the other side reads exactly
    like their ordinary break (docs/design.md): the stage this room is shown, the same end time,
    no reason; and the other's readiness is not reported while a hold is in place (their room would
    not have told this one either).
    """
    other = state.other(party.id)
    on_break = None
    if notices.room_stage(state, party) == Stage.PAUSED.value and state.timeout is not None:
        on_break = BreakFacts(
            by="you" if state.timeout.started_by == party.id else "other",
            due_back=notices.clock_text(state.timeout.ends_at),
            minutes=break_minutes,
        )
    spoke = [t.at for t in party.history[:-1] if t.speaker == "party"]
    since = spoke[-1] if spoke else party.joined_at
    mine = [d for d in state.drafts.values() if d.author == party.id]
    queued = set(state.queued_draft_ids)
    return SessionFacts(
        on_break=on_break,
        other_ready=bool(other and other.ready and state.stage not in _HIDDEN),
        other_shared=bool(other)
        and any(m.at > since and other.id in m.authors for m in state.shared if other),
        agreements_open=sum(a.status is AgreementStatus.PROPOSED for a in state.agreements.values()),
        agreements_accepted=sum(a.status is AgreementStatus.ACCEPTED for a in state.agreements.values()),
        drafts_pending=sum(d.status is DraftStatus.PENDING for d in mine),
        drafts_waiting=sum(d.status is DraftStatus.SENT and d.id in queued for d in mine),
        drafts_shared=sum(d.shared_message_id is not None for d in mine),
    )


async def streamed_reply(
    coach: GuardedCoach,
    request: CoachRequest,
    context: GuardContext,
    *,
    store: SessionStore,
    session_id: str,
    room: str,
    reply_to: str,
    clock: Clock,
) -> CoachReply:
    """Run the coach, signalling each guarded partial to ``room``; return the final reply.

    Partials are best effort: if the store cannot deliver one, the rest are skipped and the party
    still gets the final reply (which the session appends to the log as usual).
    """
    shown = ""
    signalling = True
    final: CoachReply | None = None
    async for item in coach.respond_stream(request, context=context):
        if isinstance(item, CoachReply):
            final = item  # the last item: replaces every partial
            continue
        shown += item
        if not signalling:
            continue
        partial = CoachPartialEvent(text=shown, reply_to=reply_to, at=clock.now())
        try:
            await store.signal(session_id, room, partial)
        except StoreUnavailable:
            signalling = False  # the final reply still goes through the log (or fails loudly there)
            log.warning("coach_partials_stopped", session_id=session_id, reason="store_unavailable")
            continue
        metrics.COACH_PARTIALS.inc()
    if final is None:
        raise RuntimeError("the coach stream ended without a final reply")
    return final

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
from agents.interfaces import CoachReply, CoachRequest
from orchestrator import metrics
from orchestrator.clock import Clock
from orchestrator.errors import StoreUnavailable
from orchestrator.events import CoachPartialEvent
from orchestrator.store import SessionStore

log = structlog.get_logger("accord.coaching")


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

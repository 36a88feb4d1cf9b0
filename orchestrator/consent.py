"""Consent: drafts are shared only on their author's ``send``.

A coach proposes a :class:`Draft`; its author sees the exact text and chooses send, edit (the new
text is screened again before anything else happens) or discard. Nobody else can decide on a draft.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.events import DraftView
from orchestrator.models import Draft, DraftKind, DraftStatus, SessionState

ShareAction = Literal["send", "edit", "discard"]
ACTIONS: tuple[str, ...] = ("send", "edit", "discard")


def propose(
    state: SessionState,
    author: str,
    text: str,
    now: float,
    *,
    kind: str = "message",
    request: str | None = None,
) -> Draft:
    """Record a coach's proposal as a pending draft of ``author``."""
    draft = Draft(
        id=state.next_id("d"),
        author=author,
        text=text,
        kind=DraftKind(kind),
        request=request,
        created_at=now,
    )
    state.drafts[draft.id] = draft
    return draft


def pending_for(state: SessionState, author: str) -> list[Draft]:
    return [d for d in state.drafts.values() if d.author == author and d.status is DraftStatus.PENDING]


def drop_oldest_pending(state: SessionState, author: str, keep: int) -> list[Draft]:
    """Discard the oldest pending drafts beyond ``keep`` (a coach keeps proposing; the room stays tidy)."""
    pending = sorted(pending_for(state, author), key=lambda d: d.created_at)
    dropped = pending[: max(0, len(pending) - keep)]
    for d in dropped:
        d.status = DraftStatus.DISCARDED
    return dropped


def check_decision(state: SessionState, party_id: str, draft_id: str, action: str, text: str | None) -> Draft:
    """Validate a share request; raise a clear error and change nothing when it is not allowed."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown share action {action!r}; use one of {', '.join(ACTIONS)}")
    draft = state.drafts.get(draft_id)
    if draft is None:
        raise NotFound(f"no draft {draft_id!r} in this session", code="unknown_draft")
    if draft.author != party_id:
        raise Forbidden("only the author of a draft can decide on it", code="not_your_draft")
    if draft.status is not DraftStatus.PENDING:
        raise Conflict(f"draft {draft_id} was already {draft.status.value}", code="draft_decided")
    if action == "edit" and (text is None or not text.strip()):
        raise InvalidInput("an edit needs the new text", code="empty_text")
    if action != "edit" and text is not None and text.strip() and text.strip() != draft.text:
        raise InvalidInput("to change the words, use action 'edit'", code="text_without_edit")
    return draft


def apply_edit(draft: Draft, text: str) -> None:
    draft.text = text.strip()
    draft.edited = True
    # An edited request keeps its kind; the request clause is re-read from the new words later.


def mark_sent(draft: Draft, now: float) -> None:
    draft.status = DraftStatus.SENT
    draft.decided_at = now


def mark_discarded(draft: Draft, now: float) -> None:
    draft.status = DraftStatus.DISCARDED
    draft.decided_at = now


def view(draft: Draft) -> DraftView:
    return DraftView(
        id=draft.id, text=draft.text, kind=draft.kind.value, status=draft.status.value, edited=draft.edited
    )

"""Agreements: the mediator turns approved requests into proposals both people shape; each party
accepts or declines on their own, and accepted agreements record who accepted and when."""

from __future__ import annotations

from orchestrator.errors import Conflict, Forbidden, NotFound
from orchestrator.events import AgreementView
from orchestrator.models import Agreement, AgreementStatus, Role, SessionState


def propose(state: SessionState, text: str, source_draft_ids: list[str], now: float) -> Agreement:
    agreement = Agreement(
        id=state.next_id("a"), text=text, proposed_at=now, source_draft_ids=source_draft_ids
    )
    state.agreements[agreement.id] = agreement
    return agreement


def answer(state: SessionState, party_id: str, agreement_id: str, accept: bool, now: float) -> Agreement:
    """Record one party's answer. Raise (changing nothing) for unknown ids, outsiders or repeats."""
    agreement = state.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id!r} in this session", code="unknown_agreement")
    party = state.party(party_id)
    if party.role is not Role.PARTY:
        raise Forbidden("only the parties can accept or decline agreements")
    if agreement.status is not AgreementStatus.PROPOSED:
        raise Conflict(
            f"agreement {agreement_id} is already {agreement.status.value}", code="agreement_decided"
        )
    if party_id in agreement.accepted_by or party_id in agreement.declined_by:
        raise Conflict("you have already answered this agreement", code="already_answered")
    if accept:
        agreement.accepted_by[party_id] = now
    else:
        agreement.declined_by[party_id] = now
    if agreement.declined_by:
        agreement.status = AgreementStatus.DECLINED
    elif all(pid in agreement.accepted_by for pid in state.party_ids):
        agreement.status = AgreementStatus.ACCEPTED
    return agreement


def open_proposals(state: SessionState) -> list[Agreement]:
    return [a for a in state.agreements.values() if a.status is AgreementStatus.PROPOSED]


def view(state: SessionState, agreement: Agreement) -> AgreementView:
    def name(pid: str) -> str:
        party = state.parties.get(pid)
        return party.name if party else pid

    return AgreementView(
        id=agreement.id,
        text=agreement.text,
        status=agreement.status.value,
        accepted_by=[name(p) for p in agreement.accepted_by],
        declined_by=[name(p) for p in agreement.declined_by],
        accepted_at={name(p): t for p, t in agreement.accepted_by.items()},
    )

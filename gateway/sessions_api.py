"""HTTP API of sessions: create, accept an invite, view, export and delete one's own data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.auth import SessionMember, TokenSigner
from gateway.http_errors import error_responses
from orchestrator.models import Mode, Role
from orchestrator.session import Joined, SessionService, SessionView

router = APIRouter(prefix="/v1", tags=["sessions"])

_NAME = Field(max_length=200, description="Display name the other party will see (1-40 characters).")


class CreateSession(BaseModel):
    mode: Mode = Field(description="`couple` or `workplace`")
    name: str = _NAME


class AcceptInvite(BaseModel):
    name: str = _NAME


class Credentials(BaseModel):
    """How a party (or facilitator) gets back into their room."""

    session_id: str
    party_id: str
    role: Role
    token: str = Field(description="Bearer token for this party of this session (HTTP and WebSocket).")
    ws_url: str = Field(description="This party's room: connect with the token (see docs/protocol.md).")


class SessionCreated(Credentials):
    invite_code: str = Field(description="Give this to the other party; it works once.")
    invite_url: str = Field(description="A link that opens the invite in the web app.")
    facilitator_code: str | None = Field(
        None, description="Workplace: a code HR uses to join as facilitator."
    )


class InviteAccepted(Credentials):
    pass


class PartyDeleted(BaseModel):
    session_id: str
    party_id: str
    deleted: bool = True


def _service(request: Request) -> SessionService:
    service: SessionService = request.app.state.service
    return service


def _base_url(request: Request) -> str:
    public: str | None = request.app.state.settings.public_url
    return public or str(request.base_url).rstrip("/")


def _credentials(request: Request, joined: Joined) -> dict[str, Any]:
    signer: TokenSigner = request.app.state.signer
    base = _base_url(request)
    ws_base = (
        "wss" + base[5:] if base.startswith("https") else "ws" + base[4:] if base.startswith("http") else base
    )
    return {
        "session_id": joined.session_id,
        "party_id": joined.party_id,
        "role": joined.role,
        "token": signer.issue(joined.party_id, joined.role, joined.session_id),
        "ws_url": f"{ws_base}/v1/sessions/{joined.session_id}/ws",
    }


@router.post("/sessions", response_model=SessionCreated, status_code=201, responses=error_responses(422))
async def create_session(body: CreateSession, request: Request) -> SessionCreated:
    """Start a session alone (the solo path works fully); invite the other party whenever ready."""
    joined = await _service(request).create_session(body.mode, body.name)
    assert joined.invite_code is not None
    return SessionCreated(
        **_credentials(request, joined),
        invite_code=joined.invite_code,
        invite_url=f"{_base_url(request)}/join/{joined.invite_code}",
        facilitator_code=joined.facilitator_code,
    )


@router.post(
    "/invites/{code}/accept",
    response_model=InviteAccepted,
    status_code=201,
    responses=error_responses(404, 409, 422),
)
async def accept_invite(code: str, body: AcceptInvite, request: Request) -> InviteAccepted:
    """Join with an invite code (the second party) or a facilitator code (workplace HR)."""
    joined = await _service(request).accept_invite(code, body.name)
    return InviteAccepted(**_credentials(request, joined))


@router.get(
    "/sessions/{session_id}", response_model=SessionView, responses=error_responses(401, 403, 404, 422)
)
async def view_session(session_id: str, principal: SessionMember, request: Request) -> SessionView:
    """The session as the caller's room sees it: stage, own pending drafts, agreements, last seq."""
    return await _service(request).view(session_id, principal.subject)


@router.get(
    "/sessions/{session_id}/export",
    response_model=dict[str, Any],
    responses=error_responses(401, 403, 404, 422),
)
async def export_own_data(session_id: str, principal: SessionMember, request: Request) -> dict[str, Any]:
    """Everything Accord holds that the caller may see: their own room, drafts and shared messages."""
    return dict(await _service(request).export_party(session_id, principal.subject))


@router.delete(
    "/sessions/{session_id}/me", response_model=PartyDeleted, responses=error_responses(401, 403, 404, 422)
)
async def delete_own_data(session_id: str, principal: SessionMember, request: Request) -> PartyDeleted:
    """Erase the caller's private words and room log. Their open sockets are closed (4404)."""
    await _service(request).delete_party(session_id, principal.subject)
    await request.app.state.rooms.close_party(session_id, principal.subject)
    return PartyDeleted(session_id=session_id, party_id=principal.subject)

"""Bearer tokens: HS256 JWTs scoped to one party of one session (or to a reviewer).

Claims: ``sid`` (session id; absent for reviewers), ``sub`` (party id, or reviewer name), ``role``
(party | facilitator | reviewer), ``iat``, ``exp``, ``jti``. Expiry is checked against the injected
:class:`~orchestrator.clock.Clock`, so tests (and the simulator's manual clock) move token time too.

HTTP refusals: 401 (``token_missing``, ``token_invalid``, ``token_expired``) and 403 (``forbidden``).
WebSocket refusals are close codes: :data:`CLOSE_UNAUTHORIZED` (4401), :data:`CLOSE_FORBIDDEN` (4403),
:data:`CLOSE_NOT_FOUND` (4404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.clock import Clock, RealClock
from orchestrator.errors import AccordError, Forbidden
from orchestrator.models import Role

ALGORITHM = "HS256"
ISSUER = "accord"

# WebSocket close codes (4000-4999 are for applications; 4xxx mirrors the HTTP status).
CLOSE_BAD_REQUEST = 4400  # bad query parameters
CLOSE_UNAUTHORIZED = 4401  # no token, tampered, malformed or expired
CLOSE_FORBIDDEN = 4403  # valid token, but for another session or a role that may not use this socket
CLOSE_NOT_FOUND = 4404  # the session or the party no longer exists (e.g. deleted their data)
CLOSE_TOO_SLOW = 4408  # the client did not read fast enough; reconnect and resume
CLOSE_SERVER_ERROR = 1011


class Unauthorized(AccordError):
    """No usable credential: missing, malformed, tampered with, or expired."""

    code = "token_invalid"
    status = 401


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str  # party id, facilitator id, or reviewer name
    role: Role
    session_id: str | None  # None for reviewers
    token_id: str
    expires_at: float


class TokenSigner:
    """Issues and verifies tokens with one secret. Every gateway node must share the secret."""

    def __init__(
        self,
        secret: str,
        clock: Clock | None = None,
        *,
        ttl_seconds: int = 7 * 24 * 3600,
        reviewer_ttl_seconds: int = 12 * 3600,
    ) -> None:
        if not secret:
            raise ValueError("a token secret must not be empty")
        self._secret = secret
        self._clock = clock or RealClock()
        self.ttl_seconds = ttl_seconds
        self.reviewer_ttl_seconds = reviewer_ttl_seconds

    def issue(
        self, subject: str, role: Role, session_id: str | None = None, *, ttl_seconds: int | None = None
    ) -> str:
        """A signed token for ``subject`` in ``role``; parties and facilitators need ``session_id``."""
        if role is Role.REVIEWER:
            if session_id is not None:
                raise ValueError("reviewer tokens are not scoped to a session")
        elif not session_id:
            raise ValueError(f"a {role.value} token needs a session id")
        now = int(self._clock.now())
        ttl = (
            ttl_seconds
            if ttl_seconds is not None
            else (self.reviewer_ttl_seconds if role is Role.REVIEWER else self.ttl_seconds)
        )
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": subject,
            "role": role.value,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = session_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str | None) -> Principal:
        """Check signature, claims and expiry. Raises :class:`Unauthorized` with a precise code."""
        if not token:
            raise Unauthorized("a bearer token is required", code="token_missing")
        try:
            # exp/iat are checked below against our Clock, not the wall clock.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={
                    "require": ["sub", "role", "iat", "exp", "jti", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized("the token is invalid", code="token_invalid") from None
        try:
            role = Role(claims["role"])
            expires_at = float(claims["exp"])
            subject = str(claims["sub"])
            sid = claims.get("sid")
        except (ValueError, TypeError):
            raise Unauthorized("the token is invalid", code="token_invalid") from None
        if (role is Role.REVIEWER) != (sid is None) or (sid is not None and not isinstance(sid, str)):
            raise Unauthorized("the token is invalid", code="token_invalid")
        if self._clock.now() >= expires_at:
            raise Unauthorized("the token has expired", code="token_expired")
        return Principal(
            subject=subject, role=role, session_id=sid, token_id=str(claims["jti"]), expires_at=expires_at
        )


def require_session_member(principal: Principal, session_id: str) -> Principal:
    """The principal must be a party or facilitator of ``session_id``; raises :class:`Forbidden`."""
    if principal.role is Role.REVIEWER:
        raise Forbidden("a reviewer token cannot act in a session")
    if principal.session_id != session_id:
        raise Forbidden("this token belongs to another session")
    return principal


def require_reviewer(principal: Principal, allowed: list[str]) -> Principal:
    """The principal must be a reviewer (and on the allow-list, when there is one)."""
    if principal.role is not Role.REVIEWER:
        raise Forbidden("the review API needs a reviewer token")
    if allowed and principal.subject not in allowed:
        raise Forbidden("this reviewer is not on ACCORD_REVIEWERS")
    return principal


def token_from_websocket(
    query_token: str | None, authorization: str | None, subprotocols: list[str]
) -> str | None:
    """A socket's token from ``?token=``, ``Authorization: Bearer``, or a ``bearer.TOKEN`` subprotocol.

    Browsers cannot set headers on a WebSocket, and query strings end up in proxy logs, so the
    subprotocol form is the one to prefer from a browser.
    """
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    for proto in subprotocols:
        if proto.startswith("bearer."):
            return proto[len("bearer.") :] or None
    return query_token or None


# --- FastAPI dependencies -------------------------------------------------------------------------
_bearer = HTTPBearer(
    auto_error=False, description="A token from POST /v1/sessions, an invite, or `accord reviewer-token`."
)


def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Any valid token (party, facilitator or reviewer)."""
    return get_signer(request).verify(credentials.credentials if credentials else None)


def session_member(session_id: str, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A party or facilitator token for the ``{session_id}`` in the path."""
    return require_session_member(principal, session_id)


def reviewer(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A reviewer token (on the allow-list, if configured)."""
    return require_reviewer(principal, request.app.state.settings.reviewers)


SessionMember = Annotated[Principal, Depends(session_member)]
Reviewer = Annotated[Principal, Depends(reviewer)]

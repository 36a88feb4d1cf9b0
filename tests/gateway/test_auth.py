"""Tokens: scoped to one party of one session (or a reviewer), signed, expiring on the Clock."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from gateway.auth import (
    Principal,
    TokenSigner,
    Unauthorized,
    require_reviewer,
    require_session_member,
    token_from_websocket,
)
from orchestrator.clock import ManualClock
from orchestrator.errors import Forbidden
from orchestrator.models import Role

SECRET = "s" * 40


def signer(clock: ManualClock | None = None, **kwargs: int) -> TokenSigner:
    return TokenSigner(SECRET, clock or ManualClock(), **kwargs)


def test_issue_then_verify_round_trips_every_claim() -> None:
    clock = ManualClock()
    token = signer(clock, ttl_seconds=60).issue("p-1", Role.PARTY, "s-1")
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert {"sid", "sub", "role", "exp", "iat", "jti"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 60
    principal = signer(clock).verify(token)
    assert (principal.subject, principal.role, principal.session_id) == ("p-1", Role.PARTY, "s-1")


def test_each_token_has_its_own_id() -> None:
    s = signer()
    assert (
        s.verify(s.issue("p", Role.PARTY, "x")).token_id != s.verify(s.issue("p", Role.PARTY, "x")).token_id
    )


def test_reviewer_tokens_have_no_session() -> None:
    s = signer()
    principal = s.verify(s.issue("rita", Role.REVIEWER))
    assert principal.role is Role.REVIEWER and principal.session_id is None
    with pytest.raises(ValueError):
        s.issue("rita", Role.REVIEWER, "s-1")
    with pytest.raises(ValueError):
        s.issue("p", Role.PARTY)


def test_expiry_follows_the_clock() -> None:
    clock = ManualClock()
    s = signer(clock, ttl_seconds=100)
    token = s.issue("p", Role.PARTY, "s")
    clock.advance(99)
    s.verify(token)
    clock.advance(1)
    with pytest.raises(Unauthorized) as caught:
        s.verify(token)
    assert caught.value.code == "token_expired" and caught.value.status == 401


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "make",
    [
        lambda t: _tamper(t, sid="someone-elses-session"),
        lambda t: _tamper(t, role="reviewer"),
        lambda t: _tamper(t, exp=9_999_999_999),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: jwt.encode(
            {"sub": "p", "role": "party", "sid": "s", "iat": 1, "exp": 9e9, "jti": "j", "iss": "accord"},
            "another-secret-" + "x" * 30,
            algorithm="HS256",
        ),
        lambda t: jwt.encode(
            {"sub": "p", "role": "party", "sid": "s", "iat": 1, "exp": 9e9, "jti": "j", "iss": "accord"},
            None,
            algorithm="none",
        ),
        lambda t: jwt.encode(
            {"sub": "p", "role": "party", "sid": "s", "iat": 1, "exp": 9e9, "iss": "accord"},
            SECRET,
            algorithm="HS256",
        ),  # no jti
        lambda t: jwt.encode(
            {"sub": "p", "role": "boss", "sid": "s", "iat": 1, "exp": 9e9, "jti": "j", "iss": "accord"},
            SECRET,
            algorithm="HS256",
        ),
        lambda t: jwt.encode(
            {"sub": "p", "role": "party", "iat": 1, "exp": 9e9, "jti": "j", "iss": "accord"},
            SECRET,
            algorithm="HS256",
        ),  # a party token without a session
        lambda t: jwt.encode(
            {"sub": "p", "role": "party", "sid": "s", "iat": 1, "exp": 9e9, "jti": "j", "iss": "x"},
            SECRET,
            algorithm="HS256",
        ),
        lambda t: "not-a-token",
    ],
    ids=[
        "sid",
        "role",
        "exp",
        "signature",
        "other-secret",
        "alg-none",
        "no-jti",
        "bad-role",
        "party-no-sid",
        "issuer",
        "garbage",
    ],
)
def test_tampered_or_foreign_tokens_are_invalid(make) -> None:  # type: ignore[no-untyped-def]
    s = signer()
    token = make(s.issue("p", Role.PARTY, "s"))
    with pytest.raises(Unauthorized) as caught:
        s.verify(token)
    assert caught.value.code == "token_invalid"


def test_missing_token() -> None:
    for token in (None, ""):
        with pytest.raises(Unauthorized) as caught:
            signer().verify(token)
        assert caught.value.code == "token_missing"


def test_session_scope_and_roles() -> None:
    party = Principal("p", Role.PARTY, "s1", "j", 0)
    assert require_session_member(party, "s1") is party
    with pytest.raises(Forbidden):
        require_session_member(party, "s2")
    reviewer = Principal("rita", Role.REVIEWER, None, "j", 0)
    with pytest.raises(Forbidden):
        require_session_member(reviewer, "s1")
    with pytest.raises(Forbidden):
        require_reviewer(party, [])
    assert require_reviewer(reviewer, []) is reviewer
    assert require_reviewer(reviewer, ["rita"]) is reviewer
    with pytest.raises(Forbidden):
        require_reviewer(reviewer, ["someone-else"])


def test_websocket_token_sources() -> None:
    assert token_from_websocket("q", None, []) == "q"
    assert token_from_websocket("q", "Bearer h", []) == "h"
    assert token_from_websocket("q", None, ["accord.v1", "bearer.sp"]) == "sp"
    assert token_from_websocket(None, None, ["accord.v1"]) is None

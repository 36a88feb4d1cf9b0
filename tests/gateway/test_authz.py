"""Authorization matrix: every endpoint × every kind of wrong credential → refused, with the
documented HTTP status and code, or WebSocket close code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.auth import TokenSigner
from orchestrator.clock import ManualClock
from orchestrator.models import Role
from tests.gateway.helpers import SECRET, Gateway, RoomClient


@dataclass
class World:
    """Two sessions, a reviewer, and a set of bad credentials aimed at session ``a``."""

    gw: Gateway
    alex: dict[str, Any]  # a party of session a
    other: dict[str, Any]  # a party of session b
    reviewer: str
    case_id: str

    def expired(self, creds: dict[str, Any]) -> str:
        past = ManualClock(self.gw.clock.now() - 10 * 7 * 24 * 3600)
        return TokenSigner(SECRET, past).issue(creds["party_id"], Role.PARTY, creds["session_id"])

    def tampered(self, creds: dict[str, Any]) -> str:
        head, body, sig = creds["token"].split(".")
        return f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"

    def foreign_secret(self, creds: dict[str, Any]) -> str:
        signer = TokenSigner("another-deployment-" + "z" * 30, self.gw.clock)
        return signer.issue(creds["party_id"], Role.PARTY, creds["session_id"])

    def stranger(self) -> str:
        """Validly signed for session a, but for a party id that is not in it."""
        signer = TokenSigner(SECRET, self.gw.clock)
        return signer.issue("p-nobody", Role.PARTY, self.alex["session_id"])


@pytest.fixture
async def world(gateway: Gateway) -> World:
    alex = await gateway.create("Alex")
    other = await gateway.create("Olly")
    reviewer = TokenSigner(SECRET, gateway.clock).issue("rita", Role.REVIEWER)
    return World(gateway, alex, other, reviewer, case_id="c-none")


# (name, token factory, expected HTTP status, expected code, expected WebSocket close code)
BAD: list[tuple[str, Callable[[World], str | None], int, str, int]] = [
    ("no token", lambda w: None, 401, "token_missing", 4401),
    ("tampered", lambda w: w.tampered(w.alex), 401, "token_invalid", 4401),
    ("foreign secret", lambda w: w.foreign_secret(w.alex), 401, "token_invalid", 4401),
    ("expired", lambda w: w.expired(w.alex), 401, "token_expired", 4401),
    ("garbage", lambda w: "not.a.jwt", 401, "token_invalid", 4401),
    ("wrong session", lambda w: w.other["token"], 403, "forbidden", 4403),
    ("wrong role: reviewer", lambda w: w.reviewer, 403, "forbidden", 4403),
]

PARTY_ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/v1/sessions/{sid}"),
    ("GET", "/v1/sessions/{sid}/export"),
    ("DELETE", "/v1/sessions/{sid}/me"),
]


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


@pytest.mark.parametrize(("method", "path"), PARTY_ENDPOINTS)
@pytest.mark.parametrize(("case", "token", "status", "code", "close"), BAD, ids=[b[0] for b in BAD])
async def test_party_endpoints_refuse(
    world: World,
    method: str,
    path: str,
    case: str,
    token: Callable[[World], str | None],
    status: int,
    code: str,
    close: int,
) -> None:
    url = path.format(sid=world.alex["session_id"])
    response = await world.gw.http.request(method, url, headers=_headers(token(world)))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    # nothing was deleted by a refused request
    ok = await world.gw.http.get(
        f"/v1/sessions/{world.alex['session_id']}", headers=_headers(world.alex["token"])
    )
    assert ok.status_code == 200


async def test_a_party_not_in_the_session_is_refused(world: World) -> None:
    sid = world.alex["session_id"]
    for method, path in PARTY_ENDPOINTS:
        response = await world.gw.http.request(
            method, path.format(sid=sid), headers=_headers(world.stranger())
        )
        assert response.status_code in (403, 404), (path, response.text)
        assert response.json()["error"]["code"]
    room = await _connect(world, sid, world.stranger())
    code, _ = await room.closed()
    assert code == 4404


async def test_a_session_that_does_not_exist(world: World) -> None:
    token = TokenSigner(SECRET, world.gw.clock).issue("p-x", Role.PARTY, "no-such-session")
    response = await world.gw.http.get("/v1/sessions/no-such-session", headers=_headers(token))
    assert response.status_code == 404
    room = await _connect(world, "no-such-session", token)
    assert (await room.closed())[0] == 4404


async def _connect(world: World, sid: str, token: str | None) -> RoomClient:
    url = f"{world.gw.ws_base}/v1/sessions/{sid}/ws"
    if token is not None:
        url += f"?token={token}"
    return await RoomClient.open(url)


@pytest.mark.parametrize(("case", "token", "status", "code", "close"), BAD, ids=[b[0] for b in BAD])
async def test_room_socket_refuses_with_close_codes(
    world: World, case: str, token: Callable[[World], str | None], status: int, code: str, close: int
) -> None:
    room = await _connect(world, world.alex["session_id"], token(world))
    closed_with, reason = await room.closed()
    assert closed_with == close
    assert reason == code
    assert room.frames and room.frames[0]["type"] == "error" and room.frames[0]["code"] == code


async def test_room_socket_accepts_header_and_subprotocol_tokens(world: World) -> None:
    url = f"{world.gw.ws_base}/v1/sessions/{world.alex['session_id']}/ws?after_seq=0"
    by_header = await RoomClient.open(url, additional_headers=_headers(world.alex["token"]))
    assert (await by_header.expect("stage"))["seq"] == 1
    await by_header.close()
    by_protocol = await RoomClient.open(url, subprotocols=["accord.v1", f"bearer.{world.alex['token']}"])
    assert by_protocol.conn.subprotocol == "accord.v1"
    assert (await by_protocol.expect("stage"))["seq"] == 1
    await by_protocol.close()


async def test_bad_after_seq_is_refused(world: World) -> None:
    sid, token = world.alex["session_id"], world.alex["token"]
    url = f"{world.gw.ws_base}/v1/sessions/{sid}/ws?token={token}&after_seq=-3"
    room = await RoomClient.open(url)
    assert (await room.closed())[0] == 4400


# --- the reviewer API -----------------------------------------------------------------------------
def _expired_reviewer(w: World) -> str:
    past = ManualClock(w.gw.clock.now() - 10 * 24 * 3600)
    return TokenSigner(SECRET, past).issue("rita", Role.REVIEWER)


REVIEWER_BAD: list[tuple[str, Callable[[World], str | None], int, str, int]] = [
    ("no token", lambda w: None, 401, "token_missing", 4401),
    ("tampered", lambda w: w.tampered({"token": w.reviewer}), 401, "token_invalid", 4401),
    (
        "foreign secret",
        lambda w: TokenSigner("x" * 40, w.gw.clock).issue("rita", Role.REVIEWER),
        401,
        "token_invalid",
        4401,
    ),
    ("expired", _expired_reviewer, 401, "token_expired", 4401),
    ("wrong role: party", lambda w: w.alex["token"], 403, "forbidden", 4403),
]

REVIEW_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/review/cases", None),
    ("GET", "/v1/review/cases/{case}", None),
    ("POST", "/v1/review/cases/{case}/claim", None),
    ("POST", "/v1/review/cases/{case}/release", None),
    ("POST", "/v1/review/cases/{case}/decide", {"decision": "false_alarm", "rationale": "checked"}),
]


@pytest.mark.parametrize(("method", "path", "body"), REVIEW_ENDPOINTS)
@pytest.mark.parametrize(
    ("case", "token", "status", "code", "close"), REVIEWER_BAD, ids=[b[0] for b in REVIEWER_BAD]
)
async def test_review_endpoints_refuse(
    world: World,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    case: str,
    token: Callable[[World], str | None],
    status: int,
    code: str,
    close: int,
) -> None:
    response = await world.gw.http.request(
        method, path.format(case=world.case_id), json=body, headers=_headers(token(world))
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_facilitator_tokens_cannot_review(gateway: Gateway) -> None:
    jo = await gateway.create("Jo", "workplace")
    hr = await gateway.accept(jo["facilitator_code"], "HR")
    for method, path, body in REVIEW_ENDPOINTS:
        response = await gateway.http.request(
            method, path.format(case="c"), json=body, headers=_headers(hr["token"])
        )
        assert response.status_code == 403, path


@pytest.mark.parametrize(
    ("case", "token", "status", "code", "close"), REVIEWER_BAD, ids=[b[0] for b in REVIEWER_BAD]
)
async def test_review_feed_refuses_with_close_codes(
    world: World, case: str, token: Callable[[World], str | None], status: int, code: str, close: int
) -> None:
    url = f"{world.gw.ws_base}/v1/review/ws"
    value = token(world)
    feed = await RoomClient.open(url + (f"?token={value}" if value else ""))
    assert (await feed.closed()) == (close, code)


async def test_reviewer_allow_list() -> None:
    from tests.gateway.helpers import make_settings, running_gateway

    async with running_gateway(make_settings(reviewers=["rita"])) as gw:
        signer = TokenSigner(SECRET, gw.clock)
        ok = await gw.http.get("/v1/review/cases", headers=_headers(signer.issue("rita", Role.REVIEWER)))
        assert ok.status_code == 200
        nope = await gw.http.get("/v1/review/cases", headers=_headers(signer.issue("mallory", Role.REVIEWER)))
        assert nope.status_code == 403 and nope.json()["error"]["code"] == "forbidden"
        feed = await RoomClient.open(
            f"{gw.ws_base}/v1/review/ws?token={signer.issue('mallory', Role.REVIEWER)}"
        )
        assert (await feed.closed())[0] == 4403

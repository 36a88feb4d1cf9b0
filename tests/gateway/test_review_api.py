"""The reviewer API end to end: a flagged message opens a case; reviewers see it live, claim it,
decide it, and the session follows the decision."""

from __future__ import annotations

from typing import Any

from gateway.auth import TokenSigner
from orchestrator.models import Role
from tests.gateway.helpers import DANGER_WORD, RISK_WORD, SECRET, Gateway, RoomClient, joint_pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reviewer_token(gw: Gateway, name: str) -> str:
    return TokenSigner(SECRET, gw.clock).issue(name, Role.REVIEWER)


async def test_flag_claim_decide_and_the_session_resumes(gateway: Gateway) -> None:
    rita, ravi = reviewer_token(gateway, "rita"), reviewer_token(gateway, "ravi")
    feed = await RoomClient.open(f"{gateway.ws_base}/v1/review/ws?token={rita}")
    alex, sam, a, b = await joint_pair(gateway)

    await a.send({"type": "say", "text": f"It is {RISK_WORD} again"})
    await a.expect("safety")
    gateway.clock.advance(5)
    await b.send({"type": "say", "text": f"I will {DANGER_WORD}"})
    await b.expect("safety")

    first = await feed.expect("case")
    assert first["case"]["severity"] == "high" and RISK_WORD in first["case"]["flagged_text"]
    second = await feed.expect("case")
    assert second["case"]["severity"] == "critical"

    listed = (await gateway.http.get("/v1/review/cases", headers=bearer(rita))).json()
    assert [c["severity"] for c in listed] == ["critical", "high"]  # most urgent first, not oldest
    case_id = listed[0]["id"]

    gateway.clock.advance(60)
    claimed = await gateway.http.post(f"/v1/review/cases/{case_id}/claim", headers=bearer(rita))
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "rita"
    assert claimed.json()["time_to_claim"] == 60
    taken = await gateway.http.post(f"/v1/review/cases/{case_id}/claim", headers=bearer(ravi))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"
    not_holder = await gateway.http.post(
        f"/v1/review/cases/{case_id}/decide",
        headers=bearer(ravi),
        json={"decision": "resume", "rationale": "ok"},
    )
    assert not_holder.status_code == 403 and not_holder.json()["error"]["code"] == "not_claimed"
    no_reason = await gateway.http.post(
        f"/v1/review/cases/{case_id}/decide",
        headers=bearer(rita),
        json={"decision": "resume", "rationale": ""},
    )
    assert no_reason.status_code == 422
    bad_decision = await gateway.http.post(
        f"/v1/review/cases/{case_id}/decide",
        headers=bearer(rita),
        json={"decision": "shrug", "rationale": "x"},
    )
    assert bad_decision.status_code == 422 and bad_decision.json()["error"]["code"] == "invalid_request"

    released = await gateway.http.post(f"/v1/review/cases/{case_id}/release", headers=bearer(rita))
    assert released.json()["status"] == "open"
    await gateway.http.post(f"/v1/review/cases/{case_id}/claim", headers=bearer(rita))
    decided = await gateway.http.post(
        f"/v1/review/cases/{case_id}/decide",
        headers=bearer(rita),
        json={"decision": "end_session", "rationale": "spoke with the party; ending is safest"},
    )
    body: dict[str, Any] = decided.json()
    assert decided.status_code == 200 and body["status"] == "closed" and body["decision"] == "end_session"
    assert [e["action"] for e in body["audit"]][-1] == "decided"

    # the session followed the decision: both rooms see it closed
    for room in (a, b):
        await room.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "closed")
    one = (await gateway.http.get(f"/v1/review/cases/{case_id}", headers=bearer(ravi))).json()
    assert one["status"] == "closed"
    # the live feed saw every change
    await feed.expect(
        lambda f: f.get("type") == "case" and f["case"]["id"] == case_id and f["case"]["status"] == "closed"
    )
    assert (await gateway.http.get("/v1/review/cases/case-nope", headers=bearer(rita))).status_code == 404


async def test_feed_starts_with_the_current_queue(gateway: Gateway) -> None:
    alex, sam, a, b = await joint_pair(gateway)
    await a.send({"type": "say", "text": f"{DANGER_WORD} now"})
    await a.expect("safety")
    token = reviewer_token(gateway, "rita")
    feed = await RoomClient.open(
        f"{gateway.ws_base}/v1/review/ws", subprotocols=["accord.v1", f"bearer.{token}"]
    )
    assert (await feed.expect("case"))["case"]["severity"] == "critical"

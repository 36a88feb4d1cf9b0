"""HTTP API: sessions and invites, own-data export and deletion, errors, health, metrics, OpenAPI."""

from __future__ import annotations

import gc
import stat
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute, APIWebSocketRoute

from gateway.app import create_app
from orchestrator.memory_store import MemoryStore
from tests.gateway.helpers import Gateway, builtin_roles, make_settings, running_gateway


def auth(creds: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds['token']}"}


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


async def test_create_session_returns_credentials_and_an_invite(gateway: Gateway) -> None:
    alex = await gateway.create("Alex", "couple")
    assert alex["role"] == "party" and alex["token"] and alex["invite_code"]
    assert alex["invite_url"] == f"{gateway.url}/join/{alex['invite_code']}"
    assert alex["ws_url"] == f"{gateway.ws_base}/v1/sessions/{alex['session_id']}/ws"
    assert alex["facilitator_code"] is None
    work = await gateway.create("Jo", "workplace")
    assert work["facilitator_code"]


async def test_accept_invite_once_and_facilitator_code(gateway: Gateway) -> None:
    jo = await gateway.create("Jo", "workplace")
    kim = await gateway.accept(jo["invite_code"], "Kim")
    assert (
        kim["session_id"] == jo["session_id"] and kim["role"] == "party" and kim["party_id"] != jo["party_id"]
    )
    again = await gateway.http.post(f"/v1/invites/{jo['invite_code']}/accept", json={"name": "Eve"})
    assert_envelope(again, 404)
    hr = await gateway.accept(jo["facilitator_code"], "HR")
    assert hr["role"] == "facilitator"
    view = await gateway.http.get(f"/v1/sessions/{jo['session_id']}", headers=auth(hr))
    assert view.status_code == 200 and view.json()["role"] == "facilitator"


async def test_unknown_invite_and_invalid_bodies_use_the_envelope(gateway: Gateway) -> None:
    assert_envelope(await gateway.http.post("/v1/invites/nope/accept", json={"name": "Eve"}), 404)
    assert_envelope(
        await gateway.http.post("/v1/sessions", json={"mode": "divorce", "name": "A"}), 422, "invalid_request"
    )
    assert_envelope(
        await gateway.http.post("/v1/sessions", content=b"{", headers={"content-type": "application/json"}),
        422,
    )
    assert_envelope(await gateway.http.post("/v1/sessions", json={"mode": "couple", "name": "   "}), 422)
    assert_envelope(await gateway.http.get("/v1/no/such/route"), 404, "not_found")
    assert_envelope(await gateway.http.put("/v1/sessions", json={}), 405, "method_not_allowed")
    big = {"mode": "couple", "name": "x" * 70_000}
    assert_envelope(await gateway.http.post("/v1/sessions", json=big), 413, "too_large")


async def test_view_export_and_delete_cover_own_data_only(gateway: Gateway) -> None:
    alex = await gateway.create("Alex")
    sam = await gateway.accept(alex["invite_code"], "Sam")
    sid = alex["session_id"]
    a = await gateway.connect(alex)
    secret_words = "my private worry about the money"
    await a.send({"type": "say", "text": secret_words})
    await a.expect("coach")

    view = (await gateway.http.get(f"/v1/sessions/{sid}", headers=auth(alex))).json()
    assert view["you"] == "Alex" and view["other"] == "Sam" and view["session_id"] == sid

    mine = await gateway.http.get(f"/v1/sessions/{sid}/export", headers=auth(alex))
    assert mine.status_code == 200 and secret_words in mine.text
    theirs = await gateway.http.get(f"/v1/sessions/{sid}/export", headers=auth(sam))
    assert theirs.status_code == 200 and secret_words not in theirs.text

    deleted = await gateway.http.delete(f"/v1/sessions/{sid}/me", headers=auth(alex))
    assert deleted.json() == {"session_id": sid, "party_id": alex["party_id"], "deleted": True}
    after = await gateway.http.get(f"/v1/sessions/{sid}/export", headers=auth(alex))
    assert secret_words not in after.text


async def test_health_ready_and_metrics(gateway: Gateway) -> None:
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.http.get("/readyz")).json() == {"status": "ok", "store": "memory"}
    alex = await gateway.create()
    room = await gateway.connect(alex)
    await room.send({"type": "say", "text": "Hello."})
    await room.expect("coach")
    await room.send("{broken")
    await room.expect("error")
    metrics = (await gateway.http.get("/metrics")).text
    for name in (
        'accord_ws_connections{kind="party"} 1.0',
        'accord_ws_events_sent_total{type="coach"}',
        'accord_ws_errors_total{code="bad_json"} 1.0',
        'accord_ws_frames_total{type="say"} 1.0',
        "accord_ws_say_to_coach_seconds_count 1.0",
        'accord_stage_seconds_count{stage="coach"}',
        "accord_screen_verdicts_total",
        "accord_review_time_to_claim_seconds",
        "accord_review_time_to_decision_seconds",
        'accord_http_request_seconds_count{method="POST",route="/v1/sessions",status="201"}',
    ):
        assert name in metrics, name


class _DownStore(MemoryStore):
    async def ping(self) -> bool:
        return False


async def test_readyz_is_503_when_the_store_does_not_answer() -> None:
    app = create_app(make_settings(), store=_DownStore(), roles=builtin_roles())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert_envelope(await client.get("/readyz"), 503, "store_unavailable")
        assert (await client.get("/healthz")).status_code == 200


def test_openapi_lists_every_route_with_models() -> None:
    app = create_app(make_settings(), store=MemoryStore(), roles=builtin_roles())
    schema = app.openapi()
    for route in app.routes:
        if (
            isinstance(route, APIWebSocketRoute)
            or not isinstance(route, APIRoute)
            or not route.include_in_schema
        ):
            continue
        for method in route.methods - {"HEAD"}:
            operation = schema["paths"][route.path][method.lower()]
            assert operation.get("summary") and operation.get("description"), route.path
            ok = [code for code in operation["responses"] if code.startswith("2")]
            assert ok, route.path
            content = operation["responses"][ok[0]].get("content", {})
            assert any("schema" in media for media in content.values()), (route.path, method)
            if route.path.startswith("/v1") and route.path != "/v1/sessions" and "invites" not in route.path:
                for status in ("401", "403"):
                    ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (route.path, status)
            if "422" in operation["responses"]:
                ref = operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), route.path  # not FastAPI's default shape
    components = schema["components"]["schemas"]
    for model in ("SessionCreated", "InviteAccepted", "SessionView", "PartyDeleted", "ErrorResponse"):
        assert model in components
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_bootstrap_reviewer_token_file(tmp_path: Path) -> None:
    path = tmp_path / "reviewer.token"
    async with running_gateway(make_settings(reviewer_token_file=path, bootstrap_reviewer="first")) as gw:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        cases = await gw.http.get("/v1/review/cases", headers={"Authorization": f"Bearer {token}"})
        assert cases.status_code == 200 and cases.json() == []


async def test_the_gateway_runs_with_its_collector_threshold_and_restores_the_old_one() -> None:
    before = gc.get_threshold()
    async with running_gateway(make_settings(gc_young_threshold=12_345)) as gw:
        assert gc.get_threshold() == (12_345, *before[1:])
        assert (await gw.http.get("/healthz")).status_code == 200
    assert gc.get_threshold() == before
    async with running_gateway(make_settings(gc_young_threshold=0)) as gw:
        assert gc.get_threshold() == before  # 0 keeps Python's own setting
        gc.collect()  # a full collection: its pause is measured
        metrics = (await gw.http.get("/metrics")).text
    full = 'accord_gc_pause_seconds_count{generation="2"}'
    pauses = [line for line in metrics.splitlines() if line.startswith(full)]
    assert pauses and float(pauses[0].split()[-1]) >= 1, metrics

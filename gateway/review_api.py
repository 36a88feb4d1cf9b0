"""The reviewer API: the safety queue over HTTP, and a live WebSocket feed of new and changed cases.

Every route needs a reviewer token (``accord reviewer-token NAME``). A reviewer sees the flagged
message and at most two earlier lines of the same party (what :class:`ReviewCase` holds), nothing
else of the session. A decision is carried out on the session by the session service.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, WebSocket
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from gateway.auth import CLOSE_FORBIDDEN, Reviewer, require_reviewer
from gateway.http_errors import error_responses
from gateway.logging import get_logger
from gateway.rooms import SUBPROTOCOL, authenticate, refuse
from orchestrator.errors import Forbidden
from orchestrator.review import CaseFeed, Decision, ReviewCase, ReviewQueue
from orchestrator.session import SessionService

log = get_logger("accord.review_api")
router = APIRouter(prefix="/v1/review", tags=["review"])
_AUTH_ERRORS = error_responses(401, 403, 404, 409, 422)


class DecideBody(BaseModel):
    decision: Decision
    rationale: str = Field(
        min_length=1, max_length=4000, description="Required: why (kept in the audit trail)."
    )


class CaseFrame(BaseModel):
    """Server → reviewer frame on ``/v1/review/ws``: a new or changed case (the latest snapshot wins)."""

    type: Literal["case"] = "case"
    case: ReviewCase


def _queue(request: Request) -> ReviewQueue:
    review: ReviewQueue = request.app.state.review
    return review


@router.get("/cases", response_model=list[ReviewCase], responses=_AUTH_ERRORS)
async def list_cases(
    request: Request, reviewer: Reviewer, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ReviewCase]:
    """Cases that need a person, most urgent first (severity, then age)."""
    return await _queue(request).queue(limit)


@router.get("/cases/{case_id}", response_model=ReviewCase, responses=_AUTH_ERRORS)
async def get_case(case_id: str, request: Request, reviewer: Reviewer) -> ReviewCase:
    """One case with its audit trail."""
    return await _queue(request).get(case_id)


@router.post("/cases/{case_id}/claim", response_model=ReviewCase, responses=_AUTH_ERRORS)
async def claim_case(case_id: str, request: Request, reviewer: Reviewer) -> ReviewCase:
    """Take the case for the lease time; claiming again extends the lease."""
    return await _queue(request).claim(case_id, reviewer.subject)


@router.post("/cases/{case_id}/release", response_model=ReviewCase, responses=_AUTH_ERRORS)
async def release_case(case_id: str, request: Request, reviewer: Reviewer) -> ReviewCase:
    """Give a claimed case back to the queue."""
    return await _queue(request).release(case_id, reviewer.subject)


@router.post("/cases/{case_id}/decide", response_model=ReviewCase, responses=_AUTH_ERRORS)
async def decide_case(case_id: str, body: DecideBody, request: Request, reviewer: Reviewer) -> ReviewCase:
    """Decide a claimed case (a rationale is required). The session then follows the decision:
    ``resume`` / ``false_alarm`` reopen it, ``keep_separate`` keeps private support only,
    ``end_session`` closes it; ``escalate`` puts the case back in the queue."""
    case = await _queue(request).decide(case_id, reviewer.subject, body.decision, body.rationale)
    if case.decision is not Decision.ESCALATE:
        service: SessionService = request.app.state.service
        await service.apply_review_decision(case)
    return case


@router.websocket("/ws")
async def review_feed(websocket: WebSocket) -> None:
    """Live feed for reviewers: the current queue first, then every new or changed case."""
    app = websocket.app
    principal = await authenticate(websocket, app.state.signer)
    if principal is None:
        return
    try:
        require_reviewer(principal, app.state.settings.reviewers)
    except Forbidden as exc:
        await refuse(websocket, CLOSE_FORBIDDEN, exc.code, exc.message)
        return
    offered = [p.strip() for p in websocket.scope.get("subprotocols", [])]
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    gauge = app.state.metrics.connections.labels(kind="reviewer")
    gauge.inc()
    review: ReviewQueue = app.state.review
    reader = asyncio.create_task(_drain(websocket))
    try:
        while not reader.done():
            feed: CaseFeed = await review.subscribe()  # first subscribe, then read: nothing missed
            try:
                for case in await review.queue():
                    await websocket.send_text(CaseFrame(case=case).model_dump_json())
                forward = asyncio.create_task(_forward(websocket, feed))
                await asyncio.wait([forward, reader], return_when=asyncio.FIRST_COMPLETED)
                forward.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await forward
                if feed.end_reason == "closed":
                    break
            finally:
                await feed.close()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        gauge.dec()
        with contextlib.suppress(Exception):
            await websocket.close(1000)


async def _forward(websocket: WebSocket, feed: CaseFeed) -> None:
    async for case in feed:
        await websocket.send_text(CaseFrame(case=case).model_dump_json())


async def _drain(websocket: WebSocket) -> None:
    """Reviewers only listen (frames they send are ignored); reading is how a disconnect is noticed."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return

"""The FastAPI application: wiring, error envelope, health, metrics, the timeout ticker.

``create_app`` takes every collaborator as an optional argument (tests and the simulator inject a
store, roles, a :class:`~orchestrator.clock.ManualClock`, a review queue); anything not given is
built from :class:`~gateway.settings.Settings`. The routes live in ``sessions_api``, ``review_api``
and ``rooms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.roles import Roles
from gateway.auth import TokenSigner
from gateway.http_errors import ErrorResponse, error_response, install_error_handlers
from gateway.limits import PartyLimiter, RateLimiter, RedisPartyLimiter
from gateway.logging import configure_logging, get_logger
from gateway.metrics import Metrics, track_gc_pauses
from gateway.rooms import RoomRegistry
from gateway.settings import Settings
from orchestrator.clock import Clock, ManualClock, RealClock
from orchestrator.models import Role
from orchestrator.redis_store import RedisStore
from orchestrator.review import MemoryReviewQueue, ReviewQueue
from orchestrator.session import SessionService
from orchestrator.store import SessionStore

log = get_logger("accord.gateway")

MAX_BODY_BYTES = 64 * 1024  # HTTP bodies are small JSON objects; anything bigger is refused (413)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    store: str


def create_app(
    settings: Settings | None = None,
    *,
    store: SessionStore | None = None,
    roles: Roles | None = None,
    clock: Clock | None = None,
    review: ReviewQueue | None = None,
) -> FastAPI:
    """Build the gateway. Collaborators not given are built from ``settings``."""
    settings = settings or Settings()
    clock = clock or RealClock()
    metrics = Metrics()
    signer = TokenSigner(
        settings.signing_secret(),
        clock,
        ttl_seconds=settings.token_ttl_seconds,
        reviewer_ttl_seconds=settings.reviewer_token_ttl_seconds,
    )
    owned: list[Any] = []  # what this app opened itself and must close
    if settings.secret is None:
        log.warning(
            "ephemeral_secret",
            detail="ACCORD_SECRET is not set: tokens will not survive a restart, "
            "and several gateway nodes need one shared ACCORD_SECRET",
        )

    async def assemble() -> None:
        """Open whatever was not injected (Redis needs a running loop, hence not in create_app)."""
        nonlocal store, review, roles
        if store is None:
            store = await _open_store(settings)
            owned.append(store)
        if review is None:
            review = await _open_review(settings, clock)
            owned.append(review)
        if roles is None:
            roles = _build_roles(settings)
        app.state.store = store
        app.state.review = review
        app.state.limiter = _limiter(settings, store)
        app.state.service = SessionService(store, roles, clock, protocols=_protocols(settings), review=review)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.service is None:
            await assemble()
        _write_bootstrap_token(settings, signer)
        # With a manual clock the driver (simulator, tests) moves time and calls tick() itself.
        ticker = None
        if not isinstance(clock, ManualClock):
            ticker = asyncio.create_task(_tick_forever(app.state.service, settings))
        # Policies, lexicons and the classifier are loaded for good: move them out of the garbage
        # collector's way, so full collections (the main source of tail latency) stay short.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        track_gc_pauses()
        if settings.gc_young_threshold:
            gc.set_threshold(settings.gc_young_threshold, *thresholds[1:])
        log.info(
            "gateway_started", store="redis" if settings.redis_url else "memory", clock=type(clock).__name__
        )
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await app.state.rooms.close_all()
            gc.set_threshold(*thresholds)
            for resource in reversed(owned):
                close = getattr(resource, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()

    app = FastAPI(
        title="Accord gateway",
        version="1",
        summary="Private rooms, consented sharing and fail-closed safety for AI-assisted mediation.",
        description="HTTP API under /v1. Each party's live room is the WebSocket `/v1/sessions/{id}/ws`; "
        "its frames are documented in docs/protocol.md.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = None
    app.state.store = store
    app.state.review = review
    app.state.clock = clock
    app.state.signer = signer
    app.state.metrics = metrics
    app.state.limiter = _limiter(settings, store)
    app.state.rooms = RoomRegistry()

    install_error_handlers(app)
    _install_health(app)
    from gateway import pages, review_api, rooms, sessions_api

    app.include_router(sessions_api.router)
    app.include_router(review_api.router)
    app.include_router(rooms.router)
    pages.install_pages(app)  # the web pages and /static (gateway/pages.py)
    app.add_middleware(RequestLogMiddleware, metrics=metrics)
    if store is not None and (review is not None or not settings.redis_url):
        # Everything needed is at hand: build now, so an app used without lifespan (httpx's ASGI
        # transport) works too.
        if review is None:
            review = MemoryReviewQueue(clock=clock)
            owned.append(review)
        if roles is None:
            roles = _build_roles(settings)
        app.state.review = review
        app.state.service = SessionService(store, roles, clock, protocols=_protocols(settings), review=review)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory gateway.app:app_from_env``: settings from ``ACCORD_*``."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


# --- wiring defaults ------------------------------------------------------------------------------
async def _open_store(settings: Settings) -> SessionStore:
    from orchestrator.store_factory import open_store

    return await open_store(settings.redis_url, settings.redis_prefix)


async def _open_review(settings: Settings, clock: Clock) -> ReviewQueue:
    if settings.redis_url:
        from orchestrator.review_redis import RedisReviewQueue

        return RedisReviewQueue(settings.redis_url, clock=clock, prefix=settings.redis_prefix)
    return MemoryReviewQueue(clock=clock)


def _build_roles(settings: Settings) -> Roles:
    from agents.factory import build_roles

    return build_roles(
        model=settings.model,
        screener=settings.model_screener,
        coach=settings.model_coach,
        mediator=settings.model_mediator,
        timeout=settings.model_timeout_seconds,
    )


def _protocols(settings: Settings) -> Any:
    if settings.max_pending_drafts is None:
        return None  # the service loads policies/protocols.yaml itself
    from policies.protocol import load_protocols

    protocols = load_protocols()
    limits = protocols.limits.model_copy(update={"max_pending_drafts": settings.max_pending_drafts})
    return protocols.model_copy(update={"limits": limits})


def _write_bootstrap_token(settings: Settings, signer: TokenSigner) -> None:
    path = settings.reviewer_token_file
    if path is None:
        return
    token = signer.issue(settings.bootstrap_reviewer, Role.REVIEWER)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    log.info("reviewer_token_written", reviewer=settings.bootstrap_reviewer, path=str(path))


def _limiter(settings: Settings, store: SessionStore | None) -> RateLimiter:
    """Rate-limit buckets where the sessions live: in Redis when it is the store (one bucket per
    party across every node), else in this process."""
    local = PartyLimiter(settings.messages_per_second, settings.messages_burst)
    if not isinstance(store, RedisStore):
        return local
    return RedisPartyLimiter(
        store.client, store.prefix, settings.messages_per_second, settings.messages_burst, fallback=local
    )


async def _tick_forever(service: SessionService, settings: Settings) -> None:
    """Apply due timeouts about every ``tick_seconds``; a failing tick is logged, never fatal."""
    while True:
        await asyncio.sleep(settings.tick_seconds)
        try:
            await service.tick()
        except Exception as exc:  # noqa: BLE001 - the ticker must outlive a bad session or a Redis blip
            log.error("tick_failed", error=type(exc).__name__)


# --- health and metrics ---------------------------------------------------------------------------
def _install_health(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """The process is up (it does not look at Redis)."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["operations"],
        responses={503: {"model": ErrorResponse, "description": "The store is unreachable"}},
    )
    async def readyz(request: Request) -> Readiness | JSONResponse:
        """Ready to serve: the store (Redis, when configured) answers a ping."""
        store: SessionStore = request.app.state.store
        try:
            ok = await asyncio.wait_for(store.ping(), timeout=2.0)
        except Exception:  # noqa: BLE001 - any failure means not ready
            ok = False
        if not ok:
            return error_response(503, "store_unavailable", "the store does not answer")
        return Readiness(status="ok", store="redis" if request.app.state.settings.redis_url else "memory")

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text format",
            }
        },
    )
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: sockets, frames, events, latency per stage, screen verdicts, review times."""
        body = request.app.state.metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


# --- request log ----------------------------------------------------------------------------------
class RequestLogMiddleware:
    """Logs each HTTP request by route template (never the raw path: it can hold an invite code),
    records its latency, and refuses bodies over :data:`MAX_BODY_BYTES` before reading them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                response = error_response(
                    413, "too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes"
                )
                await response(scope, receive, send)
                return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "(unmatched)")
            elapsed = time.perf_counter() - started
            self.metrics.http_latency.labels(scope["method"], route, str(status)).observe(elapsed)
            if route not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "http_request",
                    method=scope["method"],
                    route=route,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )

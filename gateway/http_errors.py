"""One error envelope for every HTTP refusal: ``{"error": {"code", "message"}}``.

:class:`~orchestrator.errors.AccordError` maps to its own ``status`` and ``code``; request validation
to 422 ``invalid_request``; unknown routes to 404 ``not_found``; anything unexpected to 500
``internal_error`` (logged by exception type only: a message could quote private text).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.logging import get_logger
from orchestrator.errors import AccordError

log = get_logger("accord.gateway")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every refusal, HTTP and WebSocket alike: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error envelope."""
    return JSONResponse(
        ErrorResponse(error=ErrorBody(code=code, message=message)).model_dump(),
        status_code=status,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure through :func:`error_response`."""

    @app.exception_handler(AccordError)
    async def accord_error(_: Request, exc: AccordError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # loc and msg only: pydantic's input echo could carry private text
        parts = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("http_unexpected_error", error=type(exc).__name__)
        return error_response(500, "internal_error", "something went wrong on our side")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error envelope for ``statuses``."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


_DESCRIPTIONS = {
    401: "No token, or a tampered, malformed or expired one "
    "(`token_missing`, `token_invalid`, `token_expired`)",
    403: "A valid token, but for another session, party or role (`forbidden`, ...)",
    404: "No such session, party, invite or case",
    409: "Not possible in the current stage or state",
    422: "The request body or parameters are invalid (`invalid_request`, ...)",
    429: "Too many requests (`rate_limited`)",
    503: "The store is unreachable (`store_unavailable`)",
}

"""One exception root for Accord. Every error that can reach a client carries a stable ``code``."""

from __future__ import annotations


class AccordError(Exception):
    """Base of every error Accord raises on purpose.

    ``code`` is stable and machine-readable (clients switch on it); ``message`` is for people.
    """

    code: str = "accord_error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(AccordError):
    """The request is malformed or out of bounds (empty text, too long, unknown action)."""

    code = "invalid_input"
    status = 422


class NotFound(AccordError):
    """A session, draft, agreement, invite or case does not exist (or is not visible to the caller)."""

    code = "not_found"
    status = 404


class Forbidden(AccordError):
    """The caller may not do this (someone else's draft, wrong role, wrong session)."""

    code = "forbidden"
    status = 403


class WrongStage(AccordError):
    """The action is not possible in the session's current stage."""

    code = "wrong_stage"
    status = 409


class Conflict(AccordError):
    """The action conflicts with current state (draft already decided, invite already used)."""

    code = "conflict"
    status = 409


class RateLimited(AccordError):
    """Too many messages in too short a time."""

    code = "rate_limited"
    status = 429


class PolicyError(AccordError):
    """A policy file is missing or invalid. Raised at start-up, naming the file and the field."""

    code = "policy_error"
    status = 500


class StoreUnavailable(AccordError):
    """The configured store (Redis) cannot be reached."""

    code = "store_unavailable"
    status = 503


class ConfigError(AccordError):
    """A setting (model backend, URL, secret) is invalid. Raised at start-up."""

    code = "config_error"
    status = 500

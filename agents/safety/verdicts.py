"""Verdict helpers every screener layer shares: combining verdicts, and the fail-closed verdict."""

from __future__ import annotations

import structlog

from orchestrator.models import Severity, Verdict

SCREEN_ERROR = "screen_error"
log = structlog.get_logger("accord.safety.screener")


def error_verdict(prior: Verdict | None = None, reason: str = SCREEN_ERROR) -> Verdict:
    """The fail-closed verdict: at least ``high``, layer ``error``; keeps what a layer already found."""
    prior = prior or Verdict()
    return Verdict(
        severity=Severity.max(prior.severity, Severity.HIGH),
        categories=list(prior.categories) or [SCREEN_ERROR],
        layer="error",
        reasons=[reason, *[r for r in prior.reasons if r != reason]],
    )


def merge(first: Verdict, second: Verdict) -> Verdict:
    """The worse of two verdicts (its layer wins), keeping every category either one flagged."""
    worse, other = (second, first) if second.severity.rank > first.severity.rank else (first, second)
    if worse.severity is Severity.NONE:
        return worse
    categories = list(worse.categories)
    if other.severity is not Severity.NONE:
        categories += [c for c in other.categories if c not in categories]
    reasons = list(worse.reasons) + [r for r in other.reasons if r not in worse.reasons]
    return Verdict(severity=worse.severity, categories=categories, layer=worse.layer, reasons=reasons)


def log_screen_error(layer: str, exc: BaseException | None, direction: str, code: str | None = None) -> None:
    """The ``screen_error`` event: which layer, what kind of error. Never the text."""
    log.error(
        SCREEN_ERROR,
        layer=layer,
        error=type(exc).__name__ if exc is not None else "unavailable",
        code=code,
        direction=direction,
    )

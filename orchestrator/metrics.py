"""Prometheus metrics of the session core. Labels never carry private text or ids."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

STAGE_LATENCY = Histogram(
    "accord_stage_seconds", "Time spent in one step of the message path.", ["stage"], buckets=_BUCKETS
)
SAY_TO_COACH = Histogram(
    "accord_say_to_coach_seconds",
    "From a party's message arriving to their coach's reply being logged.",
    buckets=_BUCKETS,
)
EVENTS = Counter("accord_events_total", "Events appended to room logs.", ["type"])
VERDICTS = Counter("accord_screen_verdicts_total", "Safety screen verdicts.", ["severity", "direction"])
SCREEN_ERRORS = Counter(
    "accord_screen_errors_total", "Screener failures, each treated as high (fail closed)."
)
GUARD_FALLBACKS = Counter(
    "accord_guard_fallbacks_total",
    "Composed messages replaced by the plain composition after a guard failed.",
    ["role"],
)
REVIEW_CASES = Counter("accord_review_cases_total", "Review cases opened.", ["severity"])
COACH_PARTIALS = Counter(
    "accord_coach_partials_total",
    "Partial coach replies (coach_partial frames) signalled to a party's room while the model streams.",
)

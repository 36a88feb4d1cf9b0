"""Prometheus metrics of the gateway, served at ``/metrics`` together with the session core's.

The core counts events appended, screen verdicts and per-stage latency (screen, coach, mediator,
say→coach inside the service; ``orchestrator.metrics``) and review time-to-claim/decision
(``orchestrator.review``) in the process-wide default registry. The gateway adds what only it sees
(sockets, frames, error frames, say→coach on the wire, HTTP) in a registry of its own per app,
because tests and the simulator run several apps in one process.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


# Process-wide, like the collector itself: every app in the process reports the same pauses.
GC_PAUSES = Histogram(
    "accord_gc_pause_seconds",
    "Garbage-collector pauses (every socket waits meanwhile), by generation",
    ["generation"],
    buckets=_LATENCY_BUCKETS,
)
_gc_started: list[float] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        GC_PAUSES.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - _gc_started[0])


def track_gc_pauses() -> None:
    """Time every collection into ``accord_gc_pause_seconds`` (idempotent)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


class Metrics:
    """The gateway's counters, gauges and histograms. Labels never carry ids or text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("accord_ws_connections", "Open WebSocket connections", ["kind"], registry=r)
        self.events_sent = Counter(
            "accord_ws_events_sent_total", "Events written to sockets, by type", ["type"], registry=r
        )
        self.frames = Counter("accord_ws_frames_total", "Valid client frames, by type", ["type"], registry=r)
        self.frame_errors = Counter(
            "accord_ws_errors_total", "Error frames sent to clients, by code", ["code"], registry=r
        )
        self.say_to_coach = Histogram(
            "accord_ws_say_to_coach_seconds",
            "From a say frame read off a socket to the coach's reply written to that socket",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.http_latency = Histogram(
            "accord_http_request_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        """Both registries in the Prometheus text format (metric names do not overlap)."""
        return generate_latest(REGISTRY) + generate_latest(self.registry)

"""Pacing: flood signals per party, break suggestions, and the pursue–withdraw cycle.

Repair attempted while a nervous system is flooded lands as intrusion (Gottman; seed 001). Accord
keeps a per-party flood score from cheap text signals (burst rate, intensity words, capitals,
absolutes, horsemen markers). Over the policy threshold the coach suggests a break rather than a
draft. When one party keeps writing while the other is silent, the cycle (not the person) is named
to each coach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from orchestrator.models import Party
from policies.protocol import FloodMarkers, PacingPolicy


@dataclass
class FloodReading:
    """What pacing concluded about one new message."""

    signals: list[str] = field(default_factory=list)
    score: float = 0.0
    flooded: bool = False
    suggest_break: bool = False


@lru_cache(maxsize=8)
def _marker_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    escaped = sorted((re.escape(w.lower()) for w in words), key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(escaped) + r")(?![a-z])")


def text_signals(text: str, markers: FloodMarkers, horsemen: list[str] | None = None) -> list[str]:
    """Flood signals present in one message (not counting burst rate)."""
    lowered = text.lower()
    signals: list[str] = []
    if _marker_pattern(tuple(markers.intensity)).search(lowered):
        signals.append("intensity")
    letters = [c for c in text if c.isalpha()]
    upper = [c for c in letters if c.isupper()]
    if len(letters) >= markers.capitals_min_letters and len(upper) / len(letters) >= markers.capitals_ratio:
        signals.append("capitals")
    if _marker_pattern(tuple(markers.absolutes)).search(lowered):
        signals.append("absolutes")
    if horsemen:
        signals.append("horsemen")
    return signals


def read_flood(
    party: Party,
    now: float,
    text: str,
    policy: PacingPolicy,
    markers: FloodMarkers,
    horsemen: list[str] | None = None,
) -> FloodReading:
    """Update ``party``'s pacing fields for a new message at ``now`` and return the reading."""
    previous = party.recent_message_times[-1] if party.recent_message_times else None
    window_start = now - policy.burst_window_seconds
    times = [t for t in party.recent_message_times if t >= window_start]
    times.append(now)
    party.recent_message_times = times[-(policy.burst_messages * 3) :]

    signals = text_signals(text, markers, horsemen)
    if len(times) >= policy.burst_messages:
        signals.insert(0, "burst")

    # The score fades while the party is calm, so one heated message long ago does not linger.
    minutes_since = (now - previous) / 60.0 if previous is not None else 0.0
    decayed = max(0.0, party.flood_score - policy.decay_per_minute * minutes_since)
    score = decayed + sum(policy.weights.get(s, 0.0) for s in signals)
    party.flood_score = score

    flooded = score >= policy.flood_threshold
    suggest = False
    if flooded:
        last = party.flood_suggested_at
        if last is None or now - last >= policy.suggest_again_after_minutes * 60:
            suggest = True
            party.flood_suggested_at = now
    return FloodReading(signals=signals, score=score, flooded=flooded, suggest_break=suggest)


def note_break_taken(party: Party) -> None:
    """A break resets the flood score: the party comes back settled."""
    party.flood_score = 0.0
    party.recent_message_times = []


def read_cycle(speaker: Party, other: Party | None, now: float, policy: PacingPolicy) -> bool:
    """Count the speaker's messages since the other last spoke; True when the pursue–withdraw cycle
    should be named now (to the speaker as pursuer; the other hears it, as withdrawer, next time)."""
    speaker.messages_since_other_spoke += 1
    if other is None:
        return False  # alone in the session: nobody is withdrawing
    other.messages_since_other_spoke = 0
    if speaker.messages_since_other_spoke < policy.pursue_messages:
        return False
    last = speaker.cycle_named_at
    if last is not None and now - last < policy.cycle_renotice_minutes * 60:
        return False
    speaker.cycle_named_at = now
    if other.cycle_role_pending is None:
        other.cycle_role_pending = "withdrawer"
    return True

"""Mediation protocols and pacing thresholds (``protocols.yaml``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PacingPolicy(BaseModel):
    """When a party looks flooded, and how breaks run (Gottman: at least 20 minutes, back within 24h)."""

    burst_window_seconds: float = Field(gt=0)
    burst_messages: int = Field(ge=2)  # this many messages inside the window is a burst
    flood_threshold: float = Field(gt=0)  # score at which the coach suggests a break
    decay_per_minute: float = Field(ge=0)  # flood score fades while the party is calm
    weights: dict[str, float]  # signal -> score added (burst, intensity, capitals, absolutes, horsemen)
    break_minutes: float = Field(gt=0)
    max_break_hours: float = Field(gt=0)
    suggest_again_after_minutes: float = Field(ge=0)
    pursue_messages: int = Field(ge=2)  # this many in a row while the other is silent names the cycle
    cycle_renotice_minutes: float = Field(ge=0)


class LimitsPolicy(BaseModel):
    max_text_chars: int = Field(gt=0)
    max_pending_drafts: int = Field(gt=0)
    history_turns_for_coach: int = Field(gt=0)


class ModeProtocol(BaseModel):
    """One mediation mode (couple, workplace)."""

    title: str
    opening: str  # shown to each party when their room opens: process, privacy, voluntariness
    pacing: PacingPolicy
    facilitator: bool = False  # a facilitator (HR) may join and see outcomes only
    parts_language: bool = True
    formal_route: str | None = None  # where to go instead of mediation (workplace harassment)


class Notices(BaseModel):
    """Plain words for stages and breaks (see protocols.yaml)."""

    intake: str
    intake_other: str  # this party is done with intake; the other is not yet
    waiting: str
    ready_check: str
    joint: str
    agreement: str
    closed: str
    held: str
    separate: str
    pause_self: str
    pause_other: str
    pause_over: str
    ready_one: str
    joined: str
    queued: str
    break_suggestion: str  # {minutes}
    soften_offer: str  # an approved draft carried blame; a gentler version is offered
    soften_ask: str  # ... and no gentler version could be made
    followup_thanks: str  # after the self-harm follow-up answers, when no hold is needed
    facilitator: str  # {stage}: one of stage_words
    stage_words: dict[str, str]


class FloodMarkers(BaseModel):
    """Words that raise a party's flood score (the horsemen come from the lexicon's tone guard)."""

    intensity: list[str]
    absolutes: list[str]
    capitals_min_letters: int = Field(default=8, gt=0)
    capitals_ratio: float = Field(default=0.6, gt=0, le=1)


class Protocols(BaseModel):
    limits: LimitsPolicy
    modes: dict[str, ModeProtocol]
    notices: Notices
    flood_markers: FloodMarkers

    def mode(self, name: str) -> ModeProtocol:
        return self.modes[name]


def load_protocols() -> Protocols:
    """Load ``protocols.yaml`` from the policy folder (raises PolicyError naming file and field)."""
    from policies.loader import load_policy

    return load_policy("protocols.yaml", Protocols)

"""The words each room sees for stages and breaks, and which stage a room is shown.

A disclosure must never reach the other party, not even as a hint. So while a session is ``held``
or ``separate`` because of one party, every other room is shown exactly what it would see if that
party had simply taken a break: the same events, the same words, the same timing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.models import Party, Role, SessionState, Stage
from policies.protocol import Notices

_HIDDEN = (Stage.HELD, Stage.SEPARATE)


def clock_text(when: float) -> str:
    """HH:MM in UTC (the web page shows ``ends_at`` in the reader's own time zone)."""
    return datetime.fromtimestamp(when, tz=UTC).strftime("%H:%M")


def room_stage(state: SessionState, room: Party) -> str:
    """The stage ``room`` is shown."""
    if state.stage in _HIDDEN and room.id != state.hold_party:
        if state.timeout is not None:
            return Stage.PAUSED.value
        if state.stage_before_pause in (Stage.INTAKE, Stage.WAITING):
            return Stage.INTAKE.value  # held before any joint work: the partner is "settling in"
        return Stage.READY_CHECK.value
    return state.stage.value


def stage_text(state: SessionState, room: Party, notices: Notices, minutes: float) -> str:
    """Plain words for the stage ``room`` is shown."""
    shown = room_stage(state, room)
    if room.role is Role.FACILITATOR:
        return notices.facilitator.format(stage=notices.stage_words.get(shown, shown.replace("_", " ")))
    if shown == Stage.PAUSED.value and state.timeout is not None:
        if state.timeout.started_by == room.id:
            return pause_self(notices, minutes, state.timeout.ends_at)
        starter = state.parties.get(state.timeout.started_by)
        return pause_other(
            notices, starter.name if starter else "The other person", minutes, state.timeout.ends_at
        )
    if shown == Stage.PAUSED.value:
        return notices.pause_over
    if shown == Stage.INTAKE.value and room.intake.value != "pending":
        waiting_for = [
            p.name for p in state.parties.values() if p.intake.value == "pending" and p.id != room.id
        ]
        if waiting_for:
            return notices.intake_other.format(name=waiting_for[0])
    return str(getattr(notices, shown))


def pause_self(notices: Notices, minutes: float, ends_at: float) -> str:
    return notices.pause_self.format(minutes=_minutes(minutes), clock=clock_text(ends_at))


def pause_other(notices: Notices, name: str, minutes: float, ends_at: float) -> str:
    return notices.pause_other.format(name=name, minutes=_minutes(minutes), clock=clock_text(ends_at))


def _minutes(minutes: float) -> str:
    return str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}"

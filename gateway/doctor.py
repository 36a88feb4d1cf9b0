"""``accord doctor``: check the configured model backends once, before a couple meets them.

For each role (coach, mediator, screener) with a model configured, one fixed probe goes through the
role's real client and prompt: is the backend **reachable**, does it answer **in time** (the
role's timeout), does the answer keep the role's **JSON shape**, and does it pass the **guards**
(the same checks every answer passes in a session). A table shows one verdict per role; the exit
code is 1 when any role is unusable (its party would only ever get the builtin answer), else 0.
The probe carries no one's words: it is a fixed, made-up message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from agents.factory import ModelSettings, build_roles, close_roles
from agents.guarded import GuardContext, GuardedCoach, GuardedMediator
from agents.interfaces import ApprovedItem, CoachRequest, ComposeRequest, ScreenRequest
from agents.llm.common import ModelOutputError, create_text
from agents.llm.parsing import find_json_object
from orchestrator.models import Mode

PROBE_TEXT = "When plans change at the last minute I feel let down, and I want us to plan together."
COACH_PROBE = CoachRequest(
    mode=Mode.COUPLE, party_name="Alex", other_name="Sam", stage="joint", text=PROBE_TEXT
)
MEDIATOR_PROBE = ComposeRequest(
    mode=Mode.COUPLE,
    parties=["Alex", "Sam"],
    items=[
        ApprovedItem(
            draft_id="probe",
            author_name="Alex",
            text="When plans change at the last minute I feel let down. Would you be willing to "
            "tell me a day ahead?",
            request="tell me a day ahead",
        )
    ],
)
SCREEN_PROBE = "I'd like us to plan our weekends together."


@dataclass
class RoleCheck:
    """One role's result. ``None`` in a column: not reached (an earlier step failed)."""

    role: str
    backend: str
    reachable: bool | None = None
    in_time: bool | None = None
    json_shape: bool | None = None
    guards: bool | None = None
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.backend == "builtin"

    @property
    def usable(self) -> bool:
        steps = (self.reachable, self.in_time, self.json_shape, self.guards)
        return self.builtin or all(v is True for v in steps)


async def _timed(call: Awaitable[str], limit: float, check: RoleCheck) -> str | None:
    """Run the model call; fill reachable / in_time; the answer text, or None."""
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(call, limit)
    except TimeoutError:
        check.in_time = False
        check.notes.append(f"no answer within {limit:g} s")
        return None
    except ModelOutputError:
        check.reachable, check.in_time, check.json_shape = True, True, False
        check.notes.append("empty answer")
        return None
    except Exception as exc:  # noqa: BLE001 - the report names what went wrong
        check.reachable = False
        check.notes.append(type(exc).__name__)
        return None
    finally:
        check.seconds = round(time.monotonic() - started, 2)
    check.reachable, check.in_time = True, True
    return answer


async def _check_coach(coach: GuardedCoach, limit: float, check: RoleCheck) -> None:
    primary = coach.primary
    assert primary is not None
    call = create_text(
        primary.client, primary.messages(COACH_PROBE), json_mode=primary.json_mode,
        create_args=primary.create_args,
    )
    raw = await _timed(call, limit, check)
    if raw is None:
        return
    data = find_json_object(raw)
    check.json_shape = isinstance(data, dict) and isinstance(data.get("text"), str)
    try:
        answer = primary.parse(raw, COACH_PROBE)
    except ModelOutputError:
        check.notes.append("unreadable answer")
        return
    kinds = await coach.problems(answer.reply, COACH_PROBE, GuardContext())
    check.guards = not kinds
    if kinds:
        check.notes.append("guards: " + ", ".join(kinds))


async def _check_mediator(mediator: GuardedMediator, limit: float, check: RoleCheck) -> None:
    primary = mediator.primary
    assert primary is not None
    call = create_text(
        primary.client, primary.messages(MEDIATOR_PROBE), json_mode=primary.json_mode,
        create_args=primary.create_args,
    )
    raw = await _timed(call, limit, check)
    if raw is None:
        return
    data = find_json_object(raw)
    check.json_shape = isinstance(data, dict) and isinstance(data.get("text"), str)
    try:
        result = primary.parse(raw, MEDIATOR_PROBE)
    except ModelOutputError:
        check.notes.append("unreadable answer")
        return
    kinds = await mediator.problems(result, MEDIATOR_PROBE, GuardContext())
    check.guards = not kinds
    if kinds:
        check.notes.append("guards: " + ", ".join(kinds))


async def run_doctor(env: Mapping[str, str] | None = None) -> list[RoleCheck]:
    """Probe every role once with the settings of ``env`` (default: the process environment)."""
    settings = ModelSettings.from_env(env)
    roles = build_roles(settings)
    checks = [RoleCheck(role, settings.spec(role).label) for role in ("coach", "mediator", "screener")]
    try:
        coach, mediator, screener = checks
        if not coach.builtin and isinstance(roles.coach, GuardedCoach):
            await _check_coach(roles.coach, settings.timeout("coach"), coach)
        if not mediator.builtin and isinstance(roles.mediator, GuardedMediator):
            await _check_mediator(roles.mediator, settings.timeout("mediator"), mediator)
        if not screener.builtin:
            # the judge fails closed: a judge that cannot answer holds a harmless message
            verdict = await roles.screener.screen(ScreenRequest(text=SCREEN_PROBE))
            screener.reachable = screener.in_time = screener.json_shape = not verdict.flagged
            screener.guards = not verdict.flagged
            if verdict.flagged:
                screener.notes.append("held a harmless message (the judge failed, or misjudged it)")
    finally:
        await close_roles(roles)
    return checks


def _mark(value: bool | None) -> str:
    return {True: "[green]yes[/green]", False: "[red]no[/red]", None: "[dim]-[/dim]"}[value]


def render(checks: list[RoleCheck], console: Console) -> None:
    table = Table(title="Accord model backends")
    for column in ("role", "backend", "reachable", "in time", "JSON shape", "guards", "seconds", "verdict"):
        table.add_column(column)
    for c in checks:
        if c.builtin:
            marks = ["[dim]n/a[/dim]"] * 4
            verdict = "[green]ok (builtin)[/green]"
        else:
            marks = [_mark(v) for v in (c.reachable, c.in_time, c.json_shape, c.guards)]
            problems = "; ".join(c.notes)
            verdict = "[green]ok[/green]" if c.usable else f"[bold red]unusable[/bold red]: {problems}"
        seconds = "" if c.seconds is None else f"{c.seconds:g}"
        table.add_row(c.role, c.backend, *marks, seconds, verdict)
    console.print(table)


def doctor_command(console: Console | None = None) -> int:
    """``accord doctor``: 0 when every role is usable, 1 when one is not, 2 for a bad setting."""
    from orchestrator.errors import ConfigError

    console = console or Console()
    try:
        checks = asyncio.run(run_doctor())
    except ConfigError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}")
        return 2
    render(checks, console)
    unusable = [c.role for c in checks if not c.usable]
    if unusable:
        console.print(f"unusable: {', '.join(unusable)}: those parties would only get the builtin answers")
        return 1
    return 0

"""``accord simulate FILE.yaml [--url URL] [--out FILE.json]``: play a scenario through real clients.

Every person in the scenario is a real ``websockets`` client on their own room's socket, and joins
through the real HTTP API, against either an in-process gateway (uvicorn on a random loopback port,
with a :class:`~orchestrator.clock.ManualClock` that ``advance`` steps move) or a running server
(``--url``; ``advance`` is refused there, since a real server's clock cannot be moved).

After each step the simulator waits, with a bounded timeout and no fixed sleeps, until the step has
settled: the actor's ``ping`` is answered (the gateway handles a socket's frames in order, so the
action is done) and every room has received every event up to the ``last_seq`` its session view
reports. ``latest`` then means the newest pending draft (or proposed agreement) in the actor's
received events.

The transcript (JSON) is exactly::

    {"session_id", "mode", "final_stage",
     "parties": {NAME: {"events": [{"seq", "type", "text"?, ...}]}},
     "agreements": [{"id", "text", "accepted_by": [NAME...]}],
     "review_cases": [{"id", "severity", "category", "party", "status"}]}

``final_stage`` is the session's true stage in-process, and the initiator's view of it with
``--url``. Review cases come from the in-process review queue, or with ``--url`` from the reviewer
API when ``ACCORD_SECRET`` (the server's signing secret) is set; otherwise the list is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from agents.roles import Roles
from gateway.room_client import Member, StepFailed, post_json, session_view
from gateway.scenario import (
    AdvanceStep,
    AgreeStep,
    CloseStep,
    DiscardStep,
    IntakeStep,
    InviteStep,
    PauseStep,
    ReadyStep,
    SayStep,
    Scenario,
    ScenarioError,
    ShareStep,
    load_scenario,
)
from orchestrator.events import Event, event_text

DEFAULT_STEP_TIMEOUT = 10.0  # seconds a step may take to settle (builtin agents answer in milliseconds)
# Below the gateway's default 5 frames/s per party, so a long scenario is never rate limited.
REMOTE_FRAMES_PER_SECOND = 4.0


class SimulationError(Exception):
    """A step that could not be carried out; ``str()`` names the file, line and step."""

    def __init__(self, message: str, *, line: int | None = None, source: str = "<scenario>") -> None:
        super().__init__(message)
        self.message, self.line, self.source = message, line, source

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


# --- where the server is --------------------------------------------------------------------------
class Target:
    """A gateway to run against: in-process or remote."""

    base_url: str = ""
    frames_per_second: float | None = None

    async def advance(self, seconds: float, session_id: str) -> None:
        raise StepFailed("advance needs the in-process server's manual clock (run without --url)")

    async def final_stage(self, session_id: str, http: httpx.AsyncClient, initiator: Member) -> str:
        return str((await session_view(http, session_id, initiator))["stage"])

    async def review_cases(self, session_id: str, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        """Release what the target holds."""


class RemoteTarget(Target):
    """A running gateway at ``url``. Frames are paced under its default per-party rate limit."""

    def __init__(self, url: str, console: Console) -> None:
        self.base_url = url.rstrip("/")
        self.frames_per_second = REMOTE_FRAMES_PER_SECOND
        self.console = console

    async def review_cases(self, session_id: str, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        secret = os.environ.get("ACCORD_SECRET")
        if not secret:
            self.console.print(
                "[dim]review cases: set ACCORD_SECRET (the server's secret) to list them[/dim]"
            )
            return []
        from gateway.auth import TokenSigner
        from orchestrator.models import Role

        # A reviewer name the server accepts: the first of ACCORD_REVIEWERS when that list is set.
        reviewer = next(
            (n.strip() for n in os.environ.get("ACCORD_REVIEWERS", "").split(",") if n.strip()), "simulator"
        )
        token = TokenSigner(secret).issue(reviewer, Role.REVIEWER, ttl_seconds=600)
        try:
            response = await http.get(
                "/v1/review/cases", params={"limit": 500}, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            self.console.print(f"[yellow]review cases: {escape(repr(exc))}[/yellow]")
            return []
        if response.status_code != 200:
            self.console.print(
                f"[yellow]review cases: the reviewer API answered {response.status_code}[/yellow]"
            )
            return []
        cases: list[dict[str, Any]] = response.json()
        return [c for c in cases if c.get("session_id") == session_id]


class InProcessTarget(Target):
    """A gateway in this event loop: uvicorn on 127.0.0.1 at a free port, memory store, manual clock."""

    def __init__(self, roles: Roles | None = None) -> None:
        from orchestrator.clock import ManualClock

        self.clock = ManualClock()
        self.roles = roles  # None: built from ACCORD_MODEL* like ``accord serve`` does
        self.app: Any = None
        self._server: Any = None
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        import uvicorn

        from gateway.app import create_app
        from gateway.settings import Settings
        from orchestrator.memory_store import MemoryStore
        from orchestrator.review import MemoryReviewQueue

        settings = Settings(
            secret=secrets.token_urlsafe(48),
            token_ttl_seconds=10 * 365 * 24 * 3600,  # the manual clock may be moved far ahead
            messages_burst=100_000,  # the simulator paces itself by waiting for each step
            redis_url=None,
        )
        self.app = create_app(
            settings,
            store=MemoryStore(),
            roles=self.roles,
            clock=self.clock,
            review=MemoryReviewQueue(clock=self.clock),
        )
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=settings.ws_max_size,
            timeout_graceful_shutdown=5,
        )
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        # Not serve(): that would take over the process's signal handlers and poll every 100 ms.
        await self._server.startup(sockets=[self._sock])
        if not self._server.started:
            raise RuntimeError("the in-process gateway did not start")
        await self._server.on_tick(0)  # sets the default response headers serve() would
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    async def advance(self, seconds: float, session_id: str) -> None:
        self.clock.advance(seconds)
        await self.app.state.service.tick(session_id)

    async def final_stage(self, session_id: str, http: httpx.AsyncClient, initiator: Member) -> str:
        state = await self.app.state.service.store.load(session_id)
        return str(state.stage.value)

    async def review_cases(self, session_id: str, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        cases = await self.app.state.review.all_cases(session_id)
        return [
            c.model_dump(mode="json", include={"id", "severity", "categories", "party_id", "status"})
            for c in cases
        ]

    async def close(self) -> None:
        if self._server is not None and self._server.started:
            self._server.should_exit = True
            await self._server.shutdown(sockets=[self._sock] if self._sock else None)


@contextlib.asynccontextmanager
async def open_target(url: str | None, console: Console, roles: Roles | None = None) -> AsyncIterator[Target]:
    """The gateway to run against, closed afterwards."""
    target: Target
    if url:
        target = RemoteTarget(url, console)
    else:
        target = InProcessTarget(roles)
        await target.start()
    try:
        yield target
    finally:
        await target.close()


# --- the runner ---------------------------------------------------------------------------------------
class Simulation:
    """Plays one scenario against one target."""

    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        http: httpx.AsyncClient,
        console: Console,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.http = http
        self.console = console
        self.timeout = step_timeout
        self.members: dict[str, Member] = {}
        self.session_id = ""
        self.ws_url = ""
        self.invite_code: str | None = None
        self.facilitator_code: str | None = None

    async def run(self, source: str) -> dict[str, Any]:
        """Every step in order; returns the transcript. Raises :class:`SimulationError`."""
        steps = self.scenario.steps
        try:
            await self._settled("  0", f"{self.scenario.initiator} starts", self._start())
            for number, step in enumerate(steps, start=1):
                try:
                    await self._settled(f"{number:>3}", _actor(step), self._step(step))
                except StepFailed as exc:
                    raise SimulationError(
                        f"step {number} ({step.action}): {exc}", line=step.line, source=source
                    ) from None
            return await self._transcript()
        except StepFailed as exc:
            raise SimulationError(f"starting the session: {exc}", source=source) from None
        finally:
            for member in self.members.values():
                await member.close()

    async def _settled(self, label: str, actor: str, action: Any) -> None:
        """Run one step, wait until every room has everything it caused, print one progress line."""
        before = {name: m.last_seq for name, m in self.members.items()}
        await action
        for member in self.members.values():
            target_seq = int((await session_view(self.http, self.session_id, member))["last_seq"])
            await member.wait_until(
                _reached(member, target_seq), self.timeout, f"{member.name}'s room to reach seq {target_seq}"
            )
        self._progress(label, actor, before)

    async def _start(self) -> None:
        name = self.scenario.initiator
        body = await post_json(self.http, "/v1/sessions", {"mode": self.scenario.mode.value, "name": name})
        self.session_id = body["session_id"]
        # Derived from the URL we were given: the server's ws_url follows its public URL setting.
        base = self.target.base_url
        ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        self.ws_url = f"{ws_base}/v1/sessions/{self.session_id}/ws"
        self.invite_code = body.get("invite_code")
        self.facilitator_code = body.get("facilitator_code")
        await self._join(name, body)

    async def _join(self, name: str, credentials: dict[str, Any]) -> None:
        member = Member(
            name, credentials["party_id"], str(credentials.get("role", "party")), credentials["token"]
        )
        self.members[name] = member
        await member.connect(self.ws_url)
        if member.role == "party" and not self.scenario.has_intake_step(name):
            await self._act(member, {"type": "intake", "skip": True})

    async def _step(self, step: Any) -> None:
        if isinstance(step, InviteStep):
            facilitator = step.invite in self.scenario.facilitators
            code = self.facilitator_code if facilitator else self.invite_code
            if not code:
                raise StepFailed("the server gave no code for this invite")
            body = await post_json(self.http, f"/v1/invites/{code}/accept", {"name": step.invite})
            await self._join(step.invite, body)
            return
        if isinstance(step, AdvanceStep):
            await self.target.advance(step.advance, self.session_id)
            return
        member = self.members[step.party]
        frame: dict[str, Any]
        if isinstance(step, SayStep):
            frame = {
                "type": "say",
                "text": step.say,
                "client_msg_id": f"sim-{step.line}-{secrets.token_hex(4)}",
            }
        elif isinstance(step, ShareStep | DiscardStep):
            draft_id = member.latest("draft")
            if draft_id is None:
                raise StepFailed(
                    f"{member.name} has no pending draft (the coach offered none, or all were decided)"
                )
            if isinstance(step, DiscardStep):
                frame = {"type": "share", "draft_id": draft_id, "action": "discard"}
            elif step.edit is not None:
                frame = {"type": "share", "draft_id": draft_id, "action": "edit", "text": step.edit}
            else:
                frame = {"type": "share", "draft_id": draft_id, "action": "send"}
        elif isinstance(step, AgreeStep):
            agreement_id = member.latest("agreement")
            if agreement_id is None:
                raise StepFailed(f"{member.name} has no proposed agreement to answer")
            frame = {"type": "agree", "agreement_id": agreement_id, "accept": step.accept}
        elif isinstance(step, IntakeStep):
            frame = (
                {"type": "intake", "skip": True}
                if step.intake == "skip"
                else {"type": "intake", "answers": step.intake}
            )
        elif isinstance(step, PauseStep):
            frame = {"type": "pause"}
        elif isinstance(step, ReadyStep):
            frame = {"type": "ready"}
        elif isinstance(step, CloseStep):
            frame = {"type": "close"}
        else:  # pragma: no cover - the step union is closed
            raise StepFailed(f"unsupported step {type(step).__name__}")
        await self._act(member, frame)

    async def _act(self, member: Member, frame: dict[str, Any]) -> None:
        """Send a frame, then a ping: the gateway handles a socket's frames in order, so the pong
        means the action is done; an ``error`` frame sent before it means it was refused."""
        errors, pongs = len(member.errors), member.pongs
        fps = self.target.frames_per_second
        await member.send(frame, fps)
        await member.send({"type": "ping"}, fps)
        await member.wait_until(
            lambda: (
                member.pongs > pongs or any(e.get("code") == "rate_limited" for e in member.errors[errors:])
            ),
            self.timeout,
            f"the server to handle {member.name}'s {frame['type']}",
        )
        if member.errors[errors:]:
            error = member.errors[errors]
            raise StepFailed(
                f"the server refused {member.name}'s {frame['type']}: "
                f"{error.get('code')}: {error.get('message')}"
            )

    def _progress(self, label: str, actor: str, before: dict[str, int]) -> None:
        parts = []
        for name, member in self.members.items():
            new = [e for e in member.events if e["seq"] > before.get(name, 0)]
            kinds = ", ".join(_kind(e) for e in new) or "-"
            parts.append(f"[bold]{escape(name)}[/bold]: {escape(kinds)}")
        self.console.print(f"[dim]{label}[/dim] {escape(actor)} → " + " · ".join(parts), soft_wrap=True)

    async def _transcript(self) -> dict[str, Any]:
        initiator = self.members[self.scenario.initiator]
        view = await session_view(self.http, self.session_id, initiator)
        names = {m.party_id: m.name for m in self.members.values()}
        problems = [p for m in self.members.values() for p in m.problems]
        if problems:
            raise StepFailed("the server broke the event order: " + "; ".join(problems))
        return {
            "session_id": self.session_id,
            "mode": self.scenario.mode.value,
            "final_stage": await self.target.final_stage(self.session_id, self.http, initiator),
            "parties": {
                m.name: {
                    "events": [_event_json(raw, typed) for raw, typed in zip(m.events, m.typed, strict=True)]
                }
                for m in self.members.values()
            },
            "agreements": [
                {"id": a["id"], "text": a["text"], "accepted_by": list(a.get("accepted_by", []))}
                for a in view.get("agreements", [])
            ],
            "review_cases": [
                _case_json(c, names) for c in await self.target.review_cases(self.session_id, self.http)
            ],
        }


def _event_json(raw: dict[str, Any], typed: Event | None) -> dict[str, Any]:
    """An event as received, with ``seq`` and ``type`` first and its human-readable ``text``."""
    out: dict[str, Any] = {"seq": raw["seq"], "type": raw["type"]}
    text = event_text(typed) if typed is not None else raw.get("text")
    if text is not None:
        out["text"] = text
    out.update((k, v) for k, v in raw.items() if k not in out)
    return out


def _case_json(case: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    categories = case.get("categories") or ([case["category"]] if case.get("category") else [])
    party = case.get("party") or case.get("party_id") or ""
    return {
        "id": case.get("id"),
        "severity": case.get("severity"),
        "category": ", ".join(categories) if categories else None,
        "party": names.get(party, party),
        "status": case.get("status"),
    }


def _reached(member: Member, seq: int) -> Callable[[], bool]:
    return lambda: member.last_seq >= seq


def _actor(step: Any) -> str:
    """Who or what a step is, for the progress line."""
    if isinstance(step, InviteStep):
        return f"{step.invite} joins"
    if isinstance(step, AdvanceStep):
        return f"clock +{step.advance:g}s"
    return f"{step.party} {step.action}"


def _kind(event: dict[str, Any]) -> str:
    if event["type"] == "draft":
        return f"draft {event['draft']['status']}"
    if event["type"] == "stage":
        return f"stage {event['stage']}"
    if event["type"] == "timeout":
        return f"timeout {event['state']}"
    if event["type"] == "agreement":
        return f"agreement {event['agreement']['status']}"
    return str(event["type"])


# --- entry points -----------------------------------------------------------------------------------
async def simulate(
    scenario: Scenario,
    url: str | None = None,
    *,
    source: str = "<scenario>",
    step_timeout: float = DEFAULT_STEP_TIMEOUT,
    console: Console | None = None,
    roles: Roles | None = None,
) -> dict[str, Any]:
    """Run ``scenario`` (in-process without ``url``) and return its transcript. ``roles`` replaces
    the agents the in-process server would build from ``ACCORD_MODEL*`` (tests reuse one set)."""
    console = console or Console(stderr=True, highlight=False)
    if url:
        advance = next((s for s in scenario.steps if isinstance(s, AdvanceStep)), None)
        if advance is not None:
            raise SimulationError(
                "advance moves the manual clock of the in-process server; a running server's "
                "clock cannot be moved (run without --url)",
                line=advance.line,
                source=source,
            )
    async with (
        open_target(url, console, roles) as target,
        httpx.AsyncClient(base_url=target.base_url, timeout=step_timeout) as http,
    ):
        console.print(
            f"[dim]simulating {escape(source)} against {target.base_url}"
            f"{'' if url else ' (in-process, manual clock)'}[/dim]"
        )
        return await Simulation(scenario, target, http, console, step_timeout).run(source)


def main(
    path: Path, url: str | None = None, out: Path | None = None, step_timeout: float = DEFAULT_STEP_TIMEOUT
) -> int:
    """``accord simulate``: 0 on success, 2 for a malformed scenario, 1 when a step fails."""
    from gateway.logging import configure_logging

    console = Console(stderr=True, highlight=False)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
        return 2
    configure_logging("WARNING", "console")  # server logs go to stderr; stdout carries the transcript
    try:
        transcript = asyncio.run(
            simulate(scenario, url, source=str(path), step_timeout=step_timeout, console=console)
        )
    except SimulationError as exc:
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
        return 1
    except (OSError, httpx.HTTPError) as exc:
        console.print(f"[bold red]error:[/bold red] cannot reach the server: {escape(str(exc))}")
        return 1
    text = json.dumps(transcript, indent=2, ensure_ascii=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"transcript written to {escape(str(out))} (final stage: {transcript['final_stage']})")
    return 0

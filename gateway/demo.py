"""``accord demo``: a scripted couple session, in-process, on the embedded default.

Alex (anxious, pursues) and Sam (avoidant, withdraws): private venting, a draft edited then sent,
a pause and a return, an agreement. Prints both rooms side by side so a newcomer sees in seconds
what each person saw — and what they did not.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from orchestrator.clock import ManualClock
from orchestrator.events import Event, event_text
from orchestrator.harness import InProcessDriver, Room
from orchestrator.session import SessionService


async def run_script(driver: InProcessDriver) -> None:
    """The demo's story. Each line is something a person does."""
    s = driver.service
    await driver.start("couple", "Alex")
    sid = driver.session_id
    a = driver.pid("Alex")
    await s.intake(sid, a, skip=True)
    await s.say(
        sid, a, "Sam went out last night and didn't answer a single text. I sent five messages and nothing!!"
    )
    await s.say(sid, a, "You never answer me when you're out. It's like I don't exist.")
    await _share_latest(
        driver,
        "Alex",
        edit="When I didn't hear from you last night, I felt scared and alone, because I need to know we're "
        "okay. Would you be willing to send a quick text when you'll be out late?",
    )
    driver.clock.advance(600)
    await driver.invite("Sam")
    b = driver.pid("Sam")
    await s.intake(sid, b, skip=True)
    await s.say(
        sid, b, "When Alex starts texting over and over I just shut down. It's too much and I need space."
    )
    await s.say(sid, b, "I wasn't ignoring anyone, my phone was in my bag and I was with friends.")
    await _share_latest(driver, "Sam")
    await s.ready(sid, a)
    await s.ready(sid, b)
    await s.pause(sid, b)
    await s.say(sid, a, "Sam paused. Is Sam leaving me?")
    driver.clock.advance(20 * 60)
    await s.tick(sid)
    await s.ready(sid, b)
    await s.ready(sid, a)
    # Both look at each proposed agreement and accept it, each in their own time.
    while True:
        try:
            agreement = await driver.latest_agreement("Alex")
        except LookupError:
            break
        await s.agree(sid, a, agreement)
        driver.clock.advance(30)
        await s.agree(sid, b, agreement)
    await driver.sync()


async def _share_latest(driver: InProcessDriver, name: str, edit: str | None = None) -> None:
    """Send (or edit and send) the newest draft. A model-backed coach may not have offered one yet:
    then the person asks for help with the wording, and if there is still none, moves on."""
    s, sid, pid = driver.service, driver.session_id, driver.pid(name)
    for attempt in range(2):
        try:
            draft = await driver.latest_draft(name)
        except LookupError:
            if attempt == 0:
                await s.say(sid, pid, "Could you help me put that into words I could send?")
            continue
        if edit is None:
            await s.share(sid, pid, draft, "send")
        else:
            await s.share(sid, pid, draft, "edit", edit)
        return


def transcript(driver: InProcessDriver, final_stage: str) -> dict[str, Any]:
    return {
        "session_id": driver.session_id,
        "mode": "couple",
        "final_stage": final_stage,
        "parties": {
            name: {"events": [_event_json(e) for e in room.events]} for name, room in driver.rooms.items()
        },
    }


def _event_json(event: Event) -> dict[str, Any]:
    data = event.model_dump()
    text = event_text(event)
    if text is not None:
        data["text"] = text
    return data


_STYLE = {
    "said": ("you", "bold cyan"),
    "coach": ("coach", "green"),
    "draft": ("draft", "yellow"),
    "shared": ("shared", "bold magenta"),
    "stage": ("stage", "dim"),
    "timeout": ("break", "blue"),
    "safety": ("safety", "bold red"),
    "intake": ("intake", "dim"),
    "agreement": ("agreement", "bold green"),
}


def render_room(room: Room) -> Panel:
    lines: list[Text] = []
    previous = ""
    for event in room.events:
        if event.type == "stage" and event.text == previous:
            continue  # the break notice already said it
        previous = event_text(event) or ""
        label, style = _STYLE.get(event.type, (event.type, ""))
        text = event_text(event) or ""
        if event.type == "draft":
            label = f"draft {event.draft.status}"
        if event.type == "agreement":
            who = ", ".join(event.agreement.accepted_by) or "nobody yet"
            label = f"agreement {event.agreement.status} (accepted: {who})"
        if event.type == "intake":
            text = text.split(".")[0] + "."
        line = Text(f"{event.seq:>3} ", style="dim")
        line.append(f"{label}: ", style=style)
        line.append(text)
        lines.append(line)
    return Panel(Group(*lines), title=f"{room.name}'s room", border_style="cyan")


def run_demo(json_out: Path | None = None) -> None:
    """Entry point of ``accord demo``."""
    import logging

    import structlog

    from agents.factory import build_roles
    from orchestrator.memory_store import MemoryStore

    # The demo is for reading; keep the service's operational logs out of the way.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    clock = ManualClock()
    service = SessionService(MemoryStore(), build_roles(), clock)
    driver = InProcessDriver(service, clock)

    async def main() -> str:
        await run_script(driver)
        return (await service.store.load(driver.session_id)).stage.value

    final = asyncio.run(main())
    if json_out is not None:
        json_out.write_text(
            json.dumps(transcript(driver, final), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        Console(stderr=True).print(f"Transcript written to {json_out}")
        return
    console = Console()
    console.print(Rule("Accord demo: Alex and Sam, each in their own private room"))
    console.print(
        "Left and right are two separate rooms. 'you', 'coach' and 'draft' lines are private; only "
        "'shared' lines, which each author approved word for word, appear in both.\n",
        style="dim",
    )
    width = max(60, (console.width - 4) // 2)
    console.print(Columns([render_room(r) for r in driver.rooms.values()], width=width, equal=True))
    console.print(f"Final stage: [bold]{final}[/bold]")

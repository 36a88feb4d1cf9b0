"""Drive a session core in-process (no sockets) and collect what each room received.

Used by ``accord demo``, the test-suite and anyone embedding Accord who wants to script a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.clock import ManualClock
from orchestrator.events import Event
from orchestrator.session import SessionService


@dataclass
class Room:
    """One party's view: the events their room received, in order."""

    name: str
    party_id: str
    events: list[Event] = field(default_factory=list)


class InProcessDriver:
    """Drives a session core directly (no sockets) and collects each room's events."""

    def __init__(self, service: SessionService, clock: ManualClock) -> None:
        self.service = service
        self.clock = clock
        self.session_id = ""
        self.rooms: dict[str, Room] = {}
        self.invite_code: str | None = None

    async def start(self, mode: str, name: str) -> None:
        joined = await self.service.create_session(mode, name)
        self.session_id = joined.session_id
        self.invite_code = joined.invite_code
        self.rooms[name] = Room(name, joined.party_id)

    async def invite(self, name: str) -> None:
        assert self.invite_code is not None
        joined = await self.service.accept_invite(self.invite_code, name)
        self.rooms[name] = Room(name, joined.party_id)

    def pid(self, name: str) -> str:
        return self.rooms[name].party_id

    async def sync(self) -> None:
        for room in self.rooms.values():
            after = room.events[-1].seq if room.events else 0
            room.events.extend(await self.service.events(self.session_id, room.party_id, after))

    async def latest_draft(self, name: str) -> str:
        await self.sync()
        status: dict[str, str] = {}
        for event in self.rooms[name].events:
            if event.type == "draft":
                status[event.draft.id] = event.draft.status
        pending = [draft_id for draft_id, s in status.items() if s == "pending"]
        if not pending:
            raise LookupError(f"{name} has no pending draft")
        return pending[-1]

    async def latest_agreement(self, name: str) -> str:
        await self.sync()
        status: dict[str, str] = {}
        for event in self.rooms[name].events:
            if event.type == "agreement":
                status[event.agreement.id] = event.agreement.status
        proposed = [agreement_id for agreement_id, s in status.items() if s == "proposed"]
        if not proposed:
            raise LookupError(f"{name} has no open agreement")
        return proposed[-1]

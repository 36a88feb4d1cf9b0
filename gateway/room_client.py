"""A scripted client of one room socket, for ``accord simulate``: it joins over HTTP, reads every
frame its room sends (checking ``seq`` is gap-free), and waits, bounded, for what a step causes.
Transient ``coach_partial`` frames are counted and otherwise ignored: the ``coach`` event replaces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from gateway.protocol import TRANSIENT_FRAME_TYPES
from orchestrator.events import EVENT_ADAPTER, Event


class StepFailed(Exception):
    """What a step asked for could not be done; the runner adds where it happened."""


@dataclass
class Member:
    """A party or facilitator of the simulated session, with their own room socket."""

    name: str
    party_id: str
    role: str
    token: str
    events: list[dict[str, Any]] = field(default_factory=list)  # wire JSON, in seq order
    typed: list[Event | None] = field(default_factory=list)  # parsed, None for unknown types
    errors: list[dict[str, Any]] = field(default_factory=list)
    pongs: int = 0
    partials: int = 0  # transient coach_partial frames seen (never in ``events``: they have no seq)
    problems: list[str] = field(default_factory=list)  # protocol violations seen (gaps, repeats)
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    closed: BaseException | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _next_frame_at: float = 0.0

    @property
    def last_seq(self) -> int:
        return int(self.events[-1]["seq"]) if self.events else 0

    async def connect(self, ws_url: str) -> None:
        """Open the room socket, asking for the whole room from seq 1, and start reading."""
        try:
            self.ws = await connect(
                f"{ws_url}?after_seq=0",
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=10,
                max_size=None,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise StepFailed(f"could not open {self.name}'s room socket: {exc}") from None
        self.reader = asyncio.create_task(self._read(), name=f"room-{self.name}")

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self._receive(json.loads(raw))
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed as exc:
            self.closed = exc
        finally:
            if self.closed is None:
                self.closed = ConnectionError("the socket closed")
            async with self._changed:
                self._changed.notify_all()

    def _receive(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "error":
            self.errors.append(data)
            return
        if kind == "pong":
            self.pongs += 1
            return
        if kind in TRANSIENT_FRAME_TYPES or data.get("seq") == 0:
            # A coach reply in progress: live only, replaced by the ``coach`` event that follows.
            # Not part of the room's log, so not in the transcript and never a gap.
            self.partials += 1
            return
        seq = data.get("seq")
        if seq != self.last_seq + 1:
            self.problems.append(f"{self.name} received seq {seq} after {self.last_seq}")
            if not isinstance(seq, int) or seq <= self.last_seq:
                return
        try:
            typed: Event | None = EVENT_ADAPTER.validate_python(data)
        except ValidationError:
            typed = None  # a newer server's event type: kept in the transcript as received
        self.events.append(data)
        self.typed.append(typed)

    async def wait_until(self, ready: Callable[[], bool], within: float, what: str) -> None:
        """Wait (bounded) until ``ready()`` holds; raise with ``what`` if it does not in time."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: ready() or self.closed is not None)
        except TimeoutError:
            raise StepFailed(f"timed out after {within:g}s waiting for {what}") from None
        if not ready():
            raise StepFailed(f"{self.name}'s socket closed ({self.closed}) while waiting for {what}")

    async def send(self, frame: dict[str, Any], frames_per_second: float | None) -> None:
        if frames_per_second:  # stay under the server's per-party rate limit on a real server
            now = time.monotonic()
            if self._next_frame_at > now:
                await asyncio.sleep(self._next_frame_at - now)
            self._next_frame_at = max(now, self._next_frame_at) + 1 / frames_per_second
        if self.ws is None or self.closed is not None:
            raise StepFailed(f"{self.name}'s socket is closed")
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader

    def latest(self, kind: str) -> str | None:
        """Id of the newest draft still ``pending`` / agreement still ``proposed`` in this room.

        An agreement this person already answered is passed over while another is open to them.
        """
        status: dict[str, str] = {}
        answered: set[str] = set()
        order: list[str] = []
        for event in self.typed:
            if kind == "draft" and event is not None and event.type == "draft":
                item_id, item_status = event.draft.id, event.draft.status
            elif kind == "agreement" and event is not None and event.type == "agreement":
                item_id, item_status = event.agreement.id, event.agreement.status
                if self.name in event.agreement.accepted_by + event.agreement.declined_by:
                    answered.add(item_id)
            else:
                continue
            if item_id not in status:
                order.append(item_id)
            status[item_id] = item_status
        wanted = "pending" if kind == "draft" else "proposed"
        open_ids = [i for i in order if status[i] == wanted]
        unanswered = [i for i in open_ids if i not in answered]
        candidates = unanswered or open_ids
        return candidates[-1] if candidates else None


# --- HTTP -------------------------------------------------------------------------------------------
async def post_json(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body; the JSON answer, or :class:`StepFailed` with the error envelope."""
    try:
        response = await http.post(path, json=body)
    except httpx.HTTPError as exc:
        raise StepFailed(f"cannot reach the server: {exc!r}") from None
    if response.status_code >= 300:
        raise StepFailed(
            f"POST {path.split('/')[2]} answered {response.status_code}: {_error_text(response)}"
        )
    data: dict[str, Any] = response.json()
    return data


async def session_view(http: httpx.AsyncClient, session_id: str, member: Member) -> dict[str, Any]:
    """``GET /v1/sessions/{id}`` as ``member`` (stage, agreements, their room's ``last_seq``)."""
    try:
        response = await http.get(
            f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {member.token}"}
        )
    except httpx.HTTPError as exc:
        raise StepFailed(f"cannot reach the server: {exc!r}") from None
    if response.status_code != 200:
        raise StepFailed(
            f"{member.name}'s session view answered {response.status_code}: {_error_text(response)}"
        )
    data: dict[str, Any] = response.json()
    return data


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200]

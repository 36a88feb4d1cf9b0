"""Storage interfaces: sessions, the per-room event log, live fan-out.

Two implementations share one contract suite (``tests/orchestrator/test_store_contract.py``):
:class:`orchestrator.memory_store.MemoryStore`, the embedded single-process default, and
:class:`orchestrator.redis_store.RedisStore` for production and multi-node gateways.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from orchestrator.events import Event
from orchestrator.models import SessionState


class Subscription(ABC):
    """Live events of one room, in order, from the moment of subscribing (with any transient
    events signalled meanwhile: ``seq`` 0, best effort, in no log)."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    @abstractmethod
    async def close(self) -> None: ...


class SessionStore(ABC):
    """Sessions and their rooms' event logs."""

    # --- sessions -----------------------------------------------------------------------------
    @abstractmethod
    async def create(self, state: SessionState) -> None:
        """Store a new session. Raises ``Conflict`` if the id exists."""

    @abstractmethod
    async def load(self, session_id: str) -> SessionState:
        """Return the session. Raises ``NotFound``."""

    @abstractmethod
    async def save(self, state: SessionState) -> None:
        """Replace the stored session with ``state``."""

    @abstractmethod
    async def delete(self, session_id: str) -> None:
        """Remove the session, its invite codes and every room's log."""

    @abstractmethod
    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Serialise changes to one session (across processes for Redis)."""

    @abstractmethod
    async def bind_code(self, code: str, session_id: str) -> None:
        """Remember that an invite (or facilitator) code opens ``session_id``."""

    @abstractmethod
    async def resolve_code(self, code: str) -> str | None:
        """Session id for an invite code, or None."""

    @abstractmethod
    async def session_ids(self) -> list[str]:
        """Every stored session id (used by the timeout ticker)."""

    # --- event log ----------------------------------------------------------------------------
    @abstractmethod
    async def append(self, session_id: str, room: str, event: Event) -> Event:
        """Append ``event`` to ``room``'s log, assigning the next gap-free ``seq`` (from 1), and
        publish it to live subscribers of the room. Returns the event with its ``seq``."""

    @abstractmethod
    async def read(
        self, session_id: str, room: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of ``room`` with ``seq > after_seq``, in order."""

    @abstractmethod
    async def last_seq(self, session_id: str, room: str) -> int:
        """The newest ``seq`` in ``room`` (0 when empty)."""

    @abstractmethod
    async def signal(self, session_id: str, room: str, event: Event) -> None:
        """Deliver a transient ``event`` (``seq`` 0, e.g. a coach reply in progress) to ``room``'s
        live subscribers only, in order with the events appended around it.

        Nothing is logged: ``read`` never returns it, ``last_seq`` does not change, a resume never
        replays it. Best effort: a subscriber whose queue is full misses it (and keeps its
        subscription), and a room nobody listens to (or an unknown session) is not an error.
        """

    @abstractmethod
    async def delete_room(self, session_id: str, room: str) -> None:
        """Erase one room's log (a party deleting their own data)."""

    @abstractmethod
    async def subscribe(self, session_id: str, room: str) -> Subscription:
        """Live events appended to ``room`` from now on (from any process, for Redis)."""

    # --- lifecycle ----------------------------------------------------------------------------
    async def ping(self) -> bool:
        """True when the backing service is reachable."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook; the memory store has nothing to release
        """Release connections."""

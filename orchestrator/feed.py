"""A bounded live feed: the one way Accord hands live items (room events, review cases) to readers.

``push`` never blocks the producer: a reader that falls ``maxsize`` items behind is ended with
``end_reason == "overflow"`` after receiving what was queued, and must catch up from the log.
``push_transient`` is for items no log holds (a coach reply in progress): when the queue is full it
drops the item instead, since ending the feed would not let the reader get it back anyway.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Generic, Literal, Self, TypeVar

EndReason = Literal["closed", "overflow", "deleted", "disconnected"]
DEFAULT_QUEUE = 1000
T = TypeVar("T")


class BoundedFeed(Generic[T]):
    """A live feed backed by a bounded local queue, shared by both stores.

    ``push`` never blocks: when the queue already holds ``maxsize`` events the feed ends with
    ``end_reason == "overflow"`` after delivering what it holds. ``close`` ends it at once.
    """

    def __init__(self, maxsize: int = DEFAULT_QUEUE) -> None:
        if maxsize < 1:
            raise ValueError("a subscription queue holds at least one event")
        self.maxsize = maxsize
        # Unbounded on purpose: ``push`` enforces ``maxsize`` itself, so the end marker always fits.
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        self._ended = asyncio.Event()
        self.end_reason: EndReason | None = None

    @property
    def ended(self) -> bool:
        """True once nothing more will be pushed (the queue may still hold events)."""
        return self._ended.is_set()

    def push(self, item: T) -> None:
        """Queue ``item`` for the reader; never blocks."""
        if self.ended:
            return
        if self._queue.qsize() >= self.maxsize:
            self.finish("overflow")
            return
        self._queue.put_nowait(item)

    def push_transient(self, item: T) -> bool:
        """Queue an item that no log holds, if there is room; never blocks, never ends the feed.

        Returns False when it was dropped (the feed has ended, or the queue is full).
        """
        if self.ended or self._queue.qsize() >= self.maxsize:
            return False
        self._queue.put_nowait(item)
        return True

    def finish(self, reason: EndReason, *, discard: bool = False) -> None:
        """End the feed; the reader sees the queued events (unless ``discard``) and then the end."""
        if discard:
            while not self._queue.empty():
                self._queue.get_nowait()
        first = not self.ended
        if first:
            self.end_reason = reason
            self._ended.set()
        if first or discard:
            self._queue.put_nowait(None)

    async def wait_ended(self) -> EndReason:
        """Wait until the feed has ended and say why."""
        await self._ended.wait()
        assert self.end_reason is not None
        return self.end_reason

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # keep the marker: every later call ends too
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        """Stop the feed now and release what backs it. Safe to call more than once."""
        self.finish("closed", discard=True)
        await self._release()

    async def _release(self) -> None:
        """Free what backs the feed (a store's bookkeeping, a connection); must be idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

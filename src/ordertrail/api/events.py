"""The live event fan-out: committed batches in, server-sent events out to every client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine

from ordertrail.api.change_reader import INLINE_ROWS, ChangeReader, ChangeSet, load_changes, size
from ordertrail.services.apply import ApplyResult
from ordertrail.services.changes import Changed
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
_CLOSED = None
Found = list[tuple[str, Any]] | ChangeSet | None  # what a transaction's read hands over


def sse(kind: str, data: Any, event_id: int | None = None) -> str:
    """Format one server-sent event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class EventHub:
    """Turn committed batches into `order`, `trade` and `alert` events for every subscriber."""

    def __init__(self, engine: Engine, *, keepalive: float = 15.0, queue_size: int = 256) -> None:
        self.engine = engine
        self.keepalive = keepalive
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changes: asyncio.Queue[ChangeSet | None] | None = None
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._ids = itertools.count(1)
        self._tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    @property
    def clients(self) -> int:
        """How many clients are listening now."""
        return len(self._subscribers)

    def read_in_transaction(self, uow: UnitOfWork, result: ApplyResult) -> Found:
        """Applier in-transaction reader (this process's own commits, on SQLite): a small
        batch's rows are read inside its transaction, on the writer thread, so no read of
        committed rows ever waits on the event loop (SQLite can keep a reader retrying for
        tens of milliseconds while a writer commits a thousand times a second); a large
        batch's ids are handed over to be read afterwards, off the writer thread."""
        if not (result.order_ids or result.trade_ids or result.alert_ids):
            return None
        changed = Changed(
            frozenset(result.order_ids),
            frozenset(result.trade_ids),
            frozenset(result.alert_ids),
            result.fills,
        )
        if size(changed) > INLINE_ROWS:
            return changed
        return load_changes(uow.connection, changed)

    def deliver(self, found: Found) -> None:
        """Applier delivery (on the writer thread, once committed): send events read in the
        transaction, or queue a large batch's ids; never raises into the apply path."""
        try:
            if isinstance(found, list):
                loop = self._loop
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(self.publish_all, found)
            elif found is not None:
                self.notify(found)
        except Exception:  # a delivery must not break a committed apply
            log.exception("live events: could not hand a batch over")

    def told(self, changed: ChangeSet) -> None:
        """Applier change listener (this process's writes beside the apply path, on SQLite):
        read at once on the telling thread (the writer, right after its commit) and handed
        over as `deliver` hands a batch read in its transaction, so clients get events in
        commit order; a read queued for later could send an order's PENDING after the PLACED
        a later batch committed. Never reads on an event loop; never raises."""
        if self._loop is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # told on a loop: read later, off it
            self.notify(changed)
            return
        found: Found = changed
        if size(changed) <= INLINE_ROWS:
            try:
                with self.engine.connect() as connection:
                    found = load_changes(connection, changed)
            except Exception:  # read it later instead
                log.exception("live events: could not read a change at once")
        self.deliver(found)

    def notify(self, changed: ChangeSet) -> None:
        """Queue a change from any thread (a no-op until started or after closing)."""
        loop, queue = self._loop, self._changes
        if loop is None or queue is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(queue.put_nowait, changed)

    def start(self) -> None:
        """Start fanning out on the running loop (the latest start wins)."""
        self._loop = asyncio.get_running_loop()
        changes: asyncio.Queue[ChangeSet | None] = asyncio.Queue()
        self._changes = changes
        reader = ChangeReader(self.engine)
        self._tasks[self._loop] = asyncio.create_task(self._run(changes, reader))

    async def close(self) -> None:
        """End every subscriber's stream and stop fanning out on the running loop."""
        loop = asyncio.get_running_loop()
        for queue in list(self._subscribers):
            self._offer(queue, _CLOSED)
        self._subscribers.clear()
        if self._loop is loop:
            self._loop = self._changes = None
        task = self._tasks.pop(loop, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def publish(self, kind: str, data: Any) -> None:
        """Send one event to every subscriber (from the loop's thread)."""
        self.publish_all([(kind, data)])

    def publish_all(self, events: list[tuple[str, Any]]) -> None:
        """Send events to every subscriber as one chunk, written at once (from the loop)."""
        if not events or not self._subscribers:
            return
        message = "".join(sse(kind, data, next(self._ids)) for kind, data in events)
        for queue in list(self._subscribers):
            self._offer(queue, message)

    def _offer(self, queue: asyncio.Queue[str | None], message: str | None) -> None:
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:  # a client that stopped reading is dropped, not waited for
            self._subscribers.discard(queue)
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(_CLOSED)

    async def stream(self, is_disconnected: Callable[[], Any] | None = None) -> AsyncIterator[str]:
        """Yield one client's events, with keep-alive comments, until it leaves or we close.

        Whatever is queued when the client's turn comes is sent together: one write, however
        many batches committed meanwhile."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        try:
            yield "retry: 3000\n: connected\n\n"
            while True:
                try:
                    async with asyncio.timeout(self.keepalive):  # no task per wait, unlike wait_for
                        message = await queue.get()
                except TimeoutError:
                    if is_disconnected is not None and await is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                chunk, closed = _drain(queue, message)
                if chunk:
                    yield chunk
                if closed:
                    return
        finally:
            self._subscribers.discard(queue)

    async def relay(self, notices: AsyncIterator[ChangeSet]) -> None:
        """Fan out changes other processes announce (PostgreSQL LISTEN), until cancelled."""
        async for notice in notices:
            self.notify(notice)

    async def _run(self, changes: asyncio.Queue[ChangeSet | None], reader: ChangeReader) -> None:
        """Load and send batches; those that commit while one loads are loaded together."""
        try:
            await self._fan_out(changes, reader)
        finally:
            reader.close()

    async def _fan_out(
        self, changes: asyncio.Queue[ChangeSet | None], reader: ChangeReader
    ) -> None:
        while True:
            first = await changes.get()
            if first is None:
                return
            batch, closing = [first], False
            while not changes.empty():
                more = changes.get_nowait()
                if more is None:
                    closing = True
                    break
                batch.append(more)
            changed = merge(batch)
            try:
                events = await reader.read(changed)
            except Exception:  # the database hiccuped: tell clients to refresh instead
                log.exception("live events: could not load a batch")
                events = [("refresh", {"reason": "load failed"})]
            self.publish_all(events)
            if closing:
                return


def merge(changes: list[ChangeSet]) -> ChangeSet:
    """One change set touching everything `changes` touched."""
    if len(changes) == 1:
        return changes[0]
    return Changed(
        frozenset().union(*(c.order_ids for c in changes)),
        frozenset().union(*(c.trade_ids for c in changes)),
        frozenset().union(*(c.alert_ids for c in changes)),
        proposal_ids=frozenset().union(*(c.proposal_ids for c in changes)),
    )


def _drain(queue: asyncio.Queue[str | None], first: str | None) -> tuple[str, bool]:
    """`first` and every message queued behind it, joined; and whether the stream closed."""
    if first is _CLOSED:
        return "", True
    parts = [first]
    while not queue.empty():
        message = queue.get_nowait()
        if message is _CLOSED:
            return "".join(parts), True
        parts.append(message)
    return "".join(parts), False

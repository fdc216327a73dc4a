"""The live event fan-out: committed batches in, server-sent events out to every client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select

from ordertrail.services.apply import ApplyResult
from ordertrail.services.listings import alert_json, trade_json
from ordertrail.services.queries import order_json
from ordertrail.storage.tables import alerts, orders, trades

log = logging.getLogger(__name__)
_CLOSED = None


class ChangeSet(Protocol):
    """The ids a committed batch touched, whichever process committed it."""

    @property
    def order_ids(self) -> frozenset[int]: ...
    @property
    def trade_ids(self) -> frozenset[int]: ...
    @property
    def alert_ids(self) -> frozenset[int]: ...


@dataclass(frozen=True)
class Changed:
    """The ids one committed batch touched (what a listener hands the hub, from any thread)."""

    order_ids: frozenset[int] = frozenset()
    trade_ids: frozenset[int] = frozenset()
    alert_ids: frozenset[int] = frozenset()
    fills: int = 0


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

    def on_batch(self, result: ApplyResult) -> None:
        """Applier listener: hand the batch's ids to the loop; never raises into the apply path."""
        try:
            if not (result.order_ids or result.trade_ids or result.alert_ids):
                return
            changed = Changed(
                frozenset(result.order_ids),
                frozenset(result.trade_ids),
                frozenset(result.alert_ids),
                result.fills,
            )
            self.notify(changed)
        except Exception:  # a listener must not break a committed apply
            log.exception("live events: could not queue a batch")

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
        self._tasks[self._loop] = asyncio.create_task(self._run(changes))

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
        message = sse(kind, data, next(self._ids))
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
        """Yield one client's events, with keep-alive comments, until it leaves or we close."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        try:
            yield "retry: 3000\n: connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=self.keepalive)
                except TimeoutError:
                    if is_disconnected is not None and await is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if message is _CLOSED:
                    return
                yield message
        finally:
            self._subscribers.discard(queue)

    async def relay(self, notices: AsyncIterator[ChangeSet]) -> None:
        """Fan out changes other processes announce (PostgreSQL LISTEN), until cancelled."""
        async for notice in notices:
            self.notify(notice)

    async def _run(self, changes: asyncio.Queue[ChangeSet | None]) -> None:
        while True:
            changed = await changes.get()
            if changed is None:
                return
            try:
                events = await asyncio.to_thread(self._load, changed)
            except Exception:  # the database hiccuped: tell clients to refresh instead
                log.exception("live events: could not load a batch")
                events = [("refresh", {"reason": "load failed"})]
            for kind, data in events:
                self.publish(kind, data)

    def _load(self, changed: ChangeSet) -> list[tuple[str, Any]]:
        with self.engine.connect() as connection:
            return load_changes(connection, changed)


def load_changes(connection: Connection, changed: ChangeSet) -> list[tuple[str, Any]]:
    """Read what a batch touched, as (event kind, JSON) pairs: orders, then trades, then alerts."""
    events: list[tuple[str, Any]] = []
    for table, ids, kind, render in (
        (orders, changed.order_ids, "order", order_json),
        (trades, changed.trade_ids, "trade", trade_json),
        (alerts, changed.alert_ids, "alert", alert_json),
    ):
        if ids:
            query = select(table).where(table.c.id.in_(sorted(ids))).order_by(table.c.id)
            events.extend((kind, render(row)) for row in connection.execute(query))
    return events

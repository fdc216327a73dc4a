"""The fake account-events stream: sessions, subscribers, heartbeats and event knobs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.tradier.knobs import Knobs
from tests.fakes.tradier.orders import FakeOrder, heartbeat_stamp
from tests.fakes.tradier.render import to_json

SUBSCRIBE_TIMEOUT_S = 10.0


@dataclass(eq=False)
class Subscriber:
    """One subscribed socket: what it wants and the queue its sender drains."""

    session_id: str
    accounts: set[str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any] | int] = field(default_factory=asyncio.Queue)

    def push(self, item: dict[str, Any] | int) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class StreamHub:
    """One session at a time; events fan out to every subscriber of the event's account."""

    def __init__(self, knobs: Knobs, clock: Callable[[], datetime], accounts: list[str]) -> None:
        self.knobs = knobs
        self.clock = clock
        self.accounts = accounts
        self._lock = threading.Lock()
        self._session: tuple[str, datetime] | None = None
        self._subscribers: set[Subscriber] = set()
        self._held: dict[str, Any] | None = None
        self.sessions_created = 0
        self.events_sent = 0
        self.heartbeats_sent = 0

    def new_session(self) -> str:
        """Mint a session id; the previous one stops working and its sockets close."""
        session_id = str(uuid.uuid4())
        with self._lock:
            old = self._session
            self._session = (session_id, self.clock() + timedelta(seconds=self.knobs.session_ttl_s))
            self.sessions_created += 1
            stale = [s for s in self._subscribers if old and s.session_id == old[0]]
        for subscriber in stale:
            subscriber.push(1008)
        return session_id

    def valid(self, session_id: Any) -> bool:
        with self._lock:
            if self._session is None or session_id != self._session[0]:
                return False
            return self.clock() < self._session[1]

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, order: FakeOrder) -> None:
        """Announce an order's new state, through the drop/duplicate/reorder knobs."""
        field_name = "executed_quantity" if self.knobs.executed_quantity else "exec_quantity"
        event = order.event(field_name, lagging=order.lag_reads > 0)
        with self._lock:
            if self.knobs.stream_silent:
                return
            if self.knobs.drop_events > 0:
                self.knobs.drop_events -= 1
                return
            batch = [event]
            if self.knobs.reorder_events and self._held is None:
                self._held = event
                return
            if self._held is not None:
                batch.append(self._held)
                self._held = None
            if self.knobs.duplicate_events:
                batch = [item for item in batch for _ in range(2)]
            targets = list(self._subscribers)
        for item in batch:
            for subscriber in targets:
                if str(item["account"]) in subscriber.accounts:
                    subscriber.push(item)

    def release_held(self) -> None:
        """Send an event the reorder knob still holds back."""
        with self._lock:
            held, self._held = self._held, None
            targets = list(self._subscribers)
        if held is not None:
            for subscriber in targets:
                subscriber.push(held)

    def disconnect_all(self, code: int = 1011) -> None:
        """Close every subscribed socket (1011: an abnormal drop)."""
        with self._lock:
            targets = list(self._subscribers)
        for subscriber in targets:
            subscriber.push(code)

    def reset(self) -> None:
        self.disconnect_all(1001)
        with self._lock:
            self._session = None
            self._held = None
            self.sessions_created = 0
            self.events_sent = 0
            self.heartbeats_sent = 0

    async def serve(self, websocket: WebSocket) -> None:
        """Run one websocket: wait for the subscribe frame, then heartbeats and events."""
        await websocket.accept()
        try:
            text = await asyncio.wait_for(websocket.receive_text(), SUBSCRIBE_TIMEOUT_S)
            frame = json.loads(text)
        except (TimeoutError, ValueError, WebSocketDisconnect):
            with contextlib.suppress(Exception):
                await websocket.close(1008)
            return
        if not isinstance(frame, dict) or not self.valid(frame.get("sessionid")):
            await websocket.send_text("session not found")
            await websocket.close(1008)
            return
        subscriber = Subscriber(
            session_id=frame["sessionid"],
            accounts=set(self.accounts) - set(frame.get("excludeAccounts") or []),
            loop=asyncio.get_running_loop(),
        )
        with self._lock:
            self._subscribers.add(subscriber)
        tasks = [
            asyncio.create_task(self._send(websocket, subscriber)),
            asyncio.create_task(self._beat(subscriber)),
            asyncio.create_task(self._receive(websocket, subscriber)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            with self._lock:
                self._subscribers.discard(subscriber)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, websocket: WebSocket, subscriber: Subscriber) -> None:
        while True:
            item = await subscriber.queue.get()
            if isinstance(item, int):
                with contextlib.suppress(Exception):
                    await websocket.close(item)
                return
            if self.knobs.event_delay_s and item.get("event") == "order":
                await asyncio.sleep(self.knobs.event_delay_s)
            items = [item]
            while self.knobs.batch_events and not subscriber.queue.empty():
                extra = subscriber.queue.get_nowait()
                if isinstance(extra, int):
                    subscriber.queue.put_nowait(extra)
                    break
                items.append(extra)
            await websocket.send_text("\n".join(to_json(one) for one in items))
            orders = sum(1 for one in items if one.get("event") == "order")
            self.events_sent += orders
            self.heartbeats_sent += len(items) - orders

    async def _beat(self, subscriber: Subscriber) -> None:
        while True:
            await asyncio.sleep(self.knobs.heartbeat_interval_s)
            if not self.knobs.stream_silent:
                beat = {"event": "heartbeat", "status": "active"}
                subscriber.push(beat | {"timestamp": heartbeat_stamp(self.clock())})

    async def _receive(self, websocket: WebSocket, subscriber: Subscriber) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            with contextlib.suppress(ValueError, TypeError):
                frame = json.loads(message.get("text") or "")
                excluded = set(frame.get("excludeAccounts") or [])
                subscriber.accounts = set(self.accounts) - excluded

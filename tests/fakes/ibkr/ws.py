"""The fake gateway's websocket: cookie or frame auth, greeting, heartbeats, `sor`/`str` pushes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

from starlette.websockets import WebSocket

from tests.fakes.ibkr import rows
from tests.fakes.ibkr.book import Book


class Connection:
    """One client socket: what it subscribed to and the queue its writer drains."""

    def __init__(self, websocket: WebSocket, loop: asyncio.AbstractEventLoop) -> None:
        self.websocket = websocket
        self.loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.authenticated = False
        self.sor = False
        self.str = False

    def push(self, text: str | None) -> None:
        """Queue a frame (None closes the socket) from any thread."""
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(self.queue.put_nowait, text)


class Hub:
    """All sockets of the gateway; the book publishes through `publish`."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.connections: set[Connection] = set()
        self._lock = threading.Lock()
        self.frames_sent: list[tuple[str, int]] = []  # (topic, number of args)
        self.replayed: list[int] = []  # `str` history pushed on subscribe (rows per push)
        self.tics = 0

    @property
    def authenticated_count(self) -> int:
        return sum(1 for c in list(self.connections) if c.authenticated)

    def publish(self, topic: str, args: list[dict[str, Any]]) -> None:
        knobs = self.book.knobs
        if not args or (topic == "sor" and (knobs.sor_silent or self.book.sor_muted)):
            return
        if knobs.drop_frames > 0:
            knobs.drop_frames -= 1
            return
        text = json.dumps({"topic": topic, "args": args})
        copies = 2 if knobs.duplicate_frames else 1
        with self._lock:
            targets = [c for c in self.connections if c.authenticated and getattr(c, topic)]
        for connection in targets:
            for _ in range(copies):
                connection.push(text)
        self.frames_sent.append((topic, len(args)))

    def push_raw(self, frame: dict[str, Any]) -> None:
        """Send any frame to every authenticated socket (ntf, blt, error frames...)."""
        text = json.dumps(frame)
        for connection in list(self.connections):
            if connection.authenticated:
                connection.push(text)

    def drop_all(self) -> None:
        """Close every socket as a network drop would (code 1011)."""
        for connection in list(self.connections):
            connection.push(None)

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        connection = Connection(websocket, asyncio.get_running_loop())
        with self._lock:
            self.connections.add(connection)
        tasks = [asyncio.create_task(self._write(connection))]
        try:
            if self.book.knobs.accept_cookie and self._cookie_session(websocket):
                tasks.append(self._authenticate(connection))
            else:
                connection.push(json.dumps({"message": "waiting for session"}))
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or (message.get("bytes") or b"").decode()
                task = self._on_message(connection, text.strip())
                if task is not None:
                    tasks.append(task)
        finally:
            with self._lock:
                self.connections.discard(connection)
            for task in tasks:
                task.cancel()

    def _cookie_session(self, websocket: WebSocket) -> bool:
        raw = websocket.cookies.get("api")
        if not raw:
            return False
        try:
            session = json.loads(raw).get("session")
        except (ValueError, AttributeError):
            return False
        return bool(session == self.book.session_token)

    def _authenticate(self, connection: Connection) -> asyncio.Task[None]:
        connection.authenticated = True
        account = self.book.account_id
        for frame in (
            {"topic": "system", "success": "user123", "isFT": False, "isPaper": True},
            {"topic": "act", "args": {"accounts": [account], "selectedAccount": account}},
            {"topic": "sts", "args": {"authenticated": True}},
        ):
            connection.push(json.dumps(frame))
        return asyncio.create_task(self._heartbeat(connection))

    def _on_message(self, connection: Connection, text: str) -> asyncio.Task[None] | None:
        if text.startswith("{"):
            return self._session_frame(connection, text)
        if not connection.authenticated:
            connection.push(json.dumps({"message": "waiting for session"}))
            return None
        topic, _, argument = text.partition("+")
        if topic == "tic":
            self.tics += 1
            stamp = int(time.time() * 1000)
            connection.push(
                json.dumps({"topic": "tic", "alive": True, "id": "fake", "lastAccessed": stamp})
            )
        elif topic in ("sor", "uor"):
            connection.sor = topic == "sor"
            if connection.sor:
                self._sor_snapshot(connection)
        elif topic in ("str", "utr"):
            connection.str = topic == "str"
            if connection.str:
                self._str_history(connection, argument)
        elif topic != "ech":
            connection.push(json.dumps({"error": f"Topic unknown: {topic}"}))
        return None

    def _session_frame(self, connection: Connection, text: str) -> asyncio.Task[None] | None:
        try:
            session = json.loads(text).get("session")
        except (ValueError, AttributeError):
            return None
        if not self.book.knobs.accept_session_frame:
            connection.push(json.dumps({"error": "Topic unknown"}))
        elif connection.authenticated:
            return None
        elif session == self.book.session_token:
            return self._authenticate(connection)
        else:
            connection.push(json.dumps({"message": "waiting for session"}))
        return None

    def _sor_snapshot(self, connection: Connection) -> None:
        book, knobs = self.book, self.book.knobs
        with book.lock:
            if book.sor_snapshot_sent and not knobs.sor_snapshot_every_subscribe:
                return
            book.sor_snapshot_sent = True
            snapshot = book.snapshot_rows()
        if snapshot and not knobs.sor_silent and not book.sor_muted:
            connection.push(json.dumps({"topic": "sor", "args": snapshot}))

    def _str_history(self, connection: Connection, argument: str) -> None:
        try:
            options = json.loads(argument or "{}")
        except ValueError:
            options = {}
        if options.get("realtimeUpdatesOnly"):
            return
        knobs = self.book.knobs
        history = [
            rows.trade_row(e, websocket=True, order_id=knobs.str_order_id)
            for e in self.book.trades_since(int(options.get("days") or 1))
        ]
        if history:
            self.replayed.append(len(history))
            connection.push(json.dumps({"topic": "str", "args": history}))

    async def _heartbeat(self, connection: Connection) -> None:
        while True:
            connection.push(json.dumps({"topic": "system", "hb": int(time.time() * 1000)}))
            await asyncio.sleep(self.book.knobs.hb_interval_s)

    async def _write(self, connection: Connection) -> None:
        while True:
            text = await connection.queue.get()
            try:
                if text is None:
                    await connection.websocket.close(code=1011)
                    return
                await connection.websocket.send_text(text)
            except Exception:  # the client went away first
                return

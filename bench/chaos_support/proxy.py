"""`ChaosProxy`: a loopback reverse proxy between an adapter and a fake broker server that breaks
things at given rates: REST calls answered 429/5xx (or a web page), stream frames dropped,
duplicated, held back behind the next one, or garbled, and every stream cut on demand.

Calls that cannot have reached the broker's order book are the only ones refused *before* they
are forwarded (reads and the rate limit); writes are forwarded first and then their answer is
lost to a 5xx, as a gateway timeout would: the broker acted, the adapter cannot know.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from tests.fakes.tradier.server import Server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
WEB_PAGE = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
RateLimitAnswer = Callable[[], Response]


@dataclass
class Rates:
    """How often each fault strikes (0 to 1)."""

    duplicate: float = 0.10
    reorder: float = 0.10
    drop: float = 0.05
    http_error: float = 0.05
    malformed: float = 0.01

    @classmethod
    def none(cls) -> Rates:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)


class ChaosProxy:
    """Forward HTTP and websocket traffic to `upstream`, injecting faults at `rates`."""

    def __init__(
        self,
        upstream: str,
        *,
        rates: Rates,
        seed: int,
        rate_limited: RateLimitAnswer,
        spared: tuple[str, ...] = (),
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.rates = rates
        self.rng = random.Random(seed)
        self.rate_limited = rate_limited
        self.spared = spared
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._sockets: set[WebSocket] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        app = Starlette(
            routes=[
                WebSocketRoute("/{path:path}", self._websocket),
                Route("/{path:path}", self._http, methods=METHODS),
            ]
        )
        self._server = Server(app)
        self.port = self._server.port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ChaosProxy:
        self._server.start_in_thread()
        return self

    def stop(self) -> None:
        self.calm()
        self._server.stop_thread()

    def calm(self) -> None:
        """No more faults from now on."""
        self.rates = Rates.none()

    def cut_streams(self) -> int:
        """Close every proxied websocket as a network drop would; return how many."""
        loop, sockets = self._loop, list(self._sockets)
        if loop is None:
            return 0
        for socket in sockets:
            loop.call_soon_threadsafe(asyncio.ensure_future, _close(socket))
        self._count("disconnect", len(sockets))
        return len(sockets)

    @property
    def total(self) -> int:
        return sum(self.faults.values())

    def _count(self, kind: str, times: int = 1) -> None:
        with self._lock:
            self.faults[kind] += times

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return self.rng.random() < rate

    async def _http(self, request: Request) -> Response:
        self._loop = asyncio.get_running_loop()
        path = request.url.path
        spared = any(part in path for part in self.spared)
        reading = request.method == "GET"
        if reading and not spared and self._roll(self.rates.http_error):
            self._count("http_refused")
            if self._roll(0.5):
                return self.rate_limited()
            return Response("Service Unavailable", self.rng.choice([500, 502, 503, 504]))
        answer = await self._forward(request)
        if not reading and not spared and self._roll(self.rates.http_error):
            self._count("http_answer_lost")
            return Response("Gateway Timeout", self.rng.choice([502, 504]))
        if reading and not spared and self._roll(self.rates.malformed):
            self._count("http_malformed")
            return Response(WEB_PAGE, 200, media_type="text/html")
        return answer

    async def _forward(self, request: Request) -> Response:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.upstream, timeout=30.0)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        upstream = await self._client.request(
            request.method,
            request.url.path,
            params=list(request.query_params.multi_items()),
            headers=headers,
            content=await request.body(),
        )
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(upstream.content, upstream.status_code, headers=kept)

    async def _websocket(self, client: WebSocket) -> None:
        self._loop = asyncio.get_running_loop()
        url = self.upstream.replace("http", "ws", 1) + client.url.path
        cookie = client.headers.get("cookie")
        headers = {"Cookie": cookie} if cookie else None
        await client.accept()
        self._sockets.add(client)
        try:
            async with connect(url, additional_headers=headers, max_size=None) as upstream:
                inbound = asyncio.create_task(self._inbound(client, upstream))
                outbound = asyncio.create_task(self._outbound(client, upstream))
                _, pending = await asyncio.wait(
                    {inbound, outbound}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        except (OSError, ConnectionClosed):
            pass
        finally:
            self._sockets.discard(client)
            await _close(client)

    async def _inbound(self, client: WebSocket, upstream: object) -> None:
        """Client to broker, untouched."""
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
            while True:
                await upstream.send(await client.receive_text())  # type: ignore[attr-defined]

    async def _outbound(self, client: WebSocket, upstream: object) -> None:
        """Broker to client, through the frame faults."""
        held: str | None = None
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
            while True:
                try:
                    async with asyncio.timeout(0.5 if held is not None else None):
                        frame = await upstream.recv()  # type: ignore[attr-defined]
                except TimeoutError:
                    await client.send_text(held or "")  # a held frame goes out late, not never
                    held = None
                    continue
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                frames, held = self._frames(text, held)
                for out in frames:
                    await client.send_text(out)

    def _frames(self, text: str, held: str | None) -> tuple[list[str], str | None]:
        """What the client gets for one upstream frame, and the frame held back after it."""
        rates = self.rates
        if self._roll(rates.drop):
            self._count("frame_dropped")
            return [], held
        if self._roll(rates.malformed):
            self._count("frame_malformed")
            text = text[: max(1, len(text) // 2)] if self._roll(0.5) else "\x00\x7f{garbled"
        frames = [text]
        if held is not None:
            frames.append(held)  # the held one arrives after a newer one
            held = None
        elif self._roll(rates.reorder):
            self._count("frame_reordered")
            return [], text
        if self._roll(rates.duplicate):
            self._count("frame_duplicated")
            frames = [frames[0], *frames]
        return frames, held


async def _close(socket: WebSocket) -> None:
    with contextlib.suppress(Exception):
        await socket.close(code=1011)

"""`LossyTransport`: an httpx transport that lets a request reach the server, then loses or
garbles the answer.

The server acted (an order exists) but the client sees a read timeout, or an answer it cannot
read: the "placement response lost" cases, for adapters whose fake server has no knob for them.
"""

from __future__ import annotations

import httpx


class LossyTransport(httpx.AsyncBaseTransport):
    """Forward every request; for the next matching ones, drop the answer and time out."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self._pending: list[tuple[str, str, httpx.Response | None]] = []
        self.lost = 0

    def lose_next(self, method: str, path_part: str) -> None:
        """Lose the answer of the next `method` request whose path contains `path_part`."""
        self._pending.append((method.upper(), path_part, None))

    def replace_next(self, method: str, path_part: str, status: int, body: bytes) -> None:
        """Answer the next matching request (after the server handled it) with this instead."""
        self._pending.append((method.upper(), path_part, httpx.Response(status, content=body)))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        for index, (method, part, instead) in enumerate(self._pending):
            if request.method == method and part in request.url.path:
                del self._pending[index]
                await response.aread()
                await response.aclose()
                self.lost += 1
                if instead is not None:
                    return instead
                raise httpx.ReadTimeout("the answer was lost on the way back", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

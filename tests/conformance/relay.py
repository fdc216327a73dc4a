"""`Relay`: a broker that passes everything to a real adapter, with switches for what can go wrong
between them (an answer lost, a hook after placing, hidden orders, failing reads, a stream that
goes silent, drops, duplicates, reorders or garbles what it carries).

The fake servers have knobs for most of this; the paper broker lives in-process and has none, so
its harness sets them here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerUnavailable, RateLimited
from ordertrail.ports import Broker, PlaceRequest, PlaceResult, StreamConnected, StreamItem

AfterPlace = Callable[[PlaceResult], Awaitable[None]]
AfterCancel = Callable[[str], None]


class Relay:
    """A transparent `Broker` around `inner`; every switch is off until a test sets it."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.name = inner.name
        self.account_id = inner.account_id
        self.after_place: AfterPlace | None = None
        self.after_cancel: AfterCancel | None = None
        self.lose_next_answer = False
        self.hidden: set[str] = set()
        self.failing_reads = 0
        self.silent = False
        self.duplicating = False
        self.reordering = False
        self.garbled: list[str] = []
        self._sessions: set[asyncio.Event] = set()

    async def place(self, request: PlaceRequest) -> PlaceResult:
        result = await self.inner.place(request)
        hook, self.after_place = self.after_place, None
        if hook is not None:
            await hook(result)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise BrokerUnavailable("the placement answer was lost", broker=self.name)
        return result

    async def cancel(self, broker_order_id: str) -> None:
        self._maybe_fail("cancel")
        await self.inner.cancel(broker_order_id)
        if self.after_cancel is not None:
            self.after_cancel(broker_order_id)

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        self._maybe_fail("list")
        reports = await self.inner.list_orders(since)
        return [r for r in reports if r.broker_order_id not in self.hidden]

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        self._maybe_fail("lookup")
        return await self.inner.get_order(broker_order_id)

    def stream(self) -> AsyncIterator[StreamItem] | None:
        session = self.inner.stream()
        return None if session is None else self._relay(session)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _maybe_fail(self, call: str) -> None:
        if self.failing_reads <= 0:
            return
        self.failing_reads -= 1
        if self.failing_reads % 2:
            raise RateLimited(f"{call}: too many requests", broker=self.name, retry_after=0.05)
        raise BrokerUnavailable(f"{call}: 503 Service Unavailable", broker=self.name)

    def drop(self) -> None:
        """Break every open stream session now, as a network drop would."""
        for dropped in self._sessions:
            dropped.set()

    async def _relay(self, session: AsyncIterator[StreamItem]) -> AsyncIterator[StreamItem]:
        dropped = asyncio.Event()
        self._sessions.add(dropped)
        held: StreamItem | None = None
        try:
            async for item in _until(session, dropped, self.name):
                if isinstance(item, StreamConnected):
                    yield item
                    continue
                while self.garbled:
                    yield self._garbage(self.garbled.pop())
                if self.silent:
                    continue
                batch = [item]
                if self.reordering and held is None:
                    held = item
                    continue
                if held is not None:
                    batch, held = [item, held], None
                for one in batch:
                    for _ in range(2 if self.duplicating else 1):
                        yield one
        finally:
            self._sessions.discard(dropped)
            aclose = getattr(session, "aclose", None)
            if aclose is not None:
                await aclose()

    def _garbage(self, broker_order_id: str) -> OrderReport:
        """What a frame about an order that could not be read leaves: a report saying nothing."""
        return OrderReport(
            broker=self.name,
            account_id=self.account_id,
            broker_order_id=broker_order_id,
            source="stream",
            raw="\x00\x01{not a frame",
        )


async def _until(
    session: AsyncIterator[StreamItem], dropped: asyncio.Event, broker: str
) -> AsyncIterator[StreamItem]:
    """Items of `session` until it ends, or until `dropped` is set (then raise, like a drop)."""
    items = aiter(session)
    while True:
        following = asyncio.ensure_future(anext(items))
        drop = asyncio.ensure_future(dropped.wait())
        await asyncio.wait({following, drop}, return_when=asyncio.FIRST_COMPLETED)
        drop.cancel()
        if dropped.is_set():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await following
            raise BrokerUnavailable("the stream connection dropped", broker=broker)
        try:
            yield following.result()
        except StopAsyncIteration:
            return

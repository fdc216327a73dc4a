"""`ChaosPaper`: the paper broker behind the same faults the proxy injects for the real adapters.

The paper broker lives in-process (no sockets to proxy), so its stream items and calls are
broken here: items dropped, duplicated, held behind the next one or garbled; reads refused with
429/5xx; placement answers lost after the order was taken; the stream cut on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bench.chaos_support.proxy import Rates
from ordertrail.brokers.paper import PaperBroker
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerUnavailable, RateLimited
from ordertrail.ports import PlaceRequest, PlaceResult, StreamConnected, StreamItem


class ChaosPaper:
    """A `Broker` around a `PaperBroker`, faulty at `rates`."""

    def __init__(self, paper: PaperBroker, rates: Rates, seed: int) -> None:
        self.paper = paper
        self.name = paper.name
        self.account_id = paper.account_id
        self.rates = rates
        self.rng = random.Random(seed)
        self.faults: Counter[str] = Counter()
        self._cuts: set[asyncio.Event] = set()

    def calm(self) -> None:
        self.rates = Rates.none()

    def cut_streams(self) -> int:
        for cut in self._cuts:
            cut.set()
        self.faults["disconnect"] += len(self._cuts)
        return len(self._cuts)

    def _roll(self, rate: float, kind: str) -> bool:
        hit = self.rng.random() < rate
        if hit:
            self.faults[kind] += 1
        return hit

    def _refuse(self, call: str) -> None:
        if self._roll(self.rates.http_error, "http_refused"):
            if self.rng.random() < 0.5:
                raise RateLimited(f"paper {call}: 429", broker=self.name, retry_after=0.05)
            raise BrokerUnavailable(f"paper {call}: 503", broker=self.name)

    async def place(self, request: PlaceRequest) -> PlaceResult:
        result = await self.paper.place(request)
        if self._roll(self.rates.http_error, "http_answer_lost"):
            raise BrokerUnavailable("paper place: 504 after the order was taken", broker=self.name)
        return result

    async def cancel(self, broker_order_id: str) -> None:
        await self.paper.cancel(broker_order_id)
        if self._roll(self.rates.http_error, "http_answer_lost"):
            raise BrokerUnavailable("paper cancel: 504 after it was taken", broker=self.name)

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        self._refuse("list")
        return await self.paper.list_orders(since)

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        self._refuse("lookup")
        return await self.paper.get_order(broker_order_id)

    def stream(self) -> AsyncIterator[StreamItem]:
        return self._session()

    async def aclose(self) -> None:
        await self.paper.aclose()

    async def _session(self) -> AsyncIterator[StreamItem]:
        cut = asyncio.Event()
        self._cuts.add(cut)
        items = aiter(self.paper.stream())
        held: StreamItem | None = None
        following: asyncio.Future[StreamItem] | None = None
        try:
            while True:
                if following is None:
                    following = asyncio.ensure_future(anext(items))
                waiting: asyncio.Future[Any] = asyncio.ensure_future(cut.wait())
                pending: set[asyncio.Future[Any]] = {following, waiting}
                await asyncio.wait(
                    pending,
                    timeout=0.5 if held is not None else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiting.cancel()
                if cut.is_set():
                    raise BrokerUnavailable("paper stream cut", broker=self.name)
                if not following.done():  # quiet: a held item goes out late, not never
                    if held is not None:
                        yield held
                        held = None
                    continue
                try:
                    item = following.result()
                except StopAsyncIteration:
                    return
                following = None
                if isinstance(item, StreamConnected):
                    yield item
                    continue
                outs, held = self._faulted(item, held)
                for out in outs:
                    yield out
        finally:
            self._cuts.discard(cut)
            if following is not None:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
            await items.aclose()  # type: ignore[attr-defined]

    def _faulted(
        self, item: StreamItem, held: StreamItem | None
    ) -> tuple[list[StreamItem], StreamItem | None]:
        """What the app gets for one item, and the item held back after it."""
        rates = self.rates
        if self._roll(rates.drop, "frame_dropped"):
            return [], held
        if isinstance(item, OrderReport) and self._roll(rates.malformed, "frame_malformed"):
            item = OrderReport(
                broker=self.name,
                account_id=self.account_id,
                broker_order_id=item.broker_order_id,
                source="stream",
                raw="\x00\x7f{garbled",
            )
        out = [item]
        if held is not None:
            out.append(held)  # the held one arrives after a newer one
            held = None
        elif self._roll(rates.reorder, "frame_reordered"):
            return [], item
        if self._roll(rates.duplicate, "frame_duplicated"):
            out = [out[0], *out]
        return out, held

"""`PaperBroker`: places, fills, cancels and streams orders in memory, step by step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from ordertrail.brokers.paper.config import Behaviour, PaperConfig
from ordertrail.clock import Clock, SystemClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerRejected
from ordertrail.ports import PlaceRequest, PlaceResult, StreamConnected, StreamItem


@dataclass
class _PaperOrder:
    id: str
    client_order_id: str | None
    instrument: Instrument
    side: str
    quantity: Decimal
    price: Decimal
    behaviour: Behaviour
    status: OrderStatus = OrderStatus.PLACED
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    reason: str | None = None
    cancel_requested: bool = False
    updated_at: datetime | None = None
    history: list[str] = field(default_factory=list)
    limited: bool = False  # a limit order: `price` is its limit


class PaperBroker:
    """A broker that lives in this process; `advance()` moves every working order one step."""

    name = "paper"

    def __init__(self, config: PaperConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or PaperConfig()
        self.account_id = self.config.account_id
        self._clock = clock or SystemClock()
        self._orders: dict[str, _PaperOrder] = {}
        self._next_id = 1000
        self._subscribers: list[asyncio.Queue[OrderReport]] = []
        self.behaviours: dict[str, Behaviour] = {}  # by client order id, set by tests and the demo

    async def place(self, request: PlaceRequest) -> PlaceResult:
        behaviour = self.behaviours.get(request.client_order_id) or self.config.by_symbol.get(
            request.instrument.symbol, self.config.default
        )
        if behaviour is Behaviour.REJECT:
            raise BrokerRejected("paper broker: insufficient buying power", broker=self.name)
        order = self._new(
            request.client_order_id,
            request.instrument,
            request.side,
            request.quantity,
            request.limit_price,
            behaviour,
        )
        report = self._report(order, "place")
        self._publish(report)
        return PlaceResult(broker_order_id=order.id, report=report)

    def place_external(
        self,
        instrument: Instrument,
        side: str,
        quantity: Decimal,
        behaviour: Behaviour = Behaviour.FILL,
    ) -> str:
        """Place an order "by hand", as if in the broker's own app (no client order id)."""
        order = self._new(None, instrument, side, quantity, None, behaviour)
        self._publish(self._report(order, "stream"))
        return order.id

    async def cancel(self, broker_order_id: str) -> None:
        order = self._orders.get(broker_order_id)
        if order is None or order.status.terminal:
            return
        order.cancel_requested = True

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        return [self._report(o, "poll") for o in self._orders.values()]

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        order = self._orders.get(broker_order_id)
        return self._report(order, "lookup") if order else None

    def stream(self) -> AsyncIterator[StreamItem]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[StreamItem]:
        queue: asyncio.Queue[OrderReport] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield StreamConnected(at=self._clock.now(), detail="paper")
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)

    async def aclose(self) -> None:
        return None

    def advance(self) -> int:
        """Move every working order one step; return how many changed."""
        changed = 0
        for order in list(self._orders.values()):
            if order.status.terminal:
                continue
            if self._step(order):
                changed += 1
                self._publish(self._report(order, "stream"))
        return changed

    def _step(self, order: _PaperOrder) -> bool:
        if order.cancel_requested:
            order.status = OrderStatus.CANCELLED
        elif order.behaviour is Behaviour.FILL:
            self._fill(order, order.quantity - order.filled)
        elif order.behaviour is Behaviour.PARTIAL:
            step = (order.quantity / self.config.partial_steps).quantize(Decimal(1), ROUND_DOWN)
            self._fill(order, min(max(step, Decimal(1)), order.quantity - order.filled))
        elif order.behaviour is Behaviour.EXPIRE:
            order.status = OrderStatus.EXPIRED
        elif order.behaviour is Behaviour.CANCEL:
            order.status, order.reason = OrderStatus.CANCELLED, "cancelled by the broker"
        else:
            return False
        order.updated_at = self._clock.now()
        return True

    def _fill(self, order: _PaperOrder, quantity: Decimal) -> None:
        # Later fills move by a cent: a limit order's toward the better side of its limit (a
        # buy never fills above it, a sell never below), a market order's up.
        tick = Decimal("0.01") * (order.filled > 0)
        if order.limited and not order.side.lower().startswith("sell"):
            price = max(order.price - tick, Decimal("0.01"))
        else:
            price = order.price + tick
        order.filled += quantity
        order.cost += quantity * price
        order.status = OrderStatus.FILLED if order.filled >= order.quantity else OrderStatus.PARTIAL

    def _new(
        self,
        client_order_id: str | None,
        instrument: Instrument,
        side: str,
        quantity: Decimal,
        limit: Decimal | None,
        behaviour: Behaviour,
    ) -> _PaperOrder:
        self._next_id += 1
        default = self.config.option_price if instrument.is_option else self.config.stock_price
        order = _PaperOrder(
            id=str(self._next_id),
            client_order_id=client_order_id,
            instrument=instrument,
            side=side,
            quantity=quantity,
            price=limit or default,
            limited=limit is not None,
            behaviour=behaviour,
            updated_at=self._clock.now(),
        )
        self._orders[order.id] = order
        return order

    def _report(self, order: _PaperOrder, source: str) -> OrderReport:
        avg = (order.cost / order.filled).quantize(Decimal("0.0001")) if order.filled else None
        raw = {
            "id": order.id,
            "tag": order.client_order_id,
            "status": order.status.value.lower(),
            "symbol": order.instrument.symbol,
            "option_symbol": order.instrument.option_symbol,
            "side": order.side,
            "quantity": str(order.quantity),
            "exec_quantity": str(order.filled),
            "avg_fill_price": str(avg or 0),
        }
        return OrderReport(
            broker=self.name,
            account_id=self.account_id,
            broker_order_id=order.id,
            client_order_id=order.client_order_id,
            status=order.status,
            broker_status=order.status.value.lower(),
            filled_quantity=order.filled,
            avg_fill_price=avg,
            quantity=order.quantity,
            remaining_quantity=order.quantity - order.filled,
            instrument=order.instrument,
            side=order.side,
            reason=order.reason,
            broker_ts=order.updated_at,
            source=source,
            raw=raw,
        )

    def _publish(self, report: OrderReport) -> None:
        for queue in self._subscribers:
            queue.put_nowait(replace(report, source="stream"))

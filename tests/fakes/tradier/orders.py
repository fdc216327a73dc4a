"""The fake's order: mutable state, fill arithmetic and the views Tradier would show of it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
EIGHT = Decimal("0.00000001")
FINAL = frozenset({"filled", "canceled", "expired", "rejected", "error"})
ADVANCED = frozenset({"oco", "oto", "otoco"})
MULTILEG = frozenset({"multileg", "combo"})


@dataclass(frozen=True)
class Step:
    """One scripted move of an order: `Step.fill(40, "10.00")`, `Step.to("canceled")`."""

    kind: str  # fill, status
    quantity: Decimal | None = None
    price: Decimal | None = None
    status: str | None = None
    reason: str | None = None

    @classmethod
    def fill(cls, quantity: Decimal | int | str, price: Decimal | int | str) -> Step:
        return cls("fill", quantity=Decimal(str(quantity)), price=Decimal(str(price)))

    @classmethod
    def to(cls, status: str, reason: str | None = None) -> Step:
        return cls("status", status=status, reason=reason)


@dataclass
class FakeOrder:
    """One order as the fake keeps it; `legs` are full orders (multileg) or children (OCO...)."""

    id: int
    account: str
    klass: str
    created: datetime
    symbol: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    type: str | None = None
    duration: str | None = None
    price: Decimal | None = None
    stop: Decimal | None = None
    option_symbol: str | None = None
    tag: str | None = None
    status: str = "pending"
    exec_quantity: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    last_fill_quantity: Decimal = ZERO
    reason: str | None = None
    strategy: str | None = None
    changed: datetime | None = None
    parent_id: int | None = None
    legs: list[FakeOrder] = field(default_factory=list)
    script: deque[Step] = field(default_factory=deque)
    lag_reads: int = 0
    lag_exec: Decimal = ZERO
    opens_when_seen: bool = True

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def sparse(self) -> bool:
        return self.klass in ADVANCED

    def touch(self, now: datetime) -> None:
        self.changed = max(now, self.changed or now)

    def add_fill(self, quantity: Decimal, price: Decimal, now: datetime) -> None:
        """Record one execution: cumulative quantity, average, last fill."""
        total = self.exec_quantity + quantity
        average = (self.avg_fill_price * self.exec_quantity + price * quantity) / total
        self.avg_fill_price = average.quantize(EIGHT)
        self.exec_quantity = total
        self.last_fill_price = price
        self.last_fill_quantity = quantity
        if self.quantity is not None and total >= self.quantity:
            self.status = "filled"
        elif not self.finished:
            self.status = "partially_filled"
        self.touch(now)

    def remaining(self) -> Decimal:
        if self.quantity is None or self.status in FINAL:
            return ZERO
        return max(self.quantity - self.exec_quantity, ZERO)

    def view(self, *, tags: bool, lagging: bool = False) -> dict[str, Any]:
        """The order object of a list or GET answer."""
        if self.sparse:
            return self._sparse_view(tags)
        numbers = self._numbers(lagging)
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": _q(self.quantity),
            "status": self.status,
            "duration": self.duration,
        }
        if self.price is not None:
            body["price"] = self.price
        if self.stop is not None:
            body["stop_price"] = self.stop
        body |= numbers
        body["create_date"] = stamp(self.created)
        body["transaction_date"] = stamp(self.changed or self.created)
        body["class"] = self.klass
        if self.option_symbol:
            body["option_symbol"] = self.option_symbol
        if self.reason:
            body["reason_description"] = self.reason
        if tags and self.tag:
            body["tag"] = self.tag
        if self.legs:
            body["num_legs"] = len(self.legs)
            body["strategy"] = self.strategy or "spread"
            body["leg"] = [leg.view(tags=False, lagging=lagging) for leg in self.legs]
        return body

    def event(self, quantity_field: str = "exec_quantity", lagging: bool = False) -> dict[str, Any]:
        """The account-stream event for this order's current state (no symbol, side, class)."""
        numbers = self._numbers(lagging)
        body: dict[str, Any] = {
            "id": self.id,
            "event": "order",
            "status": self.status,
            "type": self.type,
            "price": self.price if self.price is not None else Decimal("0.0"),
            "stop_price": self.stop if self.stop is not None else Decimal("0.0"),
            "avg_fill_price": numbers["avg_fill_price"],
            quantity_field: numbers["exec_quantity"],
            "last_fill_quantity": numbers["last_fill_quantity"],
            "remaining_quantity": numbers["remaining_quantity"],
            "transaction_date": stamp(self.changed or self.created),
            "create_date": stamp(self.created),
            "account": self.account,
        }
        if self.parent_id is not None:
            body["parent_id"] = self.parent_id
        if self.tag:
            body["tag"] = self.tag
        return body

    def _numbers(self, lagging: bool) -> dict[str, Decimal]:
        if lagging:
            return {
                "avg_fill_price": Decimal("0.00000000"),
                "exec_quantity": _q(self.lag_exec),
                "last_fill_price": Decimal("0.00000000"),
                "last_fill_quantity": Decimal("0.00000000"),
                "remaining_quantity": Decimal("0.00000000"),
            }
        return {
            "avg_fill_price": self.avg_fill_price.quantize(EIGHT),
            "exec_quantity": _q(self.exec_quantity),
            "last_fill_price": self.last_fill_price.quantize(EIGHT),
            "last_fill_quantity": _q(self.last_fill_quantity),
            "remaining_quantity": _q(self.remaining()),
        }

    def _sparse_view(self, tags: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "class": self.klass,
            "status": self.status,
            "create_date": stamp(self.created),
            "transaction_date": stamp(self.changed or self.created),
        }
        if tags and self.tag:
            body["tag"] = self.tag
        body["leg"] = [leg.view(tags=tags) for leg in self.legs]
        return body


def stamp(moment: datetime) -> str:
    """Write Tradier's order timestamp: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def heartbeat_stamp(moment: datetime) -> str:
    """Write the heartbeat timestamp: nine fractional digits."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}{utc.microsecond % 7:03d}Z"


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(EIGHT)

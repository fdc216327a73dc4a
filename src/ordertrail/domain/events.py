"""Order events and fills: the immutable audit trail a change leaves behind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ordertrail.domain.status import OrderStatus


class EventKind(StrEnum):
    """What happened to an order."""

    RECORDED = "RECORDED"  # we wrote the order before calling the broker
    ADOPTED = "ADOPTED"  # the broker showed an order we did not place
    ACKNOWLEDGED = "ACKNOWLEDGED"  # the broker gave us its order id
    PLACED = "PLACED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FILL = "FILL"  # one execution recorded
    UPDATED = "UPDATED"  # broker status or numbers changed, canonical status did not
    CANCEL_REQUESTED = "CANCEL_REQUESTED"


STATUS_EVENT: dict[OrderStatus, EventKind] = {
    OrderStatus.PLACED: EventKind.PLACED,
    OrderStatus.PARTIAL: EventKind.PARTIALLY_FILLED,
    OrderStatus.FILLED: EventKind.FILLED,
    OrderStatus.CANCELLED: EventKind.CANCELLED,
    OrderStatus.REJECTED: EventKind.REJECTED,
    OrderStatus.EXPIRED: EventKind.EXPIRED,
    OrderStatus.PENDING: EventKind.RECORDED,
}


@dataclass(frozen=True)
class OrderEvent:
    """One change to one order, with the broker payload that caused it."""

    kind: EventKind
    status_before: OrderStatus | None
    status_after: OrderStatus
    filled_quantity: Decimal
    message: str
    source: str
    avg_fill_price: Decimal | None = None
    broker_status: str | None = None
    broker_ts: datetime | None = None
    payload: Mapping[str, Any] | str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fill:
    """One execution against an order; unique per (broker, account, execution id)."""

    execution_id: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime | None = None
    synthetic: bool = False


def synthetic_execution_id(
    broker: str, account_id: str, broker_order_id: str, cumulative: Decimal
) -> str:
    """Name the fill that brought an order to `cumulative` filled; the same state, the same id."""
    return f"{broker}:{account_id}:{broker_order_id}:{normalise(cumulative)}"


def normalise(value: Decimal) -> str:
    """Write a decimal without exponent or trailing zeros (`50.00000000` → `50`)."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"

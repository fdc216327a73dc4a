"""Reports: what a broker says an order looks like now, normalised; only adapters make them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordertrail.domain.instrument import Instrument
from ordertrail.domain.status import OrderStatus


@dataclass(frozen=True)
class Execution:
    """One execution the broker names with its own id (IBKR trades, TWS execDetails)."""

    execution_id: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime | None = None


@dataclass(frozen=True)
class OrderReport:
    """A broker's view of one order at one moment.

    `None` means "not said" and never zero: a sparse report leaves those fields as they are.
    `derives_fills` is True for brokers without execution ids (Tradier, paper): the domain
    then turns increases of the cumulative `filled_quantity` into fills with deterministic ids.
    Brokers with execution ids set it False and list them in `executions`.
    `legs` describes the legs of a multi-leg parent for display; the parent's net numbers
    are what the apply path uses.
    """

    broker: str
    account_id: str
    broker_order_id: str | None
    status: OrderStatus | None = None
    broker_status: str | None = None
    client_order_id: str | None = None
    filled_quantity: Decimal | None = None
    avg_fill_price: Decimal | None = None
    last_fill_price: Decimal | None = None
    last_fill_quantity: Decimal | None = None
    quantity: Decimal | None = None
    remaining_quantity: Decimal | None = None
    limit_price: Decimal | None = None
    instrument: Instrument | None = None
    side: str | None = None
    order_type: str | None = None
    reason: str | None = None
    executions: tuple[Execution, ...] = ()
    derives_fills: bool = True
    broker_ts: datetime | None = None
    source: str = "poll"
    flags: frozenset[str] = frozenset()
    legs: tuple[OrderReport, ...] = ()
    raw: Mapping[str, Any] | str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, str | None]:
        """Identify the order at its broker."""
        return (self.broker, self.account_id, self.broker_order_id)

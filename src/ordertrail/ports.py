"""Ports: the small protocols adapters implement (the broker, mainly)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalLeg
from ordertrail.domain.report import OrderReport


@dataclass(frozen=True)
class PlaceRequest:
    """An order to place, carrying our client order id."""

    client_order_id: str
    instrument: Instrument
    side: str  # broker side word (buy, sell_to_open, ...); adapters translate
    quantity: Decimal
    order_type: str = "market"  # market, limit, stop, stop_limit, debit, credit, even
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    duration: str = "day"
    legs: tuple[ProposalLeg, ...] = ()
    # Awaited by the adapter right before the request leaves (after any wait for a quota):
    # it raises when the order may no longer be sent (resent or withdrawn meanwhile).
    ready: Callable[[], Awaitable[None]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PlaceResult:
    """The broker took the request: its order id and, if it said, what the order looks like."""

    broker_order_id: str
    report: OrderReport | None = None


@dataclass(frozen=True)
class StreamConnected:
    """The stream is (re)connected and subscribed: time to reconcile what it may have missed."""

    at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class StreamBatch:
    """Reports that arrived together (one websocket frame); apply them in order."""

    reports: tuple[OrderReport, ...] = field(default_factory=tuple)


StreamItem = OrderReport | StreamBatch | StreamConnected


@runtime_checkable
class Broker(Protocol):
    """One account at one broker.

    Errors: `BrokerRejected` when the broker definitely refused, `BrokerUnavailable` when
    the outcome is unknown or transient, `BrokerAuthError` for credentials.
    """

    name: str
    account_id: str

    async def place(self, request: PlaceRequest) -> PlaceResult:
        """Place an order; raise BrokerRejected or BrokerUnavailable."""
        ...

    async def cancel(self, broker_order_id: str) -> None:
        """Ask the broker to cancel; the broker's later report decides the status."""
        ...

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        """Report every order the broker shows for this account since `since` (as far as it can)."""
        ...

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        """Report one order, or None when the broker no longer knows it."""
        ...

    def stream(self) -> AsyncIterator[StreamItem] | None:
        """One streaming session (None if the broker has no stream).

        Yields StreamConnected once subscribed, then reports; it ends or raises when the
        connection drops, and the watcher reconnects with backoff and reconciles.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

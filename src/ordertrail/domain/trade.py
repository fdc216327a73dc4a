"""Trades: the position an ENTRY order opens and an EXIT order closes, with realised P&L."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from ordertrail.domain.copying import changed
from ordertrail.domain.instrument import Instrument

ZERO = Decimal(0)
AVERAGE_PLACES = 10  # an average price several exit orders make is kept to this many decimals
_AVERAGE_STEP = Decimal(1).scaleb(-AVERAGE_PLACES)
_SELL_SIDES = frozenset({"sell", "sell_short", "sell_to_open", "sell_to_close", "sld", "s"})
# The side words a proposal may carry, and whether each buys or sells.
ORDER_ACTIONS: dict[str, str] = {
    "buy": "BUY",
    "buy_to_open": "BUY",
    "buy_to_close": "BUY",
    "buy_to_cover": "BUY",
    "sell": "SELL",
    "sell_to_open": "SELL",
    "sell_to_close": "SELL",
    "sell_short": "SELL",
}


class TradeStatus(StrEnum):
    """OPEN after its ENTRY order fills, CLOSED after its EXIT order fills."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"


class Direction(StrEnum):
    """Whether the ENTRY bought (LONG) or sold (SHORT)."""

    LONG = "LONG"
    SHORT = "SHORT"


def direction_of(side: str | None) -> Direction:
    """Read LONG or SHORT from a broker's side word."""
    return Direction.SHORT if (side or "").lower() in _SELL_SIDES else Direction.LONG


@dataclass(frozen=True)
class Trade:
    """A position's life: quantities, average prices and realised P&L."""

    id: int | None
    status: TradeStatus
    broker: str
    account_id: str
    instrument: Instrument
    direction: Direction
    quantity: Decimal  # opened so far
    entry_price: Decimal | None
    exit_quantity: Decimal = ZERO
    exit_price: Decimal | None = None
    realized_pnl: Decimal | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    broker_order_id_open: str | None = None
    broker_order_id_close: str | None = None

    @property
    def open_quantity(self) -> Decimal:
        return self.quantity - self.exit_quantity


def open_trade(
    *,
    broker: str,
    account_id: str,
    instrument: Instrument,
    side: str | None,
    filled: Decimal,
    avg_price: Decimal | None,
    broker_order_id: str | None,
    at: datetime,
) -> Trade:
    """Open a trade from the first fill of its ENTRY order."""
    return Trade(
        id=None,
        status=TradeStatus.OPEN,
        broker=broker,
        account_id=account_id,
        instrument=instrument,
        direction=direction_of(side),
        quantity=filled,
        entry_price=avg_price,
        opened_at=at,
        broker_order_id_open=broker_order_id,
    )


def entry_filled(trade: Trade, filled: Decimal, avg_price: Decimal | None, at: datetime) -> Trade:
    """Follow more fills of the ENTRY order (the order's cumulative numbers). A trade closed
    while its ENTRY order still worked opens again when that order fills more."""
    updated = changed(trade, quantity=max(trade.quantity, filled), entry_price=avg_price)
    return _settled(changed(updated, realized_pnl=realized_pnl(updated)), at)


def exits_filled(
    trade: Trade,
    exits: Iterable[tuple[Decimal, Decimal | None]],
    broker_order_id: str | None,
    at: datetime,
) -> Trade:
    """Follow the fills of the trade's EXIT orders, every one of them: `exits` holds each
    order's cumulative filled quantity and average price (None while unknown). The trade's
    exit is their sum (at most what was opened) at their volume-weighted price; it is CLOSED
    once the whole position is out, whichever orders took it out."""
    total = priced = value = ZERO
    for quantity, price in exits:
        total += quantity
        if price is not None and quantity > ZERO:
            priced += quantity
            value += quantity * price
    updated = changed(
        trade,
        exit_quantity=min(total, trade.quantity),
        exit_price=_average(value, priced),
        broker_order_id_close=broker_order_id or trade.broker_order_id_close,
    )
    return _settled(changed(updated, realized_pnl=realized_pnl(updated)), at)


def _average(value: Decimal, quantity: Decimal) -> Decimal | None:
    """value / quantity, to `AVERAGE_PLACES` decimals at most (finer than any price a broker
    quotes, and kept exactly by either database)."""
    if quantity <= ZERO:
        return None
    average = value / quantity
    if average.as_tuple().exponent < -AVERAGE_PLACES:  # type: ignore[operator]
        return average.quantize(_AVERAGE_STEP, ROUND_HALF_EVEN)
    return average


def _settled(trade: Trade, at: datetime) -> Trade:
    """CLOSED while nothing of what was opened is left, OPEN otherwise (the quantities say)."""
    if trade.quantity > ZERO and trade.exit_quantity >= trade.quantity:
        if trade.status is TradeStatus.CLOSED:
            return trade
        return changed(trade, status=TradeStatus.CLOSED, closed_at=trade.closed_at or at)
    if trade.status is TradeStatus.OPEN:
        return trade
    return changed(trade, status=TradeStatus.OPEN, closed_at=None)


def realized_pnl(trade: Trade) -> Decimal | None:
    """P&L of the closed part: (exit - entry) x quantity x multiplier, sign by direction.

    Multi-leg net prices come signed from the broker (negative = credit), so for them the
    profit is what was received minus what was paid: -(entry + exit).
    """
    if trade.entry_price is None or trade.exit_price is None or trade.exit_quantity == ZERO:
        return None
    size = trade.exit_quantity * trade.instrument.multiplier
    if trade.instrument.sec_type.value == "MULTILEG":
        return -(trade.entry_price + trade.exit_price) * size
    per_unit = trade.exit_price - trade.entry_price
    if trade.direction is Direction.SHORT:
        per_unit = -per_unit
    return per_unit * size

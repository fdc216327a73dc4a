"""The trades repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ordertrail.domain.trade import Direction, Trade, TradeStatus
from ordertrail.storage.codec import instrument_from_json, instrument_to_json
from ordertrail.storage.tables import trades


def trade_from_row(row: Any) -> Trade:
    """Build the domain trade from a `trades` row."""
    return Trade(
        id=row.id,
        status=TradeStatus(row.status),
        broker=row.broker,
        account_id=row.account_id,
        instrument=instrument_from_json(row.instrument),
        direction=Direction(row.direction),
        quantity=row.quantity,
        entry_price=row.entry_price,
        exit_quantity=row.exit_quantity,
        exit_price=row.exit_price,
        realized_pnl=row.realized_pnl,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        broker_order_id_open=row.broker_order_id_open,
        broker_order_id_close=row.broker_order_id_close,
    )


def _values(trade: Trade) -> dict[str, Any]:
    return {
        "status": trade.status.value,
        "broker": trade.broker,
        "account_id": trade.account_id,
        "symbol": trade.instrument.symbol,
        "instrument": instrument_to_json(trade.instrument),
        "direction": trade.direction.value,
        "quantity": trade.quantity,
        "entry_price": trade.entry_price,
        "exit_quantity": trade.exit_quantity,
        "exit_price": trade.exit_price,
        "realized_pnl": trade.realized_pnl,
        "opened_at": trade.opened_at,
        "closed_at": trade.closed_at,
        "broker_order_id_open": trade.broker_order_id_open,
        "broker_order_id_close": trade.broker_order_id_close,
    }


class TradeRepository:
    """Trades on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, trade_id: int) -> Trade | None:
        row = self._c.execute(select(trades).where(trades.c.id == trade_id)).first()
        return trade_from_row(row) if row else None

    def add(self, trade: Trade, at: datetime) -> int:
        values = _values(trade) | {"created_at": at, "updated_at": at}
        return int(
            self._c.execute(insert(trades).values(**values).returning(trades.c.id)).scalar_one()
        )

    def save(self, trade: Trade, at: datetime) -> None:
        assert trade.id is not None
        values = _values(trade) | {"updated_at": at}
        self._c.execute(update(trades).where(trades.c.id == trade.id).values(**values))

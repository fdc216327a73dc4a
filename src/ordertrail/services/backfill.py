"""Backfill: turn legacy trades' `broker_order_id_open/close` into order rows, idempotently."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from ordertrail.clock import Clock
from ordertrail.domain.order import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import TradeStatus
from ordertrail.storage.codec import instrument_to_json
from ordertrail.storage.orders import state_values
from ordertrail.storage.tables import orders, trades
from ordertrail.storage.trades import trade_from_row
from ordertrail.storage.uow import SqlUnitOfWork, UnitOfWork

Progress = Callable[[int, int], None]


def backfill_legacy_orders(
    uow_factory: Callable[[], UnitOfWork], clock: Clock, progress: Progress | None = None
) -> int:
    """Create the missing ENTRY/EXIT order rows for legacy trades; return how many were created."""
    created = 0
    with uow_factory() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        rows = list(uow.connection.execute(select(trades).order_by(trades.c.id)))
        for done, row in enumerate(rows, start=1):
            trade = trade_from_row(row)
            legs = [("ENTRY", trade.broker_order_id_open, trade.quantity, trade.entry_price)]
            if trade.status is TradeStatus.CLOSED:
                legs.append(
                    ("EXIT", trade.broker_order_id_close, trade.exit_quantity, trade.exit_price)
                )
            for side, broker_id, quantity, price in legs:
                if not broker_id or _exists(uow, trade.broker, trade.account_id, broker_id):
                    continue
                state = OrderState(
                    broker=trade.broker,
                    account_id=trade.account_id,
                    broker_order_id=broker_id,
                    status=OrderStatus.FILLED,
                    filled_quantity=quantity,
                    quantity=quantity,
                    avg_fill_price=price,
                    remaining_quantity=quantity - quantity,
                    broker_status="backfilled",
                )
                now = clock.now()
                uow.orders.add(
                    state_values(state)
                    | {
                        "trade_id": trade.id,
                        "side": side,
                        "external": False,
                        "symbol": trade.instrument.symbol,
                        "option_symbol": trade.instrument.option_symbol,
                        "instrument": instrument_to_json(trade.instrument),
                        "event_seq": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                created += 1
            if progress is not None:
                progress(done, len(rows))
        uow.commit()
    return created


def _exists(uow: SqlUnitOfWork, broker: str, account_id: str, broker_id: str) -> bool:
    query = select(orders.c.id).where(
        orders.c.broker == broker,
        orders.c.account_id == account_id,
        orders.c.broker_order_id == broker_id,
    )
    return uow.connection.execute(query).first() is not None

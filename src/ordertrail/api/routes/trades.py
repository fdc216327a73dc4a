"""Trades: open and closed positions with their prices and realised P&L."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from ordertrail.api.deps import Before, ConnectionDep, Filter, IdPath, Limit
from ordertrail.api.schemas import TradeDetailPublic, TradesPublic
from ordertrail.services.listings import get_trade, list_trades

router = APIRouter(prefix="/api/trades", tags=["trades"])


@router.get("", response_model=TradesPublic)
def read_trades(
    connection: ConnectionDep,
    status: Literal["OPEN", "CLOSED"] | None = None,
    symbol: Filter = None,
    before: Before = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """List trades newest first, optionally only OPEN or CLOSED ones."""
    page = list_trades(connection, status, symbol, before, limit)
    return {"data": page.rows, "count": len(page.rows), "next_before": page.next_before}


@router.get("/{trade_id}", response_model=TradeDetailPublic)
def read_trade(trade_id: IdPath, connection: ConnectionDep) -> dict[str, Any]:
    """Show one trade with the orders that opened and closed it."""
    return get_trade(connection, trade_id)

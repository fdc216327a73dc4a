"""Read side for the Proposals & Orders board: one row per proposal with its order and trade."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, func, select

from ordertrail.domain.lifecycle import lifecycle_text
from ordertrail.domain.proposal import ProposalKind, ProposalStatus
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import TradeStatus
from ordertrail.services.queries import iso, money
from ordertrail.storage.tables import orders, proposals, trades

_ORDER_COLUMNS = (
    "id",
    "status",
    "side",
    "broker_status",
    "avg_fill_price",
    "broker_order_id",
    "client_order_id",
    "filled_quantity",
    "remaining_quantity",
    "quantity",
    "reason",
    "updated_at",
)
_TRADE_COLUMNS = (
    "id",
    "status",
    "quantity",
    "entry_price",
    "exit_quantity",
    "exit_price",
    "realized_pnl",
)


@dataclass(frozen=True)
class BoardFilter:
    """Which proposals to show, newest first; `before` is the keyset cursor (a proposal id)."""

    kind: ProposalKind | None = None
    proposal_status: ProposalStatus | None = None
    order_status: OrderStatus | None = None
    symbol: str | None = None
    broker: str | None = None
    account_id: str | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursor for the next (None on the last page)."""

    rows: list[dict[str, Any]]
    next_before: int | None


def _board_query() -> Select[Any]:
    order_cols = [orders.c[name].label(f"o_{name}") for name in _ORDER_COLUMNS]
    trade_cols = [trades.c[name].label(f"t_{name}") for name in _TRADE_COLUMNS]
    trade_id = func.coalesce(orders.c.trade_id, proposals.c.linked_trade_id)
    joined = proposals.outerjoin(orders, orders.c.proposal_id == proposals.c.id).outerjoin(
        trades, trades.c.id == trade_id
    )
    return select(proposals, *order_cols, *trade_cols).select_from(joined)


def proposals_and_orders(connection: Connection, board: BoardFilter) -> Page:
    """List proposals with their order, lifecycle text and linked trade, in one query."""
    query = _board_query()
    if board.kind is not None:
        query = query.where(proposals.c.kind == board.kind.value)
    if board.proposal_status is not None:
        query = query.where(proposals.c.status == board.proposal_status.value)
    if board.order_status is not None:
        query = query.where(orders.c.status == board.order_status.value)
    if board.symbol:
        query = query.where(proposals.c.symbol == board.symbol.upper())
    if board.broker:
        query = query.where(proposals.c.broker == board.broker)
    if board.account_id:
        query = query.where(proposals.c.account_id == board.account_id)
    if board.before is not None:
        query = query.where(proposals.c.id < board.before)
    query = query.order_by(proposals.c.id.desc()).limit(board.limit + 1)
    found = list(connection.execute(query))
    rows = [board_row(row) for row in found[: board.limit]]
    more = len(found) > board.limit
    return Page(rows, rows[-1]["id"] if more and rows else None)


def proposal_row(connection: Connection, proposal_id: int) -> dict[str, Any] | None:
    """One proposal as a board row, or None."""
    row = connection.execute(_board_query().where(proposals.c.id == proposal_id)).first()
    return board_row(row) if row is not None else None


def proposal_rows(connection: Connection, proposal_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Proposals as board rows, by id (one query; those that do not exist are left out)."""
    wanted = sorted(set(proposal_ids))
    if not wanted:
        return []
    query = _board_query().where(proposals.c.id.in_(wanted)).order_by(proposals.c.id)
    return [board_row(row) for row in connection.execute(query)]


def board_row(row: Any) -> dict[str, Any]:
    """Turn one joined row into the board's JSON (camelCase, decimals as strings)."""
    r = row._mapping
    kind = ProposalKind(r["kind"])
    order = _order(r)
    trade = _trade(r)
    status = OrderStatus(r["o_status"]) if r["o_id"] is not None else None
    quantity: Decimal = r["o_quantity"] if r["o_quantity"] is not None else r["quantity"]
    lifecycle = lifecycle_text(
        kind,
        status,
        filled=r["o_filled_quantity"] if r["o_id"] is not None else Decimal(0),
        quantity=quantity,
        trade_status=TradeStatus(r["t_status"]) if r["t_id"] is not None else None,
        reason=r["o_reason"],
        cancelled_proposal=r["status"] == ProposalStatus.CANCELLED.value,
    )
    instrument = r["instrument"] or {}
    return {
        "id": r["id"],
        "proposalKind": kind.value,
        "proposalStatus": r["status"],
        "broker": r["broker"],
        "accountId": r["account_id"],
        "symbol": r["symbol"],
        "optionSymbol": instrument.get("option_symbol"),
        "strike": instrument.get("strike"),
        "right": instrument.get("right"),
        "expiry": instrument.get("expiry"),
        "side": r["side"],
        "quantity": money(r["quantity"]),
        "orderType": r["order_type"],
        "limitPrice": money(r["limit_price"]),
        "linkedTradeId": r["linked_trade_id"],
        "clientOrderId": r["client_order_id"],
        "note": r["note"],
        "createdAt": iso(r["created_at"]),
        "updatedAt": iso(r["updated_at"]),
        "order": order,
        "lifecycleStatus": lifecycle,
        "trade": trade,
    }


def _order(r: Any) -> dict[str, Any] | None:
    if r["o_id"] is None:
        return None
    return {
        "id": r["o_id"],
        "status": r["o_status"],
        "side": r["o_side"],
        "brokerStatus": r["o_broker_status"],
        "avgFillPrice": money(r["o_avg_fill_price"]),
        "brokerOrderId": r["o_broker_order_id"],
        "clientOrderId": r["o_client_order_id"],
        "filledQuantity": money(r["o_filled_quantity"]),
        "remainingQuantity": money(r["o_remaining_quantity"]),
        "quantity": money(r["o_quantity"]),
        "reason": r["o_reason"],
        "updatedAt": iso(r["o_updated_at"]),
    }


def _trade(r: Any) -> dict[str, Any] | None:
    if r["t_id"] is None:
        return None
    return {
        "id": r["t_id"],
        "status": r["t_status"],
        "quantity": money(r["t_quantity"]),
        "entryPrice": money(r["t_entry_price"]),
        "exitQuantity": money(r["t_exit_quantity"]),
        "exitPrice": money(r["t_exit_price"]),
        "realizedPnl": money(r["t_realized_pnl"]),
    }

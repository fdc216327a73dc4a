"""Read side for Debug Orders: every broker order, what it maps to, and what looks wrong."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import Connection, select

from ordertrail.services.queries import iso, money
from ordertrail.services.views import Page
from ordertrail.storage.tables import alerts, fills, orders, proposals, trades
from ordertrail.storage.types import tidy

WORKING = ("PENDING", "PLACED", "PARTIAL")
PRICE_TOLERANCE = Decimal("0.005")
Flag = Literal["unmatched", "ambiguous", "quantity_mismatch", "price_mismatch", "stale", "missing"]
FLAGS: tuple[str, ...] = get_args(Flag)
_SCAN = 500


@dataclass(frozen=True)
class DebugFilter:
    """Which broker orders to show, newest first; `before` is the keyset cursor (an order id)."""

    flagged_only: bool = False
    flag: str | None = None
    broker: str | None = None
    account_id: str | None = None
    before: int | None = None
    limit: int = 200
    stale_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class _FillSum:
    count: int = 0
    quantity: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)


def broker_orders(connection: Connection, wanted: DebugFilter, now: datetime) -> Page:
    """List orders with their proposal, trade, alerts and flags (three queries a batch)."""
    rows: list[dict[str, Any]] = []
    before = wanted.before
    scan = _SCAN if (wanted.flagged_only or wanted.flag) else wanted.limit + 1
    while len(rows) <= wanted.limit:
        found = list(connection.execute(_query(wanted, before).limit(scan)))
        described = _describe(connection, found, wanted, now) if found else []
        rows.extend(row for row in described if _wanted(row, wanted))
        if len(found) < scan:
            break
        before = found[-1]._mapping["id"]
    more = len(rows) > wanted.limit
    rows = rows[: wanted.limit]
    return Page(rows, rows[-1]["order_id"] if more and rows else None)


def _wanted(row: Mapping[str, Any], wanted: DebugFilter) -> bool:
    if wanted.flag is not None:
        return wanted.flag in row["flags"]
    return bool(row["flags"]) or not wanted.flagged_only


def _query(wanted: DebugFilter, before: int | None) -> Any:
    joined = orders.outerjoin(proposals, proposals.c.id == orders.c.proposal_id).outerjoin(
        trades, trades.c.id == orders.c.trade_id
    )
    query = select(
        orders,
        proposals.c.kind.label("p_kind"),
        proposals.c.status.label("p_status"),
        trades.c.status.label("t_status"),
    ).select_from(joined)
    if wanted.broker:
        query = query.where(orders.c.broker == wanted.broker)
    if wanted.account_id:
        query = query.where(orders.c.account_id == wanted.account_id)
    if before is not None:
        query = query.where(orders.c.id < before)
    return query.order_by(orders.c.id.desc())


def _describe(
    connection: Connection, found: list[Any], wanted: DebugFilter, now: datetime
) -> list[dict[str, Any]]:
    ids = [row._mapping["id"] for row in found]
    sums = _fill_sums(connection, ids)
    alert_ids = {i for row in found for i in _alert_ids(row._mapping["alert_match"])}
    alert_rows = _alerts(connection, alert_ids)
    return [
        _row(row._mapping, sums.get(row._mapping["id"], _FillSum()), alert_rows, wanted, now)
        for row in found
    ]


def _fill_sums(connection: Connection, ids: list[int]) -> dict[int, _FillSum]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    query = select(fills.c.order_id, fills.c.quantity, fills.c.price)
    for row in connection.execute(query.where(fills.c.order_id.in_(ids))):
        grouped[row.order_id].append(row)
    return {
        order_id: _FillSum(
            count=len(rows),
            quantity=sum((r.quantity for r in rows), Decimal(0)),
            notional=sum((r.quantity * r.price for r in rows), Decimal(0)),
        )
        for order_id, rows in grouped.items()
    }


def _alert_ids(match: Any) -> set[int]:
    if not isinstance(match, Mapping):
        return set()
    found: set[int] = set()
    for key in ("matched", "candidates"):
        found.update(i for i in match.get(key) or () if isinstance(i, int))
    return found


def _alerts(connection: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    query = select(alerts.c.id, alerts.c.source, alerts.c.key, alerts.c.symbol, alerts.c.open)
    return {
        row.id: {
            "id": row.id,
            "source": row.source,
            "key": row.key,
            "symbol": row.symbol,
            "open": bool(row.open),
        }
        for row in connection.execute(query.where(alerts.c.id.in_(wanted)))
    }


def _row(
    r: Mapping[str, Any],
    sums: _FillSum,
    alert_rows: Mapping[int, dict[str, Any]],
    wanted: DebugFilter,
    now: datetime,
) -> dict[str, Any]:
    match = r["alert_match"] if isinstance(r["alert_match"], Mapping) else {}
    matched = set(match.get("matched") or ())
    linked = [
        alert_rows[i] | {"matched": i in matched}
        for i in sorted(_alert_ids(match))
        if i in alert_rows
    ]
    vwap = sums.notional / sums.quantity if sums.quantity else None
    return {
        "order_id": r["id"],
        "broker": r["broker"],
        "account_id": r["account_id"],
        "broker_order_id": r["broker_order_id"],
        "client_order_id": r["client_order_id"],
        "external": bool(r["external"]),
        "status": r["status"],
        "broker_status": r["broker_status"],
        "symbol": r["symbol"],
        "option_symbol": r["option_symbol"],
        "side": r["side"],
        "broker_side": r["broker_side"],
        "quantity": money(r["quantity"]),
        "filled_quantity": money(r["filled_quantity"]),
        "remaining_quantity": money(r["remaining_quantity"]),
        "avg_fill_price": money(r["avg_fill_price"]),
        "fills_count": sums.count,
        "fills_quantity": money(sums.quantity),
        "fills_avg_price": money(tidy(vwap.quantize(Decimal("0.000001"))) if vwap else None),
        "last_broker_ts": iso(r["last_broker_ts"]),
        "updated_at": iso(r["updated_at"]),
        "proposal": _link(r["proposal_id"], kind=r["p_kind"], status=r["p_status"]),
        "trade": _link(r["trade_id"], status=r["t_status"]),
        "alerts": linked,
        "ambiguous_sources": [str(s) for s in match.get("ambiguous") or ()],
        "flags": flags_for(r, sums, bool(match.get("ambiguous")), now - wanted.stale_after),
        "order_flags": list(r["flags"] or ()),
    }


def _link(link_id: int | None, **values: Any) -> dict[str, Any] | None:
    return None if link_id is None else {"id": link_id, **values}


def flags_for(r: Mapping[str, Any], sums: _FillSum, ambiguous: bool, cutoff: datetime) -> list[str]:
    """Say what looks wrong with one order: the names in `FLAGS`."""
    found: list[str] = []
    if r["external"]:
        found.append("unmatched")
    if ambiguous:
        found.append("ambiguous")
    filled: Decimal = r["filled_quantity"]
    quantity: Decimal | None = r["quantity"]
    remaining: Decimal | None = r["remaining_quantity"]
    working = r["status"] in WORKING
    if (
        (sums.count and sums.quantity != filled)
        or (filled > 0 and not sums.count)
        or (quantity is not None and filled > quantity)
        or (
            working
            and quantity is not None
            and remaining is not None
            and filled + remaining != quantity
        )
    ):
        found.append("quantity_mismatch")
    avg: Decimal | None = r["avg_fill_price"]
    if filled > 0 and (
        avg is None
        or (sums.quantity and abs(sums.notional / sums.quantity - avg) > PRICE_TOLERANCE)
    ):
        found.append("price_mismatch")
    seen = r["last_broker_ts"] or r["updated_at"]
    if working and seen is not None and seen < cutoff:
        found.append("stale")
    if "missing" in (r["flags"] or ()):
        found.append("missing")
    return found

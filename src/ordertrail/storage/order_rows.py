"""Order rows and domain orders: decoding rows (typed or raw) and the columns a change writes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Row

from ordertrail.domain.copying import built
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.order import Order, OrderState, Placement
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.status import OrderStatus
from ordertrail.storage.codec import instrument_from_json, instrument_to_json
from ordertrail.storage.tables import orders
from ordertrail.storage.types import _TIDIED, Codec, dump_json, read_datetime, read_money

COLUMNS = tuple(column.name for column in orders.columns)
_STATUS = {status.value: status for status in OrderStatus}  # faster than OrderStatus(text)
_NO_FLAGS: frozenset[str] = frozenset()
# Positions in `COLUMNS`: raw rows are read by index (a named lookup costs far more).
(
    _ID, _BROKER, _ACCOUNT, _BROKER_ID, _CLIENT_ID, _PROPOSAL, _TRADE, _SIDE, _PLACEMENT,
    _EXTERNAL, _STATUS_AT, _BROKER_STATUS, _SYMBOL, _OPTION_SYMBOL, _WHAT, _BROKER_SIDE, _TYPE,
    _QUANTITY, _FILLED, _REMAINING, _AVG, _LIMIT, _REASON, _FLAGS, _MATCH, _SEQ, _LAST_TS,
    _SEEN, _CREATED, _UPDATED, _FILLS_QUANTITY, _FILLS_VALUE,
) = (COLUMNS.index(name) for name in (
    "id", "broker", "account_id", "broker_order_id", "client_order_id", "proposal_id",
    "trade_id", "side", "placement", "external", "status", "broker_status", "symbol",
    "option_symbol", "instrument", "broker_side", "order_type", "quantity", "filled_quantity",
    "remaining_quantity", "avg_fill_price", "limit_price", "reason", "flags", "alert_match",
    "event_seq", "last_broker_ts", "last_seen_at", "created_at", "updated_at", "fills_quantity",
    "fills_value",
))  # fmt: skip


def order_from_row(row: Row[Any] | Mapping[str, Any]) -> Order:
    """Build the domain order from an `orders` row."""
    r = row._mapping if isinstance(row, Row) else row
    state = OrderState(
        broker=r["broker"],
        account_id=r["account_id"],
        broker_order_id=r["broker_order_id"],
        status=OrderStatus(r["status"]),
        broker_status=r["broker_status"],
        filled_quantity=r["filled_quantity"],
        avg_fill_price=r["avg_fill_price"],
        quantity=r["quantity"],
        remaining_quantity=r["remaining_quantity"],
        limit_price=r["limit_price"],
        reason=r["reason"],
        last_broker_ts=r["last_broker_ts"],
        flags=frozenset(r["flags"] or ()),
    )
    return Order(
        id=r["id"],
        state=state,
        external=r["external"],
        client_order_id=r["client_order_id"],
        proposal_id=r["proposal_id"],
        trade_id=r["trade_id"],
        side=ProposalKind(r["side"]) if r["side"] else None,
        placement=Placement(r["placement"]) if r["placement"] else None,
        instrument=instrument_from_json(r["instrument"]) if r["instrument"] else None,
        broker_side=r["broker_side"],
        order_type=r["order_type"],
        event_seq=r["event_seq"],
        alert_match=r["alert_match"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        fills_quantity=r["fills_quantity"],
        fills_value=r["fills_value"],
    )


# What the apply path reads first: enough to find the orders and to tell unchanged reports.
LEAN = (
    "id", "broker", "account_id", "broker_order_id", "client_order_id", "external", "trade_id",
    "status", "broker_status", "filled_quantity", "avg_fill_price", "quantity",
    "remaining_quantity", "limit_price", "reason", "flags", "fills_quantity", "fills_value",
)  # fmt: skip


_LEAN_AT = tuple(COLUMNS.index(name) for name in LEAN)
_LEAN_FILLS = LEAN.index("fills_quantity")
# Amounts in LEAN rows are text on both databases: `stored_state` reads each distinct one once.
MONEY = frozenset({"filled_quantity", "avg_fill_price", "quantity", "remaining_quantity",
                   "limit_price", "fills_quantity", "fills_value"})  # fmt: skip


def lean_of(row: Sequence[Any]) -> tuple[Any, ...]:
    """The `LEAN` part of a full raw row."""
    return tuple(row[i] for i in _LEAN_AT)


class StoredState(NamedTuple):
    """The state of a stored order as `repeats` reads it, decoded from a `LEAN` row."""

    broker_order_id: str | None
    status: OrderStatus
    broker_status: str | None
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    quantity: Decimal | None
    remaining_quantity: Decimal | None
    limit_price: Decimal | None
    reason: str | None
    flags: frozenset[str]


def stored_state(row: Sequence[Any]) -> StoredState:
    """Decode the state columns of a `LEAN` row (the hot path of polls: kept lean)."""
    (_, _, _, broker_id, _, _, _, status, broker_status, filled, avg, quantity, remaining,
     limit, reason, flags, _, _) = row  # fmt: skip
    tidied = _TIDIED.get
    values = (
        broker_id,
        _STATUS[status],
        broker_status,
        tidied(filled) or read_money(filled),
        tidied(avg) or read_money(avg),
        tidied(quantity) or read_money(quantity),
        tidied(remaining) or read_money(remaining),
        tidied(limit) or read_money(limit),
        reason,
        frozenset(json.loads(flags) or ()) if flags != "[]" else _NO_FLAGS,
    )
    return tuple.__new__(StoredState, values)  # the NamedTuple without its Python-level __new__


def identity(row: Sequence[Any]) -> tuple[int, str, str, str | None, str | None, bool]:
    """A `LEAN` row's id, broker, account, broker order id, client order id and external flag."""
    order_id, broker, account_id, broker_id, client_id, external = row[:6]
    return order_id, broker, account_id, broker_id, client_id, bool(external)


def trade_of(row: Sequence[Any]) -> int | None:
    """A `LEAN` row's trade id."""
    trade_id: int | None = row[6]
    return trade_id


def fill_totals(row: Sequence[Any]) -> tuple[Decimal, Decimal]:
    """A `LEAN` row's totals of the order's fills: quantity, and quantity x price."""
    quantity, value = read_money(row[_LEAN_FILLS]), read_money(row[_LEAN_FILLS + 1])
    assert quantity is not None and value is not None
    return quantity, value


def symbols_of(row: Sequence[Any]) -> tuple[str | None, str | None]:
    """A full raw row's symbol and option symbol columns."""
    return row[_SYMBOL], row[_OPTION_SYMBOL]


def state_from_raw(row: Sequence[Any]) -> OrderState:
    """Decode the state columns of a raw row (`COLUMNS` order, as `load_for_reports` reads)."""
    flags = row[_FLAGS]
    return built(
        OrderState,
        broker=row[_BROKER],
        account_id=row[_ACCOUNT],
        broker_order_id=row[_BROKER_ID],
        status=_STATUS[row[_STATUS_AT]],
        broker_status=row[_BROKER_STATUS],
        filled_quantity=read_money(row[_FILLED]),
        avg_fill_price=read_money(row[_AVG]),
        quantity=read_money(row[_QUANTITY]),
        remaining_quantity=read_money(row[_REMAINING]),
        limit_price=read_money(row[_LIMIT]),
        reason=row[_REASON],
        last_broker_ts=read_datetime(row[_LAST_TS]),
        flags=frozenset(json.loads(flags) or ()) if flags != "[]" else _NO_FLAGS,
    )


def order_from_raw(row: Sequence[Any], state: OrderState) -> Order:
    """Decode the rest of a raw row around its already decoded state."""
    side, placement, instrument, alert_match = row[_SIDE], row[_PLACEMENT], row[_WHAT], row[_MATCH]
    return built(
        Order,
        id=row[_ID],
        state=state,
        external=bool(row[_EXTERNAL]),
        client_order_id=row[_CLIENT_ID],
        proposal_id=row[_PROPOSAL],
        trade_id=row[_TRADE],
        side=ProposalKind(side) if side else None,
        placement=Placement(placement) if placement else None,
        instrument=_instrument(instrument) if instrument else None,
        broker_side=row[_BROKER_SIDE],
        order_type=row[_TYPE],
        event_seq=row[_SEQ],
        alert_match=json.loads(alert_match) if alert_match is not None else None,
        created_at=read_datetime(row[_CREATED]),
        updated_at=read_datetime(row[_UPDATED]),
        fills_quantity=read_money(row[_FILLS_QUANTITY]),
        fills_value=read_money(row[_FILLS_VALUE]),
    )


def _instrument(text: str) -> Instrument:
    """Decode a stored instrument, once per distinct text (instruments are immutable: the
    same orders are read poll after poll)."""
    known = _INSTRUMENTS.get(text)
    if known is None:
        if len(_INSTRUMENTS) >= 4096:
            _INSTRUMENTS.clear()
        known = _INSTRUMENTS[text] = instrument_from_json(json.loads(text))
    return known


_INSTRUMENTS: dict[str, Instrument] = {}


def state_values(state: OrderState) -> dict[str, Any]:
    """The columns an OrderState owns."""
    return {
        "broker": state.broker,
        "account_id": state.account_id,
        "broker_order_id": state.broker_order_id,
        "status": state.status.value,
        "broker_status": state.broker_status,
        "filled_quantity": state.filled_quantity,
        "avg_fill_price": state.avg_fill_price,
        "quantity": state.quantity,
        "remaining_quantity": state.remaining_quantity,
        "limit_price": state.limit_price,
        "reason": state.reason,
        "last_broker_ts": state.last_broker_ts,
        "flags": sorted(state.flags),
    }


def update_values(order: Order, at: datetime) -> dict[str, Any]:
    """Every column `save_state` writes for an order (before `extra`)."""
    values = state_values(order.state) | {
        "trade_id": order.trade_id,
        "event_seq": order.event_seq,
        "alert_match": order.alert_match,
        "placement": order.placement.value if order.placement else None,
        "updated_at": at,
        "fills_quantity": order.fills_quantity,
        "fills_value": order.fills_value,
    }
    if order.instrument is not None:
        values["instrument"] = instrument_to_json(order.instrument)
        values["symbol"] = order.instrument.symbol
        values["option_symbol"] = order.instrument.option_symbol
    return values


def differences(before: Order, after: Order, codec: Codec) -> tuple[list[str], list[Any]]:
    """The columns `save_state` would write whose values differ from `before`, driver-native.

    Leaving equal values alone keeps the row as `save_state` leaves it (decimals compare by
    value and read back tidied) and spares SQLite the upkeep of indexes on unchanged columns.
    """
    names: list[str] = []
    values: list[Any] = []
    b, a = before.state, after.state
    money, when = codec.money, codec.when
    for name, old, new in (
        ("broker", b.broker, a.broker),
        ("account_id", b.account_id, a.account_id),
        ("broker_order_id", b.broker_order_id, a.broker_order_id),
        ("broker_status", b.broker_status, a.broker_status),
        ("reason", b.reason, a.reason),
        ("trade_id", before.trade_id, after.trade_id),
        ("event_seq", before.event_seq, after.event_seq),
    ):
        if new != old:
            names.append(name)
            values.append(new)
    if a.status is not b.status:
        names.append("status")
        values.append(a.status._value_)  # the plain attribute behind the `value` property
    for name, old_money, new_money in (
        ("filled_quantity", b.filled_quantity, a.filled_quantity),
        ("avg_fill_price", b.avg_fill_price, a.avg_fill_price),
        ("quantity", b.quantity, a.quantity),
        ("remaining_quantity", b.remaining_quantity, a.remaining_quantity),
        ("limit_price", b.limit_price, a.limit_price),
        ("fills_quantity", before.fills_quantity, after.fills_quantity),
        ("fills_value", before.fills_value, after.fills_value),
    ):
        if new_money != old_money:
            names.append(name)
            values.append(money(new_money))
    if a.last_broker_ts != b.last_broker_ts:
        names.append("last_broker_ts")
        values.append(when(a.last_broker_ts))
    if a.flags != b.flags:
        names.append("flags")
        values.append(dump_json(sorted(a.flags)))
    if after.alert_match != before.alert_match:
        names.append("alert_match")
        values.append(dump_json(after.alert_match))
    if after.placement is not before.placement:
        names.append("placement")
        values.append(after.placement.value if after.placement else None)
    what = after.instrument
    if what is not None and what != before.instrument:
        names += ["instrument", "symbol", "option_symbol"]
        values += [dump_json(instrument_to_json(what)), what.symbol, what.option_symbol]
    return names, values

"""A busy account's day: proposals, orders, trades and alerts, and the broker's reports.

Every order is one of ours (ENTRY or EXIT, with its proposal, recorded PENDING before the broker
was called) or placed by hand at the broker (adopted as external). Its reports are Tradier order
objects, as the list and the stream carry them, turned into reports by the real parser: working,
partially filled, filled, cancelled (with or without fills), with duplicates as streams send them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from ordertrail.brokers.tradier.parsing import parse_order_dict
from ordertrail.domain.instrument import occ_symbol
from ordertrail.domain.report import OrderReport
from ordertrail.storage.tables import alerts, order_events, orders, proposals, trades

ACCOUNT = "VA000001"
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
ROOTS = [
    "AAPL", "AMD", "AMZN", "BA", "COIN", "DIS", "GOOG", "IWM", "META", "MSFT",
    "NFLX", "NVDA", "PLTR", "QQQ", "SHOP", "SMCI", "SPY", "TSLA", "UBER", "XOM",
]  # fmt: skip
SOURCES = ("RealDayTrading", "Demslayer")
EXPIRY = date(2026, 3, 20)
EIGHT = Decimal("0.00000001")


@dataclass
class PlannedOrder:
    """One order's identity and the path its broker reports take."""

    broker_id: int
    kind: str  # ENTRY, EXIT or EXTERNAL
    root: str
    option_symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    tag: str | None
    path: list[tuple[str, Decimal]] = field(default_factory=list)  # (status, cumulative filled)


@dataclass
class Workload:
    """What was seeded and the reports to apply, in arrival order."""

    orders: list[PlannedOrder]
    reports: list[OrderReport]
    seeded_orders: int


def _strike(rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(20, 400))


def _path(rng: random.Random, quantity: Decimal) -> list[tuple[str, Decimal]]:
    """A realistic life: working, then fills and/or a cancel."""
    half = (quantity / 2).to_integral_value()
    roll = rng.random()
    if roll < 0.45:
        return [("open", Decimal(0)), ("partially_filled", half), ("filled", quantity)]
    if roll < 0.70:
        return [("open", Decimal(0)), ("filled", quantity)]
    if roll < 0.85:
        return [("open", Decimal(0)), ("partially_filled", half), ("canceled", half)]
    return [("open", Decimal(0)), ("canceled", Decimal(0))]


def plan(size: int, seed: int = 7) -> list[PlannedOrder]:
    """Plan `size` orders: 60% ENTRY, 25% EXIT of an open trade, 15% placed by hand."""
    rng = random.Random(seed)
    planned = []
    for index in range(size):
        roll = rng.random()
        kind = "ENTRY" if roll < 0.60 else "EXIT" if roll < 0.85 else "EXTERNAL"
        root = ROOTS[index % len(ROOTS)]
        strike = _strike(rng)
        right = "C" if rng.random() < 0.6 else "P"
        quantity = Decimal(rng.choice((2, 4, 6, 10)))
        side = "sell_to_close" if kind == "EXIT" else "buy_to_open"
        planned.append(
            PlannedOrder(
                broker_id=100_000_000 + index,
                kind=kind,
                root=root,
                option_symbol=occ_symbol(root, EXPIRY, right, strike),
                side=side,
                quantity=quantity,
                price=Decimal(rng.randrange(50, 900)) / 100,
                tag=None if kind == "EXTERNAL" else f"ordertrail-{index + 1}-{kind}-20260302T1430Z",
                path=_path(rng, quantity),
            )
        )
    return planned


def seed(engine: Engine, planned: list[PlannedOrder]) -> int:
    """Write the alerts, the open trades EXIT orders close, and our proposals and orders."""
    now = START - timedelta(minutes=5)
    alert_rows = [
        {
            "source": source,
            "key": root,
            "symbol": root,
            "open": False,
            "strike": None,
            "right": None,
            "expiry": None,
            "contract_id": None,
            "document": {"open": False, "alert_details": {"ticker": root}},
            "last_order_update": None,
            "created_at": now,
            "updated_at": now,
        }
        for source in SOURCES
        for root in ROOTS[: len(ROOTS) // (2 if source == SOURCES[1] else 1)]
    ]
    ours = [(index, p) for index, p in enumerate(planned) if p.tag is not None]
    exits = [(index, p) for index, p in ours if p.kind == "EXIT"]
    with engine.begin() as connection:
        connection.execute(insert(alerts), alert_rows)
        trade_ids: dict[int, int] = {}
        if exits:
            connection.execute(insert(trades), [_open_trade(p, now) for _, p in exits])
            first = connection.exec_driver_sql("SELECT min(id) FROM trades").scalar() or 1
            trade_ids = {index: first + n for n, (index, _) in enumerate(exits)}
        connection.execute(
            insert(proposals),
            [_proposal(index, p, trade_ids.get(index), now) for index, p in ours],
        )
        connection.execute(
            insert(orders), [_order(index, p, trade_ids.get(index), now) for index, p in ours]
        )
        first_order = connection.exec_driver_sql("SELECT min(id) FROM orders").scalar() or 1
        connection.execute(
            insert(order_events),
            [_recorded(first_order + n, p, now) for n, (_, p) in enumerate(ours)],
        )
    if engine.dialect.name == "postgresql":  # the statistics a live database has by now
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    return len(ours)


def _instrument(p: PlannedOrder) -> dict[str, Any]:
    right = p.option_symbol[-9]
    strike = Decimal(p.option_symbol[-8:]) / 1000
    return {
        "symbol": p.root,
        "sec_type": "OPT",
        "option_symbol": p.option_symbol,
        "strike": format(strike.normalize(), "f"),
        "right": right,
        "expiry": EXPIRY.isoformat(),
        "contract_id": None,
        "multiplier": "100",
    }


def _open_trade(p: PlannedOrder, now: datetime) -> dict[str, Any]:
    return {
        "status": "OPEN",
        "broker": "tradier",
        "account_id": ACCOUNT,
        "symbol": p.root,
        "instrument": _instrument(p),
        "direction": "LONG",
        "quantity": p.quantity,
        "entry_price": p.price,
        "exit_quantity": Decimal(0),
        "exit_price": None,
        "realized_pnl": None,
        "opened_at": now,
        "closed_at": None,
        "broker_order_id_open": None,
        "broker_order_id_close": None,
        "created_at": now,
        "updated_at": now,
    }


def _proposal(index: int, p: PlannedOrder, trade_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "id": index + 1,
        "kind": p.kind,
        "status": "SUBMITTED",
        "broker": "tradier",
        "account_id": ACCOUNT,
        "symbol": p.root,
        "instrument": _instrument(p),
        "legs": [],
        "side": p.side,
        "quantity": p.quantity,
        "order_type": "limit",
        "limit_price": p.price,
        "duration": "day",
        "linked_trade_id": trade_id,
        "client_order_id": p.tag,
        "note": None,
        "created_at": now,
        "updated_at": now,
    }


def _order(index: int, p: PlannedOrder, trade_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "broker": "tradier",
        "account_id": ACCOUNT,
        "broker_order_id": None,
        "client_order_id": p.tag,
        "proposal_id": index + 1,
        "trade_id": trade_id,
        "side": p.kind,
        "placement": "sent",
        "external": False,
        "status": "PENDING",
        "broker_status": None,
        "symbol": p.root,
        "option_symbol": p.option_symbol,
        "instrument": _instrument(p),
        "broker_side": p.side,
        "order_type": "limit",
        "quantity": p.quantity,
        "filled_quantity": Decimal(0),
        "remaining_quantity": p.quantity,
        "avg_fill_price": None,
        "limit_price": p.price,
        "reason": None,
        "flags": [],
        "alert_match": None,
        "event_seq": 1,
        "last_broker_ts": None,
        "last_seen_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _recorded(order_id: int, p: PlannedOrder, now: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "seq": 1,
        "kind": "RECORDED",
        "status_before": None,
        "status_after": "PENDING",
        "broker_status": None,
        "filled_quantity": Decimal(0),
        "avg_fill_price": None,
        "message": f"Recorded with client order id {p.tag}; placing at tradier",
        "source": "submit",
        "payload": None,
        "broker_ts": None,
        "recorded_at": now,
    }


def stamp(moment: datetime) -> str:
    """Tradier's order timestamp: UTC, milliseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def order_view(p: PlannedOrder, step: int, at: datetime) -> dict[str, Any]:
    """The Tradier order object for step `step` of the order's path."""
    status, filled = p.path[step]
    previous = p.path[step - 1][1] if step else Decimal(0)
    last_qty = filled - previous
    # A fill price near the limit, deterministic per order and step.
    fill_price = (p.price + Decimal(step) / 100).quantize(Decimal("0.01"))
    view: dict[str, Any] = {
        "id": p.broker_id,
        "type": "limit",
        "symbol": p.root,
        "side": p.side,
        "quantity": p.quantity.quantize(EIGHT),
        "status": status,
        "duration": "day",
        "price": p.price,
        "avg_fill_price": (fill_price if filled else Decimal(0)).quantize(EIGHT),
        "exec_quantity": filled.quantize(EIGHT),
        "last_fill_price": (fill_price if last_qty else Decimal(0)).quantize(EIGHT),
        "last_fill_quantity": last_qty.quantize(EIGHT),
        "remaining_quantity": (
            Decimal(0) if status in ("filled", "canceled") else p.quantity - filled
        ).quantize(EIGHT),
        "create_date": stamp(START),
        "transaction_date": stamp(at),
        "class": "option",
        "option_symbol": p.option_symbol,
    }
    if p.tag:
        view["tag"] = p.tag
    return view


def arrivals(planned: list[PlannedOrder], seed: int = 11, duplicates: float = 0.1) -> list[Any]:
    """Every (order, step) in arrival order: orders overlap, each order's steps stay in order.

    Orders are placed in the order of their ids, as a live database numbers them (ours are
    recorded just before they are placed, external ones when they are first seen), each at
    a random moment of the day; their reports follow over the next seconds to minutes.
    """
    rng = random.Random(seed)
    placed = sorted(rng.uniform(0, len(planned)) for _ in planned)
    timed: list[tuple[float, int, int]] = []
    for index, p in enumerate(planned):
        moment = placed[index]
        for step in range(len(p.path)):
            moment += rng.uniform(1, 30)
            timed.append((moment, index, step))
            if rng.random() < duplicates:  # streams and polls repeat what they said
                timed.append((moment + 0.5, index, step))
    timed.sort()
    return timed


def build(size: int, *, seed: int = 7) -> tuple[list[PlannedOrder], list[OrderReport]]:
    """Plan `size` orders and parse their broker reports (the parse is not what is timed)."""
    planned = plan(size, seed)
    reports = []
    for moment, index, step in arrivals(planned):
        at = START + timedelta(milliseconds=moment * 10)
        view = order_view(planned[index], step, at)
        reports.append(parse_order_dict(view, ACCOUNT, "poll"))
    return planned, reports

"""Audit the database against the broker's truth: lost or doubled fills, status regressions,
broker orders without a local order, proposals placed twice, states that differ.

The fake brokers hold the truth (`BrokerOrder`); `audit()` reads what ordertrail committed and
counts every way the two disagree. Conformance tests, crash tests and `bench/chaos.py` share it.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from ordertrail.domain.status import TRANSITIONS, OrderStatus
from ordertrail.storage.tables import fills, order_events, orders

ZERO = Decimal(0)
_S = OrderStatus
TRADIER_WORDS: dict[str, OrderStatus] = {
    "pending": _S.PLACED,
    "open": _S.PLACED,
    "submitted": _S.PLACED,
    "pending_cancel": _S.PLACED,
    "partially_filled": _S.PARTIAL,
    "filled": _S.FILLED,
    "canceled": _S.CANCELLED,
    "expired": _S.EXPIRED,
    "rejected": _S.REJECTED,
    "error": _S.REJECTED,
}
IBKR_WORDS: dict[str, OrderStatus] = {
    "Inactive": _S.PLACED,
    "PendingSubmit": _S.PLACED,
    "PreSubmitted": _S.PLACED,
    "Submitted": _S.PLACED,
    "WarnState": _S.PLACED,
    "PendingCancel": _S.PLACED,
    "PreCancelled": _S.PLACED,
    "Filled": _S.FILLED,
    "Cancelled": _S.CANCELLED,
}

TWS_WORDS: dict[str, OrderStatus] = {
    "ApiPending": _S.PLACED,  # at the broker: a harness only reports orders TWS answered
    "PendingSubmit": _S.PLACED,
    "PreSubmitted": _S.PLACED,
    "Submitted": _S.PLACED,
    "ApiUpdate": _S.PLACED,
    "ValidationError": _S.PLACED,
    "PendingCancel": _S.PLACED,
    "Inactive": _S.PLACED,
    "ApiCancelled": _S.CANCELLED,
    "Cancelled": _S.CANCELLED,
    "Filled": _S.FILLED,
}


@dataclass(frozen=True)
class BrokerOrder:
    """One order as the broker itself knows it."""

    broker_order_id: str
    status: OrderStatus
    filled: Decimal
    quantity: Decimal | None = None
    client_order_id: str | None = None
    word: str | None = None  # the broker's own status word, when the check should include it


def canonical(status: OrderStatus, filled: Decimal, quantity: Decimal | None) -> OrderStatus:
    """The canonical status the broker's state means: working with fills is PARTIAL, and an
    order whose whole quantity filled is FILLED whatever the word (a cancel raced the fill)."""
    if quantity is not None and quantity > ZERO and filled >= quantity:
        return _S.FILLED
    if status in (_S.PLACED, _S.PENDING) and filled > ZERO:
        return _S.PARTIAL
    return status


def broker_order(
    broker_order_id: object,
    word: str,
    table: Mapping[str, OrderStatus],
    filled: Decimal,
    quantity: Decimal | None,
    client_order_id: str | None,
) -> BrokerOrder:
    """Describe a fake broker's order from its own status word and numbers."""
    return BrokerOrder(
        broker_order_id=str(broker_order_id),
        status=canonical(table[word], filled, quantity),
        filled=filled,
        quantity=quantity,
        client_order_id=client_order_id,
        word=word,
    )


@dataclass
class Audit:
    """Every disagreement found, by kind; `problems` says which order and how."""

    orders: int = 0
    lost_fills: int = 0
    double_counted: int = 0
    regressions: int = 0
    mismatched: int = 0
    orphans: int = 0  # broker orders without a local order
    phantoms: int = 0  # local orders with a broker order id the broker does not have
    placed_twice: int = 0  # client order ids the broker holds more than once
    unplaced: int = 0  # our orders still PENDING whose placement never reached the broker
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost_fills
            or self.double_counted
            or self.regressions
            or self.mismatched
            or self.orphans
            or self.phantoms
            or self.placed_twice
        )

    def note(self, kind: str, text: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.problems) < 50:
            self.problems.append(f"{kind}: {text}")

    def __str__(self) -> str:
        counts = (
            f"orders={self.orders} lost_fills={self.lost_fills} "
            f"double_counted={self.double_counted} regressions={self.regressions} "
            f"mismatched={self.mismatched} orphans={self.orphans} phantoms={self.phantoms} "
            f"placed_twice={self.placed_twice} unplaced={self.unplaced}"
        )
        return "\n  ".join([counts, *self.problems])


def audit(engine: Engine, broker: str, account_id: str, truth: Iterable[BrokerOrder]) -> Audit:
    """Compare what ordertrail committed for one account with the broker's orders."""
    truth = list(truth)
    result = Audit()
    with engine.connect() as c:
        rows = [
            r._mapping
            for r in c.execute(
                select(orders).where(orders.c.broker == broker, orders.c.account_id == account_id)
            )
        ]
        ids = [r["id"] for r in rows]
        filled_by_order: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for order_id, quantity in c.execute(select(fills.c.order_id, fills.c.quantity)):
            filled_by_order[order_id] += quantity
        events: dict[int, list[tuple[int, str | None, str, Decimal]]] = defaultdict(list)
        query = select(
            order_events.c.order_id,
            order_events.c.seq,
            order_events.c.status_before,
            order_events.c.status_after,
            order_events.c.filled_quantity,
        ).order_by(order_events.c.order_id, order_events.c.seq)
        for order_id, seq, before, after, filled in c.execute(query):
            events[order_id].append((seq, before, after, filled))
    local = {r["broker_order_id"]: r for r in rows if r["broker_order_id"]}
    result.orders = len(rows)
    for order_id in ids:
        _walk(result, order_id, events[order_id])
    placed = Counter(t.client_order_id for t in truth if t.client_order_id)
    for client_id, count in placed.items():
        if count > 1:
            result.note("placed_twice", f"client order id {client_id} is at the broker {count}x")
    for order in truth:
        row = local.get(order.broker_order_id)
        if row is None:
            result.note("orphans", f"broker order {order.broker_order_id} has no local order")
            continue
        _compare(result, row, order, filled_by_order[row["id"]])
    known = {order.broker_order_id for order in truth}
    for broker_order_id, row in local.items():
        if broker_order_id not in known:
            result.note("phantoms", f"order {row['id']}: broker order {broker_order_id} unknown")
    for row in rows:
        if row["broker_order_id"] is None and not row["external"] and row["status"] == "PENDING":
            result.unplaced += 1
    return result


def _compare(result: Audit, row: Mapping[Any, Any], truth: BrokerOrder, fill_sum: Decimal) -> None:
    name = f"order {row['id']} (broker {truth.broker_order_id})"
    if fill_sum < truth.filled:
        result.note("lost_fills", f"{name}: fills {fill_sum} < broker filled {truth.filled}")
    elif fill_sum > truth.filled:
        result.note("double_counted", f"{name}: fills {fill_sum} > broker filled {truth.filled}")
    if row["status"] != truth.status.value or row["filled_quantity"] != truth.filled:
        result.note(
            "mismatched",
            f"{name}: local {row['status']} {row['filled_quantity']}, "
            f"broker {truth.status.value} {truth.filled}",
        )
    elif truth.word is not None and row["broker_status"] != truth.word:
        result.note(
            "mismatched",
            f"{name}: local broker status {row['broker_status']}, broker {truth.word}",
        )
    elif truth.client_order_id and row["client_order_id"] != truth.client_order_id:
        result.note(
            "mismatched",
            f"{name}: local client id {row['client_order_id']}, broker {truth.client_order_id}",
        )


def _walk(result: Audit, order_id: int, trail: list[tuple[int, str | None, str, Decimal]]) -> None:
    """Walk an order's events: each status move allowed, the filled quantity never down.

    The events of one report share its `status_before`; the trail of `status_after` values
    is what the order went through.
    """
    for seq, before, after, _ in trail:
        if before is not None and before != after and not _allowed(before, after):
            result.note("regressions", f"order {order_id} event {seq}: {before} → {after}")
    for (_, _, after_a, filled_a), (seq, _, after_b, filled_b) in itertools.pairwise(trail):
        if after_a != after_b and not _allowed(after_a, after_b):
            result.note("regressions", f"order {order_id} event {seq}: {after_a} → {after_b}")
        elif filled_b < filled_a:
            text = f"order {order_id} event {seq}: filled {filled_a} → {filled_b}"
            result.note("regressions", text)


def _allowed(before: str, after: str) -> bool:
    return OrderStatus(after) in TRANSITIONS[OrderStatus(before)]

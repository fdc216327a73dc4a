"""The orders repository: load orders for a batch of reports, insert, and write new state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, or_, select, tuple_, update

from ordertrail.domain.order import Order, OrderState, Placement
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.storage.codec import instrument_from_json, instrument_to_json
from ordertrail.storage.tables import orders

_CHUNK = 500


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
    )


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


class OrderRepository:
    """Orders on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, order_id: int) -> Order | None:
        row = self._c.execute(select(orders).where(orders.c.id == order_id)).first()
        return order_from_row(row) if row else None

    def by_proposal(self, proposal_id: int) -> Order | None:
        row = self._c.execute(select(orders).where(orders.c.proposal_id == proposal_id)).first()
        return order_from_row(row) if row else None

    def for_reports(self, reports: Sequence[OrderReport]) -> list[Order]:
        """Load, in as few queries as chunks allow, every order the reports may name."""
        keys = {(r.broker, r.account_id, r.broker_order_id) for r in reports if r.broker_order_id}
        client_ids = {r.client_order_id for r in reports if r.client_order_id}
        found: dict[int, Order] = {}
        key_list = sorted(keys, key=lambda k: (k[0], k[1], k[2] or ""))
        for start in range(0, len(key_list), _CHUNK):
            chunk = key_list[start : start + _CHUNK]
            query = select(orders).where(
                tuple_(orders.c.broker, orders.c.account_id, orders.c.broker_order_id).in_(chunk)
            )
            found.update((o.id, o) for o in map(order_from_row, self._c.execute(query)))
        ids = sorted(client_ids)
        for start in range(0, len(ids), _CHUNK):
            query = select(orders).where(orders.c.client_order_id.in_(ids[start : start + _CHUNK]))
            found.update((o.id, o) for o in map(order_from_row, self._c.execute(query)))
        return list(found.values())

    def add(self, values: Mapping[str, Any]) -> int:
        """Insert an order row and return its id."""
        result = self._c.execute(insert(orders).values(**values).returning(orders.c.id))
        return int(result.scalar_one())

    def save_state(
        self, order: Order, *, at: datetime, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write an order's state, links and event counter."""
        values = state_values(order.state) | {
            "trade_id": order.trade_id,
            "event_seq": order.event_seq,
            "alert_match": order.alert_match,
            "placement": order.placement.value if order.placement else None,
            "updated_at": at,
        }
        if order.instrument is not None:
            values["instrument"] = instrument_to_json(order.instrument)
            values["symbol"] = order.instrument.symbol
            values["option_symbol"] = order.instrument.option_symbol
        values.update(extra or {})
        self._c.execute(update(orders).where(orders.c.id == order.id).values(**values))

    def set_placement(self, order_id: int, placement: Placement, at: datetime) -> None:
        self._c.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(placement=placement.value, updated_at=at)
        )

    def working(self, broker: str, account_id: str) -> list[Order]:
        """Orders of one account that are not in a terminal status."""
        query = select(orders).where(
            and_(
                orders.c.broker == broker,
                orders.c.account_id == account_id,
                orders.c.status.in_(("PENDING", "PLACED", "PARTIAL")),
            )
        )
        return [order_from_row(row) for row in self._c.execute(query)]

    def awaiting_placement(self, broker: str, account_id: str) -> list[Order]:
        """Our orders recorded but never sent, or sent without a known outcome."""
        query = select(orders).where(
            and_(
                orders.c.broker == broker,
                orders.c.account_id == account_id,
                orders.c.status == "PENDING",
                or_(orders.c.placement == "recorded", orders.c.placement == "sending"),
            )
        )
        return [order_from_row(row) for row in self._c.execute(query)]

    def flag(self, order_ids: Iterable[int], flag: str, at: datetime) -> None:
        """Add a flag (such as `missing`) to orders without touching their status."""
        for order_id in order_ids:
            order = self.get(order_id)
            if order is None or flag in order.state.flags:
                continue
            self._c.execute(
                update(orders)
                .where(orders.c.id == order_id)
                .values(flags=sorted({*order.state.flags, flag}), updated_at=at)
            )

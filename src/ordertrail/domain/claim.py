"""Claiming an adopted order: a broker order adopted as external before we knew it was ours.

A report that names a broker order id we do not know and carries no client order id (an IBKR
`sor` delta whose full row was lost, a stream event read before its order) is adopted at once,
so no broker order is ever without its local record. When a later report shows by its client
order id that the broker order is one we placed (our placement answer was lost), our order
claims it: it takes the broker's view the adopted row collected (its status, quantities and
fills, which are the broker's truth) and keeps its own links (proposal, trade, intent).
"""

from __future__ import annotations

from dataclasses import replace

from ordertrail.domain.events import EventKind, OrderEvent
from ordertrail.domain.order import Change, Order


def claimable(adopted: Order) -> bool:
    """Whether an order is only an adopted view of a broker order (nothing of ours links to
    it), so that one of our orders may claim it."""
    return adopted.external and adopted.proposal_id is None and adopted.trade_id is None


def claim(ours: Order, adopted: Order, source: str) -> Change:
    """Our order's change when it claims an adopted order: the adopted row's broker state with
    what only we know (quantity and price asked, reasons and flags) kept where the broker's view
    lacks it. The one event says which broker order this is and where its history went."""
    seen, mine = adopted.state, ours.state
    after = replace(
        seen,
        quantity=seen.quantity if seen.quantity is not None else mine.quantity,
        limit_price=seen.limit_price if seen.limit_price is not None else mine.limit_price,
        remaining_quantity=(
            seen.remaining_quantity
            if seen.remaining_quantity is not None
            else mine.remaining_quantity
        ),
        reason=seen.reason or mine.reason,
        flags=seen.flags | mine.flags,
    )
    event = OrderEvent(
        kind=EventKind.ACKNOWLEDGED,
        status_before=mine.status,
        status_after=after.status,
        filled_quantity=after.filled_quantity,
        avg_fill_price=after.avg_fill_price,
        broker_status=after.broker_status,
        message=(
            f"Broker order {seen.broker_order_id} is this order (client order id "
            f"{ours.client_order_id}); it had been adopted as external order {adopted.id}, "
            "whose events above are kept as this order's"
        ),
        source=source,
        broker_ts=seen.last_broker_ts,
    )
    return Change(before=mine, after=after, events=(event,), fills=(), stale=False)

"""Claiming an adopted order: the broker's view wins, what only we know is kept."""

from __future__ import annotations

from decimal import Decimal as D

from ordertrail.domain.claim import claim, claimable
from ordertrail.domain.events import EventKind
from ordertrail.domain.order import Order, OrderState
from ordertrail.domain.status import OrderStatus


def _ours() -> Order:
    state = OrderState(
        broker="ibkr",
        account_id="U1",
        quantity=D(10),
        limit_price=D("1.25"),
        flags=frozenset({"resent"}),
    )
    return Order(id=7, state=state, external=False, client_order_id="ot-7", proposal_id=3)


def _adopted() -> Order:
    state = OrderState(
        broker="ibkr",
        account_id="U1",
        broker_order_id="991",
        status=OrderStatus.PARTIAL,
        broker_status="Submitted",
        filled_quantity=D(4),
        avg_fill_price=D("1.20"),
        flags=frozenset({"missing"}),
    )
    return Order(id=9, state=state, external=True, event_seq=3)


def test_the_broker_view_wins_and_what_only_we_know_stays() -> None:
    change = claim(_ours(), _adopted(), "poll")
    after = change.after
    assert (after.broker_order_id, after.status, after.filled_quantity) == (
        "991",
        OrderStatus.PARTIAL,
        D(4),
    )
    assert (after.avg_fill_price, after.broker_status) == (D("1.20"), "Submitted")
    assert (after.quantity, after.limit_price) == (D(10), D("1.25"))
    assert after.flags == {"resent", "missing"}
    assert change.fills == () and change.status_changed and change.filled_increase == D(4)
    [event] = change.events
    assert event.kind is EventKind.ACKNOWLEDGED
    assert (event.status_before, event.status_after) == (OrderStatus.PENDING, OrderStatus.PARTIAL)
    assert "991" in event.message and "ot-7" in event.message and "9" in event.message


def test_only_an_order_nothing_of_ours_links_to_can_be_claimed() -> None:
    assert claimable(_adopted())
    assert not claimable(_ours())
    linked = Order(id=9, state=_adopted().state, external=True, trade_id=4)
    assert not claimable(linked)

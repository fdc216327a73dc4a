"""Walk every (status, status) pair through the transition table and through `evolve`."""

from decimal import Decimal

import pytest

from ordertrail.domain.order import OrderState, evolve
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import TERMINAL, TRANSITIONS, OrderStatus, can_transition

S = OrderStatus
ALLOWED = {
    (S.PENDING, S.PLACED),
    (S.PENDING, S.PARTIAL),
    (S.PENDING, S.FILLED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.REJECTED),
    (S.PENDING, S.EXPIRED),
    (S.PLACED, S.PARTIAL),
    (S.PLACED, S.FILLED),
    (S.PLACED, S.CANCELLED),
    (S.PLACED, S.REJECTED),
    (S.PLACED, S.EXPIRED),
    (S.PARTIAL, S.FILLED),
    (S.PARTIAL, S.CANCELLED),
    (S.PARTIAL, S.EXPIRED),
    (S.CANCELLED, S.FILLED),
    (S.EXPIRED, S.FILLED),
}
PAIRS = [(a, b) for a in S for b in S if a is not b]


def test_terminal_statuses_are_the_four_final_ones() -> None:
    assert {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED} == TERMINAL
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_transition_table(current: OrderStatus, new: OrderStatus) -> None:
    assert can_transition(current, new) is ((current, new) in ALLOWED)


def _state(status: OrderStatus) -> OrderState:
    filled = {S.PARTIAL: Decimal(4), S.FILLED: Decimal(10)}.get(status, Decimal(0))
    return OrderState(
        broker="t",
        account_id="A",
        broker_order_id="1",
        status=status,
        filled_quantity=filled,
        avg_fill_price=Decimal(5) if filled else None,
        quantity=Decimal(10),
    )


def _report(status: OrderStatus, filled: Decimal) -> OrderReport:
    return OrderReport(
        broker="t",
        account_id="A",
        broker_order_id="1",
        status=status,
        filled_quantity=filled,
        avg_fill_price=Decimal(5) if filled else None,
        quantity=Decimal(10),
    )


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_evolve_moves_only_along_allowed_pairs(current: OrderStatus, new: OrderStatus) -> None:
    before = _state(current)
    filled = {S.PARTIAL: Decimal(6), S.FILLED: Decimal(10)}.get(new, before.filled_quantity)
    change = evolve(before, _report(new, filled))
    if (current, new) in ALLOWED:
        assert change.after.status is new
        assert not change.stale
    else:
        assert change.after.status is current
        assert change.after.filled_quantity >= before.filled_quantity

"""`evolve` decides as it did before it was made fast; `repeats` skips only what changes nothing."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.domain.copying import changed
from ordertrail.domain.events import Fill
from ordertrail.domain.order import KnownFills, Order, OrderState, _shown, evolve, repeats
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from tests.perf import reference_evolve

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
amounts = st.sampled_from([D(0), D(1), D("1.00"), D(2), D("2.5"), D("2.50"), D(4), D(10)])
maybe_amount = st.none() | amounts
times = st.none() | st.integers(0, 4).map(lambda s: T0 + timedelta(seconds=s))
statuses = st.sampled_from(list(OrderStatus))
flags = st.sampled_from([frozenset(), frozenset({"missing"}), frozenset({"inactive"})])
fills = st.lists(  # recorded fills: one per execution id, as the database keeps them
    st.builds(Fill, st.sampled_from(["e1", "e2", "e3"]), amounts, amounts),
    max_size=3,
    unique_by=lambda fill: fill.execution_id,
)

states = st.builds(
    OrderState,
    broker=st.just("ibkr"),
    account_id=st.just("U1"),
    broker_order_id=st.none() | st.just("7"),
    status=statuses,
    broker_status=st.none() | st.sampled_from(["Submitted", "Filled"]),
    filled_quantity=amounts,
    avg_fill_price=maybe_amount,
    quantity=maybe_amount,
    remaining_quantity=maybe_amount,
    limit_price=maybe_amount,
    reason=st.none() | st.just("no margin"),
    last_broker_ts=times,
    flags=flags,
)
reports = st.builds(
    OrderReport,
    broker=st.just("ibkr"),
    account_id=st.just("U1"),
    broker_order_id=st.none() | st.sampled_from(["7", "8"]),
    status=st.none() | statuses,
    broker_status=st.none() | st.sampled_from(["Submitted", "Filled"]),
    filled_quantity=maybe_amount,
    avg_fill_price=maybe_amount,
    last_fill_price=maybe_amount,
    last_fill_quantity=maybe_amount,
    quantity=maybe_amount,
    remaining_quantity=maybe_amount,
    limit_price=maybe_amount,
    reason=st.none() | st.just("no margin"),
    executions=st.lists(
        st.builds(Execution, st.sampled_from(["e1", "e2", "e4"]), amounts, amounts), max_size=2
    ).map(tuple),
    derives_fills=st.booleans(),
    broker_ts=times,
    source=st.sampled_from(["poll", "stream", "place"]),
    flags=flags,
)


@settings(max_examples=3000)
@given(states, reports, fills)
def test_evolve_decides_exactly_as_the_reference_evolve(
    state: OrderState, report: OrderReport, known: list[Fill]
) -> None:
    totals = KnownFills.of(known)
    assert evolve(state, report, totals) == reference_evolve.evolve(state, report, known)


@settings(max_examples=3000)
@given(states, reports, fills)
def test_a_report_repeats_only_when_evolve_would_change_nothing(
    state: OrderState, report: OrderReport, known: list[Fill]
) -> None:
    totals = KnownFills.of(known)
    if repeats(state, report, totals):
        change = evolve(state, report, totals)
        assert not change.changed
        assert not change.stale


def _tradier(**kw: object) -> OrderReport:
    base: dict[str, object] = {
        "broker": "tradier",
        "account_id": "VA1",
        "broker_order_id": "77",
        "status": OrderStatus.PARTIAL,
        "broker_status": "partially_filled",
        "filled_quantity": D("2.00000000"),
        "avg_fill_price": D("1.25000000"),
        "last_fill_price": D("1.25000000"),
        "last_fill_quantity": D("2.00000000"),
        "quantity": D("4.00000000"),
        "remaining_quantity": D("2.00000000"),
        "limit_price": D("1.3"),
        "broker_ts": T0,
    }
    return OrderReport(**(base | kw))  # type: ignore[arg-type]


def test_a_listed_order_that_did_not_move_repeats() -> None:
    report = _tradier()
    first = evolve(OrderState(broker="tradier", account_id="VA1"), report)
    assert first.changed
    assert repeats(first.after, report, KnownFills.of(first.fills))
    later = _tradier(broker_ts=T0 + timedelta(seconds=5))  # listed again, nothing new
    assert repeats(first.after, later, KnownFills.of(first.fills))
    assert not repeats(first.after, _tradier(filled_quantity=D(3)), KnownFills.of(first.fills))
    assert not repeats(
        first.after, _tradier(status=OrderStatus.CANCELLED), KnownFills.of(first.fills)
    )


def test_an_ibkr_row_without_executions_repeats_once_applied() -> None:
    row = _tradier(broker="ibkr", derives_fills=False, broker_status="Submitted")
    first = evolve(OrderState(broker="ibkr", account_id="VA1"), row)
    assert repeats(first.after, row, KnownFills.of(first.fills))
    assert not repeats(first.after, row, KnownFills.of([Fill("e1", D(3), D(1))]))  # fills say more


def test_the_visible_fields_are_every_field_but_the_timestamp_and_the_broker_id() -> None:
    state = OrderState(broker="b", account_id="a")
    hidden = {"last_broker_ts", "broker_order_id"}
    assert len(_shown(state)) == len(fields(OrderState)) - len(hidden)


def test_changed_copies_like_replace_and_refuses_unknown_fields() -> None:
    order = Order(id=1, state=OrderState(broker="b", account_id="a"), external=False)
    assert changed(order, trade_id=5, event_seq=3) == replace(order, trade_id=5, event_seq=3)
    assert order.trade_id is None
    try:
        changed(order, nope=1)
    except TypeError as error:
        assert "nope" in str(error)
    else:
        raise AssertionError("an unknown field was accepted")

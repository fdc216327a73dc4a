"""`evolve`: fills counted once, no regressions, late fills kept, nothing for nothing."""

from decimal import Decimal as D

from ordertrail.domain.events import EventKind, Fill
from ordertrail.domain.order import KnownFills, OrderState, evolve
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus as S


def report(**kw: object) -> OrderReport:
    base: dict[str, object] = {
        "broker": "tradier",
        "account_id": "A",
        "broker_order_id": "7",
        "quantity": D(100),
    }
    return OrderReport(**(base | kw))  # type: ignore[arg-type]


START = OrderState(broker="tradier", account_id="A")


def test_fills_between_polls_become_one_fill_at_the_increments_average() -> None:
    first = evolve(START, report(status=S.PARTIAL, filled_quantity=D(40), avg_fill_price=D(10)))
    second = evolve(
        first.after, report(status=S.FILLED, filled_quantity=D(100), avg_fill_price=D("10.6"))
    )
    assert [f.quantity for f in first.fills] == [D(40)]
    assert [(f.quantity, f.price) for f in second.fills] == [(D(60), D(11))]
    assert second.fills[0].execution_id == "tradier:A:7:100"
    assert second.after.status is S.FILLED


def test_the_same_report_twice_changes_nothing() -> None:
    once = evolve(START, report(status=S.PARTIAL, filled_quantity=D(40), avg_fill_price=D(10)))
    again = evolve(
        once.after, report(status=S.PARTIAL, filled_quantity=D(40), avg_fill_price=D(10))
    )
    assert not again.changed and again.fills == () and again.after == once.after


def test_placed_after_partial_is_stale_and_ignored() -> None:
    partial = evolve(START, report(status=S.PARTIAL, filled_quantity=D(40), avg_fill_price=D(10)))
    stale = evolve(
        partial.after, report(status=S.PLACED, broker_status="open", filled_quantity=D(0))
    )
    assert stale.stale and not stale.changed
    assert stale.after.status is S.PARTIAL and stale.after.filled_quantity == D(40)


def test_filled_without_price_waits_for_the_numbers() -> None:
    racing = evolve(START, report(status=S.FILLED, filled_quantity=D(100), avg_fill_price=None))
    assert racing.fills == () and racing.after.filled_quantity == 0
    priced = evolve(
        racing.after, report(status=S.FILLED, filled_quantity=D(100), avg_fill_price=D("9.5"))
    )
    assert [(f.quantity, f.price) for f in priced.fills] == [(D(100), D("9.5"))]


def test_cancelled_with_fills_keeps_them_and_a_late_full_fill_makes_it_filled() -> None:
    cancelled = evolve(
        START, report(status=S.CANCELLED, filled_quantity=D(30), avg_fill_price=D(2))
    )
    assert cancelled.after.status is S.CANCELLED and cancelled.after.filled_quantity == 30
    late = evolve(
        cancelled.after, report(status=S.CANCELLED, filled_quantity=D(50), avg_fill_price=D(2))
    )
    assert late.after.status is S.CANCELLED and [f.quantity for f in late.fills] == [D(20)]
    full = evolve(late.after, report(status=S.FILLED, filled_quantity=D(100), avg_fill_price=D(2)))
    assert full.after.status is S.FILLED
    assert [e.kind for e in full.events] == [EventKind.FILL, EventKind.FILLED]


def test_executions_are_deduplicated_by_id_and_push_the_filled_quantity() -> None:
    fill = Execution("0001.01", D(3), D("1.5"))
    r = report(broker="ibkr", derives_fills=False, executions=(fill,), status=None)
    first = evolve(START, r)
    assert first.after.filled_quantity == 3 and first.after.status is S.PARTIAL
    known = [Fill("0001.01", D(3), D("1.5"))]
    assert not evolve(first.after, r, KnownFills.of(known)).changed


def test_sparse_report_leaves_unsaid_fields_alone() -> None:
    working = evolve(
        START,
        report(status=S.PARTIAL, filled_quantity=D(40), avg_fill_price=D(10), limit_price=D(11)),
    )
    sparse = evolve(
        working.after,
        OrderReport(
            broker="tradier",
            account_id="A",
            broker_order_id="7",
            broker_status="PendingCancel",
            status=S.PLACED,
        ),
    )
    assert sparse.after.filled_quantity == 40 and sparse.after.limit_price == 11
    assert sparse.after.status is S.PARTIAL and sparse.after.broker_status == "PendingCancel"


def test_a_late_placement_answer_fills_gaps_but_overwrites_nothing() -> None:
    streamed = evolve(START, report(status=S.PLACED, broker_status="Submitted", limit_price=D(5)))
    answer = report(status=S.PLACED, broker_status="PreSubmitted", source="place")
    late = evolve(streamed.after, answer)
    assert not late.changed and late.after.broker_status == "Submitted"
    first = evolve(START, answer)
    assert first.after.broker_status == "PreSubmitted"


def test_a_report_older_than_the_last_one_applied_overwrites_no_details() -> None:
    from datetime import UTC, datetime

    t1, t2 = datetime(2026, 1, 5, 15, 0, 1, tzinfo=UTC), datetime(2026, 1, 5, 15, 0, 2, tzinfo=UTC)
    newer = evolve(
        START, report(status=S.PLACED, broker_status="open", limit_price=D(6), broker_ts=t2)
    )
    older = evolve(
        newer.after,
        report(status=S.PLACED, broker_status="pending", limit_price=D(5), broker_ts=t1),
    )
    assert not older.changed and older.after.limit_price == 6

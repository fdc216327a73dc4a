"""Any order, duplication or interleaving of one order's valid reports converges to the state
the broker's own sequence gives: in pure `evolve` folding and through `apply_reports` on SQLite."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.events import Fill
from ordertrail.domain.order import KnownFills, OrderState, evolve
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import TRANSITIONS, OrderStatus
from ordertrail.services.apply import apply_reports
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, order_events, orders
from tests.fuzz.histories import History, canonical, histories, ibkr_reports, scrambled
from tests.fuzz.histories import tradier_reports as tradier_history_reports
from tests.fuzz.strategies import EXAMPLES

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ACCOUNT = "ACC-1"
MakeReports = Callable[[History, str, str], list[OrderReport]]
FLAVOURS: dict[str, MakeReports] = {"tradier": tradier_history_reports, "ibkr": ibkr_reports}
_serial = itertools.count(1)


@dataclass(frozen=True)
class Outcome:
    """What a fold or an apply left: the order's state and its fills' totals."""

    status: OrderStatus
    filled: Decimal
    avg: Decimal | None
    fill_quantity: Decimal
    fill_notional: Decimal
    reason: str | None
    broker_status: str | None = None


def close(a: Decimal | None, b: Decimal | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= Decimal("1e-9") * max(abs(a), abs(b), Decimal(1))


def same(a: Outcome, b: Outcome) -> bool:
    return (
        a.status is b.status
        and a.filled == b.filled
        and a.fill_quantity == b.fill_quantity
        and a.reason == b.reason
        and (a.broker_status == b.broker_status or None in (a.broker_status, b.broker_status))
        and close(a.avg, b.avg)
        and close(a.fill_notional, b.fill_notional)
    )


def fold(reports: Sequence[OrderReport], broker: str) -> tuple[Outcome, list[OrderStatus]]:
    """Fold through `evolve` as the apply path does; also return the status after each step."""
    state = OrderState(broker=broker, account_id=ACCOUNT)
    known: list[Fill] = []
    path = []
    for report in reports:
        change = evolve(state, report, KnownFills.of(known))
        known.extend(change.fills)
        state = change.after
        path.append(state.status)
    return (
        Outcome(
            status=state.status,
            filled=state.filled_quantity,
            avg=state.avg_fill_price,
            fill_quantity=sum((f.quantity for f in known), Decimal(0)),
            fill_notional=sum((f.quantity * f.price for f in known), Decimal(0)),
            reason=state.reason,
            broker_status=state.broker_status,
        ),
        path,
    )


def truth(history: History) -> Outcome:
    final = history.final
    return Outcome(
        status=canonical(final.word, final.filled),
        filled=final.filled,
        avg=final.average,
        fill_quantity=final.filled,
        fill_notional=final.notional,
        reason=None,
    )


def assert_no_regression(path: list[OrderStatus]) -> None:
    for before, after in itertools.pairwise([OrderStatus.PENDING, *path]):
        assert before is after or after in TRANSITIONS[before], f"{before} → {after}"


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@FUZZ
@given(data=st.data(), history=histories())
def test_evolve_converges_whatever_the_order_and_duplication(
    flavour: str, data: st.DataObject, history: History
) -> None:
    sorted_reports = FLAVOURS[flavour](history, ACCOUNT, "42")
    shuffled = data.draw(scrambled(sorted_reports))
    expected, sorted_path = fold(sorted_reports, flavour)
    got, path = fold(shuffled, flavour)
    assert_no_regression(sorted_path)
    assert_no_regression(path)
    assert same(got, expected), (got, expected)
    assert same(expected, truth(history)), (expected, truth(history))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    path: Path = tmp_path_factory.mktemp("apply-fuzz") / "ordertrail.db"
    built = bootstrap(Settings(database_url=f"sqlite:///{path}"), clock=FakeClock(), brokers={})
    yield built
    built.applier.close()
    built.engine.dispose()


def stored(app: App, broker: str, order_id: str) -> tuple[Outcome, list[OrderStatus]]:
    with app.engine.connect() as c:
        row = c.execute(
            select(orders).where(orders.c.broker == broker, orders.c.broker_order_id == order_id)
        ).one()
        executed = c.execute(
            select(fills.c.quantity, fills.c.price).where(fills.c.order_id == row.id)
        ).all()
        path = [
            OrderStatus(status)
            for (status,) in c.execute(
                select(order_events.c.status_after)
                .where(order_events.c.order_id == row.id)
                .order_by(order_events.c.seq)
            )
        ]
    outcome = Outcome(
        status=OrderStatus(row.status),
        filled=row.filled_quantity,
        avg=row.avg_fill_price,
        fill_quantity=sum((q for q, _ in executed), Decimal(0)),
        fill_notional=sum((q * p for q, p in executed), Decimal(0)),
        reason=row.reason,
        broker_status=row.broker_status,
    )
    return outcome, path


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@settings(
    max_examples=max(EXAMPLES // 3, 20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), history=histories())
def test_apply_reports_on_sqlite_converges_whatever_the_order_and_batching(
    app: App, flavour: str, data: st.DataObject, history: History
) -> None:
    serial = next(_serial)
    in_order, scrambled_id = f"{serial}-sorted", f"{serial}-scrambled"
    make = FLAVOURS[flavour]
    for report in make(history, ACCOUNT, in_order):
        apply_reports(app.uow(), [report], app.clock)
    shuffled = data.draw(scrambled(make(history, ACCOUNT, scrambled_id)))
    cut = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=4)))
    for start, end in itertools.pairwise([0, *cut, len(shuffled)]):
        if end > start:
            apply_reports(app.uow(), shuffled[start:end], app.clock)
    expected, _ = stored(app, flavour, in_order)
    got, path = stored(app, flavour, scrambled_id)
    assert_no_regression(path)
    assert same(got, expected), (got, expected)
    assert same(expected, truth(history)), (expected, truth(history))

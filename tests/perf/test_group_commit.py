"""The applier's group commit: reports waiting for the writer share one transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services import applier as applier_module
from ordertrail.services.applier import FLOWING_S, SLICE, Applier
from ordertrail.storage.tables import order_events, orders
from ordertrail.storage.uow import SqlUnitOfWork


@pytest.fixture
def applier(engine: Engine) -> Iterator[Applier]:
    applier = Applier(lambda: SqlUnitOfWork(engine), FakeClock())
    yield applier
    applier.close()


def _report(broker_id: str, **kw: Any) -> OrderReport:
    fields: dict[str, Any] = {
        "broker": "tradier",
        "account_id": "VA1",
        "broker_order_id": broker_id,
        "status": OrderStatus.PLACED,
        "broker_status": "open",
        "quantity": D(2),
        "instrument": Instrument("SPY"),
    }
    return OrderReport(**(fields | kw))


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


async def _hold_writer(applier: Applier) -> tuple[threading.Event, asyncio.Task[None]]:
    """Keep the writer thread busy until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def block() -> None:
        started.set()
        release.wait(10)

    task = asyncio.create_task(applier.run(block))
    await asyncio.to_thread(started.wait, 10)
    return release, task


async def test_reports_waiting_for_the_writer_commit_together_each_with_its_own_result(
    applier: Applier, engine: Engine
) -> None:
    seen: list[int] = []
    applier.subscribe(lambda result: seen.append(result.reports))
    release, held = await _hold_writer(applier)
    calls = [
        asyncio.create_task(applier.apply([_report(str(n)), _report(str(n))])) for n in range(20)
    ]
    await asyncio.sleep(0.05)
    release.set()
    await held
    results = await asyncio.gather(*calls)
    assert [(r.reports, r.applied, r.unchanged, r.orders_created) for r in results] == [
        (2, 1, 1, 1)
    ] * 20
    assert len({next(iter(r.order_ids)) for r in results}) == 20
    assert seen == [40]  # one transaction, announced once
    assert applier.transactions == 1
    assert _count(engine, orders) == 20


async def test_work_runs_in_the_order_it_was_asked_for(applier: Applier, engine: Engine) -> None:
    release, held = await _hold_writer(applier)
    applying = asyncio.create_task(applier.apply([_report("1")]))
    counting = asyncio.create_task(applier.run(lambda: _count(engine, orders)))
    await asyncio.sleep(0.05)
    release.set()
    await held
    await applying
    assert await counting == 1


async def test_one_callers_failure_fails_only_that_caller(
    applier: Applier, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = applier_module.apply_groups

    def poisoned(uow: Any, groups: Any, clock: Any, *rest: Any) -> Any:
        if any(r.client_order_id == "poison" for group in groups for r in group):
            raise RuntimeError("poisoned batch")
        return real(uow, groups, clock, *rest)

    monkeypatch.setattr(applier_module, "apply_groups", poisoned)
    release, held = await _hold_writer(applier)
    good = asyncio.create_task(applier.apply([_report("1")]))
    bad = asyncio.create_task(applier.apply([_report("2", client_order_id="poison")]))
    also_good = asyncio.create_task(applier.apply([_report("3")]))
    await asyncio.sleep(0.05)
    release.set()
    await held
    assert (await good).applied == 1
    with pytest.raises(RuntimeError, match="poisoned"):
        await bad
    assert (await also_good).applied == 1
    assert _count(engine, orders) == 2


async def test_report_listeners_hear_only_what_committed(
    applier: Applier, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = applier_module.apply_groups

    def poisoned(uow: Any, groups: Any, clock: Any, *rest: Any) -> Any:
        if any(r.client_order_id == "poison" for group in groups for r in group):
            raise RuntimeError("poisoned batch")
        return real(uow, groups, clock, *rest)

    monkeypatch.setattr(applier_module, "apply_groups", poisoned)
    heard: list[str | None] = []
    applier.subscribe_reports(lambda reports: heard.extend(r.broker_order_id for r in reports))
    release, held = await _hold_writer(applier)
    good = asyncio.create_task(applier.apply([_report("1"), _report("2")]))
    bad = asyncio.create_task(applier.apply([_report("3", client_order_id="poison")]))
    await asyncio.sleep(0.05)
    release.set()
    await held
    await good
    with pytest.raises(RuntimeError, match="poisoned"):
        await bad
    applier.apply_now([_report("4")])
    assert heard == ["1", "2", "4"]


async def test_a_call_cancelled_while_it_waits_is_never_applied(
    applier: Applier, engine: Engine
) -> None:
    release, held = await _hold_writer(applier)
    cancelled = asyncio.create_task(applier.apply([_report("1")]))
    kept = asyncio.create_task(applier.apply([_report("2")]))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    await asyncio.sleep(0.01)
    release.set()
    await held
    await kept
    assert _count(engine, orders) == 1


async def test_a_failing_listener_does_not_stop_the_writer(
    applier: Applier, engine: Engine
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    applier.subscribe(broken)
    assert (await applier.apply([_report("1")])).applied == 1
    assert (await applier.apply([_report("2")])).applied == 1
    assert _count(engine, order_events) == 6  # adopted, acknowledged, placed: twice


def _statuses(uow: Any, result: Any) -> list[tuple[str, str]]:
    """An in-transaction reader: the statuses of the orders the batch changed, as written."""
    ids = sorted(result.order_ids)
    query = select(orders.c.broker_order_id, orders.c.status).where(orders.c.id.in_(ids))
    return [tuple(row) for row in uow.connection.execute(query)]  # type: ignore[misc]


async def test_in_transaction_readers_see_the_writes_and_deliver_only_once_committed(
    applier: Applier, engine: Engine
) -> None:
    seen: list[tuple[bool, Any]] = []  # (committed yet when read or delivered, what)

    def committed() -> bool:
        return _count(engine, orders) > 0  # another connection sees only what committed

    def read(uow: Any, result: Any) -> Any:
        found = _statuses(uow, result)
        seen.append((committed(), found))
        return found

    applier.subscribe_in_transaction(read, lambda found: seen.append((committed(), found)))
    await applier.apply([_report("1")])
    assert seen == [(False, [("1", "PLACED")]), (True, [("1", "PLACED")])]


async def test_a_failed_transaction_delivers_nothing_and_a_failing_reader_fails_nothing(
    applier: Applier, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[Any] = []

    def broken(uow: Any, result: Any) -> Any:
        raise RuntimeError("reader bug")

    applier.subscribe_in_transaction(broken, delivered.append)
    applier.subscribe_in_transaction(_statuses, delivered.append)
    assert (await applier.apply([_report("1")])).applied == 1
    assert delivered == [[("1", "PLACED")]]

    real = applier_module.apply_groups

    def failing_commit(uow: Any, groups: Any, clock: Any, before_commit: Any) -> Any:
        def then_fail(uow: Any, results: Any) -> None:
            before_commit(uow, results)
            raise RuntimeError("commit failed")

        return real(uow, groups, clock, then_fail)

    monkeypatch.setattr(applier_module, "apply_groups", failing_commit)
    with pytest.raises(RuntimeError, match="commit failed"):
        await applier.apply([_report("2", status=OrderStatus.CANCELLED)])
    assert delivered == [[("1", "PLACED")]]
    assert _count(engine, orders) == 1


async def test_a_flush_interval_gathers_reports_that_arrive_just_after(engine: Engine) -> None:
    applier = Applier(lambda: SqlUnitOfWork(engine), FakeClock(), flush_interval=0.2)
    try:
        first = asyncio.create_task(applier.apply([_report("1")]))
        await asyncio.sleep(0.02)
        second = asyncio.create_task(applier.apply([_report("2")]))
        await asyncio.gather(first, second)
        assert applier.transactions == 1
    finally:
        applier.close()


async def test_a_long_poll_is_committed_in_slices_with_stream_messages_between(
    applier: Applier, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(applier_module, "FLOWING_S", 10.0)  # the stream never pauses here
    batches: list[list[str]] = []
    committed, go_on = threading.Event(), threading.Event()

    def record(reports: Sequence[OrderReport]) -> None:
        batches.append([r.broker_order_id or "" for r in reports])
        if batches[-1][0] == "0":  # hold the writer after the first slice until s2 waits
            committed.set()
            go_on.wait(10)

    applier.subscribe_reports(record)
    await applier.apply([_report("s1", source="stream")])  # a stream flows
    batches.clear()
    polling = asyncio.create_task(applier.apply([_report(str(n)) for n in range(40)]))
    await asyncio.to_thread(committed.wait, 10)
    later = asyncio.create_task(applier.apply([_report("s2", source="stream")]))
    await asyncio.sleep(0.05)
    go_on.set()
    await later
    result = await polling
    assert (result.reports, result.applied, result.orders_created) == (40, 40, 40)
    slices = [[str(n) for n in range(a, min(a + SLICE, 40))] for a in range(0, 40, SLICE)]
    assert batches == [slices[0], ["s2"], *slices[1:]]
    assert _count(engine, orders) == 42


async def test_a_long_poll_is_one_transaction_while_no_stream_flows(
    applier: Applier, engine: Engine
) -> None:
    await asyncio.sleep(FLOWING_S)
    result = await applier.apply([_report(str(n)) for n in range(40)])
    assert result.applied == 40 and applier.transactions == 1


async def test_a_failed_slice_fails_the_poll_and_leaves_what_committed(
    applier: Applier, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = applier_module.apply_groups

    def poisoned(uow: Any, groups: Any, clock: Any, *rest: Any) -> Any:
        if any(r.client_order_id == "poison" for group in groups for r in group):
            raise RuntimeError("poisoned slice")
        return real(uow, groups, clock, *rest)

    monkeypatch.setattr(applier_module, "apply_groups", poisoned)
    monkeypatch.setattr(applier_module, "FLOWING_S", 10.0)
    poll = [_report(str(n)) for n in range(40)]
    poll[20] = _report("20", client_order_id="poison")
    await applier.apply([_report("s1", source="stream")])
    with pytest.raises(RuntimeError, match="poisoned slice"):
        await applier.apply(poll)
    assert _count(engine, orders) == 1 + SLICE  # the first slice stays, like after a crash
    assert (await applier.apply([_report("s2", source="stream")])).applied == 1


def _tag(report: OrderReport) -> str:
    return report.broker_order_id or ""


def test_running_totals_count_every_batch_and_keep_no_ids(applier: Applier) -> None:
    results = [
        applier.apply_now([_report("T-1"), _report("T-2")]),
        applier.apply_now([_report("T-1", status=OrderStatus.CANCELLED, broker_status="canceled")]),
    ]
    totals = applier.totals
    assert (totals.reports, totals.applied) == (3, 3)
    assert totals.events == sum(r.events for r in results) > 3
    assert totals.accounts[("tradier", "VA1")].reports == 3
    # Ids would pile up for as long as the process runs: every order ever touched.
    assert not (totals.order_ids or totals.trade_ids or totals.alert_ids)

"""Syncing with a list memo: reports the last committed sync applied are not applied again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import Engine, event, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import PlaceRequest, PlaceResult, StreamItem
from ordertrail.services.sync import SINCE_SLACK, ListMemo, SyncResult, sync_account
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, orders
from tests.support.eventually import eventually


class FakeBroker:
    """A broker whose list shows the reports it is loaded with, the very objects, like an
    adapter that hands back an unchanged order's report; `lookups` answer `get_order`."""

    name = "paper"
    account_id = "M1"

    def __init__(self) -> None:
        self.listing: list[OrderReport] = []
        self.lookups: dict[str, OrderReport | None] = {}
        self.looked_up: list[str] = []
        self.asked_since: list[datetime] = []

    async def place(self, request: PlaceRequest) -> PlaceResult:
        raise NotImplementedError

    async def cancel(self, broker_order_id: str) -> None:
        raise NotImplementedError

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        self.asked_since.append(since)
        return list(self.listing)

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        self.looked_up.append(broker_order_id)
        return self.lookups.get(broker_order_id)

    def stream(self) -> AsyncIterator[StreamItem] | None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={})
    yield app
    app.applier.close()
    app.engine.dispose()


def _report(order: str, status: OrderStatus = OrderStatus.PLACED, filled: int = 0) -> OrderReport:
    return OrderReport(
        broker="paper",
        account_id="M1",
        broker_order_id=order,
        status=status,
        quantity=D(10),
        filled_quantity=D(filled),
        avg_fill_price=D("2.5") if filled else None,
        instrument=Instrument("SPY"),
        source="poll",
    )


async def _sync(app: App, broker: FakeBroker, memo: ListMemo) -> SyncResult:
    return await sync_account(broker, app.applier, app.uow, app.clock, memo=memo)


def _row(app: App, broker_order_id: str) -> dict[str, object]:
    with app.engine.connect() as c:
        row = c.execute(select(orders).where(orders.c.broker_order_id == broker_order_id)).one()
    return dict(row._mapping)


def _fill_count(engine: Engine) -> int:
    with engine.connect() as c:
        return len(c.execute(select(fills.c.id)).all())


async def test_reports_the_last_sync_committed_are_not_applied_again(app: App) -> None:
    broker, memo = FakeBroker(), ListMemo()
    broker.listing = [_report("1"), _report("2")]
    first = await _sync(app, broker, memo)
    again = await _sync(app, broker, memo)
    assert (first.applied.reports, first.applied.orders_created, first.unchanged) == (2, 2, 0)
    assert (again.applied.reports, again.unchanged, again.orders_examined) == (0, 2, 2)
    assert len(memo) == 2


async def test_only_the_very_same_object_is_skipped(app: App) -> None:
    broker, memo = FakeBroker(), ListMemo()
    broker.listing = [_report("1")]
    await _sync(app, broker, memo)
    broker.listing = [replace(broker.listing[0])]  # equal, but built anew
    again = await _sync(app, broker, memo)
    assert (again.applied.reports, again.applied.unchanged, again.unchanged) == (1, 1, 0)


async def test_a_changed_report_is_applied(app: App) -> None:
    broker, memo = FakeBroker(), ListMemo()
    placed = _report("1")
    broker.listing = [placed, _report("2")]
    await _sync(app, broker, memo)
    broker.listing[0] = _report("1", OrderStatus.PARTIAL, filled=4)
    moved = await _sync(app, broker, memo)
    assert (moved.applied.reports, moved.applied.applied, moved.unchanged) == (1, 1, 1)
    assert moved.fill_events_processed == 1
    assert _row(app, "1")["status"] == "PARTIAL"
    assert memo.holds(broker.listing[0]) and not memo.holds(placed)


async def test_a_failed_apply_leaves_the_memo_and_the_next_sync_applies_again(
    app: App,
) -> None:
    broker, memo = FakeBroker(), ListMemo()
    placed, other = _report("1"), _report("2")
    broker.listing = [placed, other]
    await _sync(app, broker, memo)
    partial = _report("1", OrderStatus.PARTIAL, filled=4)
    broker.listing = [partial, other]
    with app.engine.begin() as c:  # the database refuses the write (like a full disk)
        c.exec_driver_sql("ALTER TABLE order_events RENAME TO order_events_away")
    try:
        with pytest.raises(Exception, match="order_events"):
            await _sync(app, broker, memo)
    finally:
        with app.engine.begin() as c:
            c.exec_driver_sql("ALTER TABLE order_events_away RENAME TO order_events")
    assert memo.holds(placed) and memo.holds(other) and not memo.holds(partial)
    assert _row(app, "1")["status"] == "PLACED" and _fill_count(app.engine) == 0
    retried = await _sync(app, broker, memo)
    assert (retried.applied.applied, retried.fill_events_processed, retried.unchanged) == (1, 1, 1)
    assert _row(app, "1")["status"] == "PARTIAL" and _fill_count(app.engine) == 1
    assert memo.holds(partial)


async def test_missing_orders_are_still_looked_up_when_every_listed_one_is_skipped(
    app: App,
) -> None:
    broker, memo = FakeBroker(), ListMemo()
    kept, gone = _report("1"), _report("2")
    broker.listing = [kept, gone]
    await _sync(app, broker, memo)
    broker.listing = [kept]
    broker.lookups = {"2": None}
    result = await _sync(app, broker, memo)
    # The order the broker lost no longer counts as working (see `MissingOrders`).
    assert (result.applied.reports, result.unchanged, result.working) == (0, 1, 1)
    assert broker.looked_up == ["2"]
    assert result.missing == (_row(app, "2")["id"],)
    assert _row(app, "2")["flags"] == ["missing"]
    assert not memo.holds(gone)  # the memo keeps only the latest list
    broker.listing = [kept, gone]  # back, as the very report it was: applied, flag cleared
    back = await _sync(app, broker, memo)
    assert (back.applied.applied, back.unchanged, back.missing) == (1, 1, ())
    assert _row(app, "2")["flags"] == []


async def test_an_order_found_by_lookup_is_applied_though_the_list_is_unchanged(
    app: App,
) -> None:
    broker, memo = FakeBroker(), ListMemo()
    kept = _report("1")
    broker.listing = [kept, _report("2")]
    await _sync(app, broker, memo)
    broker.listing = [kept]
    broker.lookups = {"2": _report("2", OrderStatus.CANCELLED)}
    result = await _sync(app, broker, memo)
    assert (result.applied.applied, result.unchanged, result.orders_examined) == (1, 1, 2)
    assert _row(app, "2")["status"] == "CANCELLED"


async def test_without_a_memo_every_report_goes_to_the_applier(app: App) -> None:
    broker = FakeBroker()
    broker.listing = [_report("1")]
    await sync_account(broker, app.applier, app.uow, app.clock)
    again = await sync_account(broker, app.applier, app.uow, app.clock)
    assert (again.applied.reports, again.applied.unchanged, again.unchanged) == (1, 1, 0)


async def test_an_order_listed_twice_is_never_skipped(app: App) -> None:
    broker, memo = FakeBroker(), ListMemo()
    older, newer = _report("1"), _report("1", OrderStatus.PARTIAL, filled=4)
    broker.listing = [older, newer, _report("2")]
    await _sync(app, broker, memo)
    again = await _sync(app, broker, memo)
    assert not memo.holds(older) and not memo.holds(newer)
    assert (again.applied.reports, again.unchanged) == (2, 1)
    assert _row(app, "1")["status"] == "PARTIAL"


async def test_a_sync_reaches_back_to_the_last_one_read_from_the_memo_or_the_database(
    app: App, clock: FakeClock
) -> None:
    broker, memo = FakeBroker(), ListMemo()
    broker.listing = [_report("1")]
    first_at = clock.now()
    await _sync(app, broker, memo)  # never synced: the whole lookback
    reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "sync_state" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    event.listen(app.engine, "before_cursor_execute", seen)
    try:
        clock.advance(5)
        await _sync(app, broker, memo)  # the memo knows when the last one began
        assert reads == []
        clock.advance(5)
        await _sync(app, broker, ListMemo())  # a new process: read from the database
        assert len(reads) == 1
    finally:
        event.remove(app.engine, "before_cursor_execute", seen)
    assert broker.asked_since == [
        first_at - timedelta(days=2),
        first_at - SINCE_SLACK,
        first_at + timedelta(seconds=5) - SINCE_SLACK,
    ]


async def test_an_order_the_broker_lost_is_working_again_once_the_stream_reports_it(
    database_url: str, clock: FakeClock
) -> None:
    # `MissingOrders`: "any report of it (listed, looked up, streamed) puts it back among
    # the working". A streamed report proves the broker knows the order again; if the stream
    # then misses its fill (BROKERS 4.1), the next poll's lookup must find it, not one a
    # minute after the last failed lookup, and the account must be on fast polls meanwhile.
    class StreamingBroker(FakeBroker):
        def __init__(self) -> None:
            super().__init__()
            self.queue: asyncio.Queue[StreamItem] = asyncio.Queue()

        def stream(self) -> AsyncIterator[StreamItem] | None:
            async def session() -> AsyncIterator[StreamItem]:
                while True:
                    yield await self.queue.get()

            return session()

    broker = StreamingBroker()
    settings = Settings(
        database_url=database_url, poll_interval_active=3600, poll_interval_idle=3600
    )
    app = bootstrap(settings, clock=clock, brokers={"paper:M1": broker})
    watcher = app.watchers["paper:M1"]
    running = asyncio.create_task(watcher.run())
    try:
        kept, gone = _report("1"), _report("2")
        broker.listing = [kept, gone]
        await eventually(lambda: watcher.stats.last_polled_at == clock.now())
        broker.listing, broker.lookups = [kept], {"2": None}
        clock.advance(1)
        lost = await watcher.reconcile()
        assert lost is not None and lost.missing == (_row(app, "2")["id"],)
        streamed = replace(_report("2", OrderStatus.PARTIAL, filled=4), source="stream")
        broker.queue.put_nowait(streamed)
        await eventually(lambda: _row(app, "2")["status"] == "PARTIAL")
        broker.lookups = {"2": _report("2", OrderStatus.FILLED, filled=10)}
        clock.advance(1)
        again = await watcher.reconcile()
        assert again is not None and again.working == 2  # both working: fast polls
        assert broker.looked_up == ["2", "2"]
        assert _row(app, "2")["status"] == "FILLED"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        app.applier.close()
        app.engine.dispose()

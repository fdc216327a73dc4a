"""The watcher's stream loop: messages applied in order while several are in flight, and a
failed apply reconciles from the broker's list at once, with no further message."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerUnavailable
from ordertrail.ports import PlaceRequest, PlaceResult, StreamConnected, StreamItem
from ordertrail.services.applier import Applier
from ordertrail.services.apply import ApplyResult
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, order_events, orders
from ordertrail.watchers.stats import AccountStats
from ordertrail.watchers.supervisor import AccountWatcher
from tests.support.eventually import eventually


class ScriptedStream:
    """A broker whose stream sessions play given messages; its list shows `listing`."""

    name = "paper"
    account_id = "S1"

    def __init__(self, sessions: list[list[StreamItem | asyncio.Event]]) -> None:
        self.sessions = sessions
        self.listing: list[OrderReport] = []
        self.lists = 0

    async def place(self, request: PlaceRequest) -> PlaceResult:
        raise NotImplementedError

    async def cancel(self, broker_order_id: str) -> None:
        raise NotImplementedError

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        self.lists += 1
        return list(self.listing)

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        return None

    def stream(self) -> AsyncIterator[StreamItem] | None:
        if not self.sessions:
            return None
        return self._play(self.sessions.pop(0))

    async def _play(self, items: list[StreamItem | asyncio.Event]) -> AsyncIterator[StreamItem]:
        for item in items:
            if isinstance(item, asyncio.Event):
                await item.wait()  # the test lets the rest through
            else:
                yield item
        await asyncio.Event().wait()  # the connection stays open


class RefusesOne(Applier):
    """The real applier, except that the batch holding `poison` fails."""

    poison: OrderReport | None = None

    def submit(self, reports: Sequence[OrderReport]) -> asyncio.Future[ApplyResult]:
        if self.poison is not None and self.poison in reports:
            failed: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()
            failed.set_exception(RuntimeError("disk full"))
            return failed
        return super().submit(reports)


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={})
    yield app
    app.applier.close()
    app.engine.dispose()


def _report(order: str, status: OrderStatus, filled: int) -> OrderReport:
    return OrderReport(
        broker="paper",
        account_id="S1",
        broker_order_id=order,
        status=status,
        quantity=D(300),
        filled_quantity=D(filled),
        avg_fill_price=D("1.5") if filled else None,
        instrument=Instrument("SPY"),
        source="stream",
    )


def _watcher(
    app: App, broker: ScriptedStream, applier: Applier, max_backoff: float = 0.05
) -> AccountWatcher:
    stats = AccountStats(broker="paper", account_id="S1")
    return AccountWatcher(
        broker, applier, app.uow, app.placer, app.clock, stats, idle_interval=60,
        max_backoff=max_backoff,
    )  # fmt: skip


async def _watch(
    app: App, broker: ScriptedStream, applier: Applier
) -> tuple[AccountWatcher, asyncio.Task[None]]:
    watcher = _watcher(app, broker, applier)
    return watcher, asyncio.create_task(watcher._stream_loop())


async def test_messages_in_flight_together_are_applied_in_their_order(app: App) -> None:
    messages: list[StreamItem | asyncio.Event] = [StreamConnected()]
    messages += [_report("7", OrderStatus.PARTIAL, n) for n in range(1, 300)]
    messages.append(_report("7", OrderStatus.FILLED, 300))
    watcher, task = await _watch(app, ScriptedStream([messages]), app.applier)
    try:
        await eventually(lambda: _filled(app) == D(300), timeout=20)
    finally:
        task.cancel()
    with app.engine.connect() as c:
        trail = (
            c.execute(select(order_events.c.filled_quantity).order_by(order_events.c.seq))
            .scalars()
            .all()
        )
        count = len(c.execute(select(fills.c.id)).all())
    assert trail == sorted(trail), "the trail went backwards: messages applied out of order"
    assert count == 300  # one fill per step, none twice
    assert watcher.stats.reconnects == 0


async def test_a_failed_apply_reconciles_at_once(app: App, clock: FakeClock) -> None:
    applier = RefusesOne(app.uow, clock)
    poison = _report("8", OrderStatus.PARTIAL, 5)
    applier.poison = poison
    gate = asyncio.Event()
    placed = _report("8", OrderStatus.PLACED, 0)
    broker = ScriptedStream([[StreamConnected(), placed, gate, poison]])
    watcher = AccountWatcher(
        broker,
        applier,
        app.uow,
        app.placer,
        app.clock,
        AccountStats(broker="paper", account_id="S1"),
        active_interval=60,
        idle_interval=60,
    )
    task = asyncio.create_task(watcher.run())
    try:
        await eventually(lambda: _filled(app) == D(0) and broker.lists >= 2, timeout=10)
        await asyncio.sleep(0.2)  # both first reconciles are over
        lists = broker.lists
        broker.listing = [replace(poison, source="poll")]  # the broker's truth, listed
        gate.set()
        # No message follows the failed one and no poll is due for a minute: only the
        # failure itself can make the watcher look at the list again.
        await eventually(lambda: _filled(app) == D(5), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        applier.close()
    assert broker.lists == lists + 1
    assert "disk full" in (watcher.stats.last_error or "")
    assert watcher.stats.reconnects == 0  # the stream itself was fine


class SlowList(ScriptedStream):
    """A broker whose list answers only when the test says (IBKR's paced list)."""

    def __init__(self, sessions: list[list[StreamItem | asyncio.Event]]) -> None:
        super().__init__(sessions)
        self.answer = asyncio.Event()

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        self.lists += 1
        await self.answer.wait()
        return list(self.listing)


async def test_messages_are_applied_while_the_reconcile_on_connect_waits_for_the_list(
    app: App,
) -> None:
    broker = SlowList([[StreamConnected(), _report("9", OrderStatus.PARTIAL, 4)]])
    broker.listing = [replace(_report("9", OrderStatus.PARTIAL, 2), source="poll")]
    watcher, task = await _watch(app, broker, app.applier)
    try:
        await eventually(lambda: broker.lists == 1 and _filled(app) == D(4), timeout=10)
        assert not broker.answer.is_set()  # applied while the list is still being asked
        broker.answer.set()
        await eventually(lambda: watcher.stats.last_reconciled_at is not None, timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert _filled(app) == D(4)  # the older list moved nothing back
    assert watcher.stats.reconnects == 0


def _filled(app: App) -> D | None:
    with app.engine.connect() as c:
        value = c.execute(select(orders.c.filled_quantity)).scalar()
    return D(value) if value is not None else None


class RefusedAfterConnecting(ScriptedStream):
    """Every session connects, then is refused at once (an expired or unsupported session)."""

    def stream(self) -> AsyncIterator[StreamItem] | None:
        return self._refused()

    async def _refused(self) -> AsyncIterator[StreamItem]:
        yield StreamConnected()
        raise BrokerUnavailable("session not found", broker=self.name)


async def test_sessions_refused_right_after_connecting_back_off(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not a session minted (and a list reconciled) every second for ever: the backoff grows
    # as for sessions that never connect.
    waits: list[float] = []
    sleep = asyncio.sleep

    async def no_wait(delay: float, *args: object) -> object:
        if delay < 0.25:  # not a backoff (the shortest is 0.5 s, jittered to half)
            return await sleep(delay, *args)
        waits.append(delay)
        if len(waits) >= 8:
            raise asyncio.CancelledError
        return await sleep(0)

    watcher = _watcher(app, RefusedAfterConnecting([]), app.applier, max_backoff=30)
    monkeypatch.setattr("ordertrail.watchers.supervisor.asyncio.sleep", no_wait)
    with contextlib.suppress(asyncio.CancelledError):
        await watcher._stream_loop()
    assert len(waits) == 8
    assert waits[-1] >= 15  # 30 s at most, jittered down to half
    assert all(later >= earlier / 2 for earlier, later in itertools.pairwise(waits))

"""Two processes (two apps, each with its own engine, pool and writer thread) acting at
once on one PostgreSQL database: what one does never undoes or doubles what the other did."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders, trades
from tests.conftest import _fresh_postgres

pytestmark = pytest.mark.postgres
SPY = Instrument("SPY")


@pytest.fixture
async def two(postgres_url: str | None) -> AsyncIterator[tuple[App, App, PaperBroker]]:
    """Two processes on one database, one (paper) broker account both can reach."""
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    url = _fresh_postgres(postgres_url)
    clock = FakeClock()
    paper = PaperBroker(PaperConfig(account_id="P1", default=Behaviour.WORK), clock)
    a = bootstrap(Settings(database_url=url), clock=clock, brokers={"paper:P1": paper})
    b = bootstrap(Settings(database_url=url), clock=clock, brokers={"paper:P1": paper})
    yield a, b, paper
    for app in (a, b):
        app.applier.close()
        app.engine.dispose()


def _proposal(app: App, kind: ProposalKind, **asked: Any) -> int:
    request = NewProposal(kind=kind, broker="paper", account_id="P1", **asked)
    return create_proposal(app.uow(), request, app.clock).id


def _fill(order: Any, quantity: int, price: int, side: str) -> OrderReport:
    return OrderReport(
        broker="paper",
        account_id="P1",
        broker_order_id=order.state.broker_order_id,
        client_order_id=order.client_order_id,
        status=OrderStatus.FILLED,
        filled_quantity=D(quantity),
        avg_fill_price=D(price),
        quantity=D(quantity),
        remaining_quantity=D(0),
        instrument=SPY,
        side=side,
    )


def _entry(app: App, quantity: int, price: int) -> int:
    """An ENTRY proposal of `quantity` SPY at a limit of `price`."""
    return _proposal(
        app,
        ProposalKind.ENTRY,
        instrument=SPY,
        quantity=D(quantity),
        order_type="limit",
        limit_price=D(price),
    )


def _exit(app: App, trade_id: int, quantity: int, price: int) -> int:
    """An EXIT proposal of `quantity` of the trade at a limit of `price`."""
    return _proposal(
        app,
        ProposalKind.EXIT,
        linked_trade_id=trade_id,
        quantity=D(quantity),
        order_type="limit",
        limit_price=D(price),
    )


async def _open_trade(app: App, quantity: int) -> int:
    """An ENTRY placed and filled: an OPEN trade of `quantity` SPY bought at 100."""
    pid = _proposal(
        app,
        ProposalKind.ENTRY,
        instrument=SPY,
        quantity=D(quantity),
        order_type="limit",
        limit_price=D(100),
    )
    entry = await app.placer.submit(pid)
    await app.applier.apply([_fill(entry, quantity, 100, "buy")])
    with app.engine.connect() as c:
        trade_id = c.execute(select(orders.c.trade_id).where(orders.c.id == entry.id)).scalar()
    assert trade_id is not None
    return int(trade_id)


async def test_a_cancel_in_one_process_never_withdraws_an_order_another_is_placing(
    two: tuple[App, App, PaperBroker],
) -> None:
    # Process A submits a proposal; process B cancels it a moment later. Whatever the
    # interleaving, an order the broker holds must not end CANCELLED ("withdrawn before it
    # reached the broker") while it works at the broker.
    a, b, paper = two
    broken: list[str] = []
    for _ in range(200):
        pid = _entry(a, 1, 1)

        async def cancel_soon(pid: int = pid) -> Any:
            await asyncio.sleep(random.uniform(0, 0.004))
            return await b.placer.cancel(pid)

        await asyncio.gather(a.placer.submit(pid), cancel_soon(), return_exceptions=True)
        with a.engine.connect() as c:
            row = c.execute(select(orders).where(orders.c.proposal_id == pid)).first()
        if row is None:
            continue  # withdrawn before it was recorded: nothing placed
        at_broker = [
            r
            for r in await paper.list_orders(a.clock.now())
            if r.client_order_id == row.client_order_id
        ]
        working = [r for r in at_broker if r.status is OrderStatus.PLACED]
        if working and row.status == "CANCELLED":
            broken.append(
                f"proposal {pid}: order {row.id} is {row.status} ({row.reason}, placement "
                f"{row.placement}) but broker order {working[0].broker_order_id} is working"
            )
    assert not broken, f"{len(broken)} of 200 races: " + "; ".join(broken[:3])


async def test_two_processes_never_place_two_full_exits_of_one_trade(
    two: tuple[App, App, PaperBroker],
) -> None:
    # _check_exit refuses an EXIT for more than the trade has open less what working EXIT
    # orders may still take out. Two API processes submitting two full exits of one trade
    # at once must place only one of them.
    a, b, _ = two
    broken: list[str] = []
    for _ in range(20):
        trade_id = await _open_trade(a, 10)
        first, second = (_exit(a, trade_id, 10, 110) for _ in range(2))
        await asyncio.gather(
            a.placer.submit(first), b.placer.submit(second), return_exceptions=True
        )
        with a.engine.connect() as c:
            placed = c.execute(
                select(func.count())
                .select_from(orders)
                .where(
                    orders.c.trade_id == trade_id,
                    orders.c.side == "EXIT",
                    orders.c.status == "PLACED",
                )
            ).scalar_one()
        if placed > 1:
            broken.append(f"trade {trade_id} (10 open): {placed} EXIT orders of 10 working")
    assert not broken, f"{len(broken)} of 20 races: " + "; ".join(broken[:3])


async def test_two_processes_filling_two_exits_of_one_trade_close_it(
    two: tuple[App, App, PaperBroker],
) -> None:
    # A trade of 10 with two EXIT orders of 5. One process applies the first exit's fill
    # (say its worker's stream) while another applies the second's (a reconcile or the test
    # endpoint in an API process). Both fills must count: the trade ends CLOSED, 10 out.
    a, b, _ = two
    broken: list[str] = []
    for _ in range(20):
        trade_id = await _open_trade(a, 10)
        exits = [await a.placer.submit(_exit(a, trade_id, 5, price)) for price in (110, 120)]
        await asyncio.gather(
            a.applier.apply([_fill(exits[0], 5, 110, "sell")]),
            b.applier.apply([_fill(exits[1], 5, 120, "sell")]),
        )
        # the next poll lists both exits again, FILLED: repeats, nothing changes
        await a.applier.apply([_fill(exits[0], 5, 110, "sell"), _fill(exits[1], 5, 120, "sell")])
        with a.engine.connect() as c:
            trade = c.execute(select(trades).where(trades.c.id == trade_id)).one()
            statuses = (
                c.execute(
                    select(orders.c.status).where(
                        orders.c.trade_id == trade_id, orders.c.side == "EXIT"
                    )
                )
                .scalars()
                .all()
            )
        if (trade.status, trade.exit_quantity) != ("CLOSED", 10):
            broken.append(
                f"trade {trade_id}: {trade.status}, exit_quantity {trade.exit_quantity}, "
                f"pnl {trade.realized_pnl}; its exits are {sorted(statuses)}"
            )
    assert not broken, f"{len(broken)} of 20 races: " + "; ".join(broken[:3])


# --- races that held before as well ------------------------------------------------------


async def test_two_processes_submitting_one_proposal_place_it_once(
    two: tuple[App, App, PaperBroker],
) -> None:
    a, b, paper = two
    for _ in range(100):
        pid = _entry(a, 1, 1)
        await asyncio.gather(a.placer.submit(pid), b.placer.submit(pid), return_exceptions=True)
    listed = await paper.list_orders(a.clock.now())
    assert len(listed) == 100
    assert len({r.client_order_id for r in listed}) == 100


async def test_two_processes_filling_one_entry_open_one_trade(
    two: tuple[App, App, PaperBroker],
) -> None:
    # Two processes apply different fills of one ENTRY order at once: the loser's transaction
    # fails on order_events (order_id, seq) and is applied again (as the next poll would);
    # the result is one trade with the whole fill, counted once.
    a, b, _ = two
    conflicts = 0
    for _ in range(30):
        pid = _entry(a, 10, 100)
        entry = await a.placer.submit(pid)
        partial = OrderReport(
            broker="paper",
            account_id="P1",
            broker_order_id=entry.state.broker_order_id,
            client_order_id=entry.client_order_id,
            status=OrderStatus.PARTIAL,
            filled_quantity=D(4),
            avg_fill_price=D(100),
            quantity=D(10),
            remaining_quantity=D(6),
            instrument=SPY,
            side="buy",
        )
        full = _fill(entry, 10, 100, "buy")
        outcomes = await asyncio.gather(
            a.applier.apply([partial]), b.applier.apply([full]), return_exceptions=True
        )
        conflicts += sum(isinstance(o, Exception) for o in outcomes)
        await a.applier.apply([partial])  # the next poll of each process
        await b.applier.apply([full])
        with a.engine.connect() as c:
            row = c.execute(select(orders).where(orders.c.id == entry.id)).one()
            n_trades = c.execute(
                select(func.count()).select_from(trades).where(trades.c.id == row.trade_id)
            ).scalar_one()
            trade = c.execute(select(trades).where(trades.c.id == row.trade_id)).one()
        assert (row.status, row.filled_quantity, row.fills_quantity) == ("FILLED", 10, 10)
        assert n_trades == 1 and trade.quantity == 10
    with a.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(trades)).scalar_one() == 30
    print(f"conflicts (transient unique violations): {conflicts} of 30")


# --- leases ----------------------------------------------------------------------------------


class _Polled:
    """A quiet broker account that notes when this process polls it."""

    name = "paper"
    account_id = "L1"

    def __init__(self) -> None:
        self.polls: list[float] = []

    async def place(self, request: Any) -> Any:
        raise NotImplementedError

    async def cancel(self, broker_order_id: str) -> None:
        raise NotImplementedError

    async def list_orders(self, since: Any) -> list[OrderReport]:
        self.polls.append(asyncio.get_running_loop().time())
        return []

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        return None

    def stream(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_a_worker_whose_lease_connection_dies_stops_watching_before_another_starts(
    postgres_url: str | None,
) -> None:
    # docs/scaling.md: "If a worker's own lease connection breaks, it stops all its watchers
    # at once rather than risk a second watcher elsewhere." Break worker A's lease connection
    # (as a restart of that backend, a network cut or an admin would): when worker B takes
    # the account over, no poll of A may come after B has begun to watch it.
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    url = _fresh_postgres(postgres_url)
    settings = Settings(database_url=url, poll_interval_active=0.5, poll_interval_idle=0.05)
    ba, bb = _Polled(), _Polled()
    a = bootstrap(settings, brokers={"paper:L1": ba})
    b = bootstrap(settings, brokers={"paper:L1": bb})
    overlaps: list[str] = []
    takeovers = 0
    wa = asyncio.create_task(a.run_watchers())
    wb: asyncio.Task[None] | None = None
    try:
        await asyncio.sleep(1.2)
        wb = asyncio.create_task(b.run_watchers())
        for _ in range(12):
            holder, other = (ba, bb) if not bb.polls or ba.polls[-1] > bb.polls[-1] else (bb, ba)
            await asyncio.sleep(1.0 + random.uniform(0, 0.5))
            cut = asyncio.get_running_loop().time()
            with a.engine.connect() as c:  # the backend holding the account's lock goes
                c.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                )
            await asyncio.sleep(1.5)
            began = [t for t in other.polls if t > cut]
            if not began:
                continue  # the holder took it back first: one watcher all along
            takeovers += 1
            late = [t - began[0] for t in holder.polls if t > began[0]]
            if late:
                overlaps.append(f"{len(late)} polls, up to {max(late):.2f} s after B's first")
    finally:
        for task in (wa, wb):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for app in (a, b):
            app.applier.close()
            app.engine.dispose()
    assert takeovers
    assert not overlaps, f"{len(overlaps)} of {takeovers} takeovers: old owner polled on: " + (
        "; ".join(overlaps)
    )

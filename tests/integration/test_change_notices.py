"""Committed changes reach every process through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from ordertrail.api.app import create_app
from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.notify import ChangeNotice, PostgresChangeBus
from ordertrail.services.changes import Changed
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import alerts
from tests.api.support import ALERTS, TestClient
from tests.conftest import _fresh_postgres


def test_large_notices_split_into_payloads_postgres_accepts() -> None:
    notice = ChangeNotice(frozenset(range(10_000, 13_000)), frozenset({1}), frozenset({2}), 5)
    payloads = list(notice.payloads())
    assert len(payloads) > 1 and all(len(p) < 8000 for p in payloads)
    parts = [ChangeNotice.parse(p) for p in payloads]
    assert frozenset().union(*(p.order_ids for p in parts)) == notice.order_ids
    assert frozenset().union(*(p.trade_ids for p in parts)) == {1}


@contextlib.asynccontextmanager
async def _heard(app: App) -> AsyncIterator[asyncio.Queue[ChangeNotice]]:
    """Every change notice `app`'s process hears, while the block runs."""
    heard: asyncio.Queue[ChangeNotice] = asyncio.Queue()

    async def listen() -> None:
        async for notice in PostgresChangeBus(app.engine).listen():
            heard.put_nowait(notice)

    listener = asyncio.create_task(listen())
    try:
        yield heard
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


@pytest.mark.postgres
async def test_a_batch_applied_by_one_process_is_announced_to_another(
    postgres_url: str | None,
) -> None:
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    worker = bootstrap(Settings(database_url=postgres_url), brokers={})
    api = bootstrap(Settings(database_url=postgres_url), brokers={})
    assert worker.change_bus is not None  # bootstrap publishes on PostgreSQL
    try:
        report = OrderReport(
            broker="paper",
            account_id="P1",
            broker_order_id="77",
            status=OrderStatus.PLACED,
            instrument=Instrument("SPY"),
            quantity=D(1),
        )
        async with _heard(api) as heard:
            for _ in range(50):  # the LISTEN may not be in place yet: repeat until heard
                result = await worker.applier.apply([report])
                try:
                    notice = await asyncio.wait_for(heard.get(), timeout=0.2)
                    break
                except TimeoutError:
                    number = int(report.broker_order_id or 0) + 1
                    report = replace(report, broker_order_id=str(number))
            else:
                raise AssertionError("no change notice arrived")
        assert notice.order_ids == frozenset(result.order_ids)
        assert notice.order_ids
    finally:
        await worker.aclose()
        await api.aclose()


@pytest.mark.postgres
async def test_writes_beside_the_apply_path_are_announced_to_other_processes(
    postgres_url: str | None,
) -> None:
    # A submit records the order before the broker is called, and a cancel request writes
    # its CANCEL_REQUESTED event; neither goes through the apply path. Another API process's
    # live pages must hear of both, and of a proposal cancelled before it had an order.
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    url = _fresh_postgres(postgres_url)
    paper = PaperBroker(PaperConfig(account_id="P1", default=Behaviour.WORK))
    worker = bootstrap(Settings(database_url=url), brokers={"paper:P1": paper})
    api = bootstrap(Settings(database_url=url), brokers={})

    def proposal() -> int:
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("SPY"),
            quantity=D(1),
            order_type="limit",
            limit_price=D(100),
        )
        return create_proposal(worker.uow(), request, worker.clock).id

    async def quiet(heard: asyncio.Queue[ChangeNotice]) -> list[ChangeNotice]:
        """Every notice until none came for a while."""
        notices = []
        with contextlib.suppress(TimeoutError):
            while True:
                notices.append(await asyncio.wait_for(heard.get(), timeout=0.5))
        return notices

    try:
        async with _heard(api) as heard:
            for _ in range(50):  # the LISTEN may not be in place yet: repeat until heard
                worker.applier.tell(Changed(proposal_ids=frozenset({0})))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(heard.get(), timeout=0.2)
                    break
            else:
                raise AssertionError("no change notice arrived")
            await quiet(heard)
            working = proposal()
            order = await worker.placer.submit(working)
            told = await quiet(heard)
            assert any(order.id in n.order_ids and working in n.proposal_ids for n in told)
            await worker.placer.cancel(working)  # a cancel request: the broker's report decides
            (asked,) = await quiet(heard)
            assert (asked.order_ids, asked.proposal_ids) == ({order.id}, {working})
            unsent = proposal()
            await worker.placer.cancel(unsent)
            (cancelled,) = await quiet(heard)
            assert (cancelled.order_ids, cancelled.proposal_ids) == (frozenset(), {unsent})
            with TestClient(create_app(worker, run_watchers=False)) as client:
                answer = client.post("/api/alerts/import", json=ALERTS)
            assert answer.status_code == 200, answer.text
            (imported,) = await quiet(heard)
        with worker.engine.connect() as connection:
            stored = set(connection.execute(select(alerts.c.id)).scalars())
        assert imported.alert_ids == stored and len(stored) == 2
    finally:
        await worker.aclose()
        await api.aclose()

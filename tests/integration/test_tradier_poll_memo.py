"""Polling the fake Tradier with a list memo: an unchanged list is neither parsed nor applied."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.tradier import TradierBroker, TradierConfig, list_cache
from ordertrail.brokers.tradier.parsing import parse_order_dict
from ordertrail.domain.report import OrderReport
from ordertrail.services.sync import ListMemo, SyncResult, sync_account
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, orders
from tests.fakes.tradier import FakeTradier

TOKEN = "tok-memo-SECRET-4c1d"
ACCOUNT = "VA66666666"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeTradier]:
    with FakeTradier(token=TOKEN, accounts=(ACCOUNT,)) as fake:
        yield fake


@pytest.fixture
def fake(served: FakeTradier) -> FakeTradier:
    served.reset()
    served.set_knobs(initial_status="open")
    return served


@pytest.fixture
async def broker(fake: FakeTradier) -> AsyncIterator[TradierBroker]:
    config = TradierConfig(
        access_token=TOKEN,
        account_id=ACCOUNT,
        base_url=fake.base_url,
        stream_enabled=False,
        retry_backoff_s=0.01,
        request_timeout_s=2.0,
    )
    tradier = TradierBroker(config)
    yield tradier
    await tradier.aclose()


@pytest.fixture
def app(broker: TradierBroker, database_url: str) -> Iterator[App]:
    app = bootstrap(Settings(database_url=database_url), brokers={f"tradier:{ACCOUNT}": broker})
    yield app
    app.applier.close()
    app.engine.dispose()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The ids of the listed orders the adapter parses (the real parser, counted)."""
    ids: list[object] = []

    def counted(order: Mapping[str, Any], account_id: str, source: str) -> OrderReport:
        ids.append(order.get("id"))
        return parse_order_dict(order, account_id, source)

    monkeypatch.setattr(list_cache, "parse_order_dict", counted)
    return ids


async def _poll(app: App, broker: TradierBroker, memo: ListMemo) -> SyncResult:
    return await sync_account(broker, app.applier, app.uow, app.clock, memo=memo)


def _order(app: App, broker_order_id: int) -> tuple[str, D]:
    with app.engine.connect() as c:
        row = c.execute(
            select(orders.c.status, orders.c.filled_quantity).where(
                orders.c.broker_order_id == str(broker_order_id)
            )
        ).one()
    return row.status, D(row.filled_quantity)


def _fills(app: App) -> int:
    with app.engine.connect() as c:
        return len(c.execute(select(fills.c.id)).all())


async def test_an_unchanged_poll_parses_and_applies_nothing_and_a_fill_applies_only_itself(
    app: App, fake: FakeTradier, broker: TradierBroker, parsed: list[object]
) -> None:
    ids = [
        fake.create_order("AAPL", quantity=10, type="limit", price="187.00"),
        fake.create_order("MSFT", quantity=5, type="limit", price="401.00"),
        fake.create_order("SPY", quantity=2, type="limit", price="512.00"),
    ]
    memo = ListMemo()
    first = await _poll(app, broker, memo)
    assert (first.applied.orders_created, first.unchanged, len(parsed)) == (3, 0, 3)

    parsed.clear()
    idle = await _poll(app, broker, memo)
    assert parsed == []
    assert (idle.orders_examined, idle.unchanged, idle.applied.reports) == (3, 3, 0)
    assert idle.working == 3 and idle.missing == ()

    fake.fill(ids[1], 2, "400.90")
    moved = await _poll(app, broker, memo)
    assert parsed == [ids[1]]
    assert (moved.applied.reports, moved.applied.applied, moved.unchanged) == (1, 1, 2)
    assert moved.fill_events_processed == 1 and _fills(app) == 1
    assert _order(app, ids[1]) == ("PARTIAL", D(2))
    assert _order(app, ids[0]) == ("PLACED", D(0))

    parsed.clear()
    settled = await _poll(app, broker, memo)
    assert parsed == [] and settled.applied.reports == 0 and _fills(app) == 1


async def test_the_watchers_polls_keep_a_memo_of_their_own(
    app: App, fake: FakeTradier, parsed: list[object]
) -> None:
    fake.create_order("AAPL", quantity=10, type="limit", price="187.00")
    fake.create_order("MSFT", quantity=5, type="limit", price="401.00")
    watcher = app.watchers[f"tradier:{ACCOUNT}"]
    first = await watcher.reconcile()
    assert first is not None and first.applied.orders_created == 2

    parsed.clear()
    again = await watcher.reconcile()
    assert again is not None
    assert (again.unchanged, again.applied.reports, parsed) == (2, 0, [])

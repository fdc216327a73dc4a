"""ordertrail against the fake Tradier server: placing, adopting, alerts, lost answers, the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import option_instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.errors import InvalidRequest
from ordertrail.services.alerts_io import export_alerts, import_alerts
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, orders, sync_state, trades
from tests.brokers.tradier.conftest import place_oco
from tests.fakes.tradier import FakeTradier, Fault

TOKEN = "tok-app-SECRET-91b2"
ACCOUNT = "VA55555555"
KEY = f"tradier:{ACCOUNT}"
CALL = option_instrument("TSLA", D(95), "C", expiry=date(2026, 12, 18))


@pytest.fixture(scope="module")
def served() -> Iterator[FakeTradier]:
    with FakeTradier(token=TOKEN, accounts=(ACCOUNT,)) as fake:
        yield fake


@pytest.fixture
def fake(served: FakeTradier) -> FakeTradier:
    served.reset()
    return served


def _config(fake: FakeTradier) -> TradierConfig:
    return TradierConfig(
        access_token=TOKEN,
        account_id=ACCOUNT,
        base_url=fake.base_url,
        stream_enabled=False,
        retry_backoff_s=0.01,
        request_timeout_s=2.0,
        fill_data_deadline_s=1.0,
        fill_data_interval_s=0.05,
    )


@pytest.fixture
def app(fake: FakeTradier, database_url: str) -> Iterator[App]:
    broker = TradierBroker(_config(fake))
    app = bootstrap(Settings(database_url=database_url), brokers={f"tradier:{ACCOUNT}": broker})
    yield app
    app.applier.close()
    app.engine.dispose()


def _rows(app: App) -> list[dict[str, object]]:
    with app.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(orders).order_by(orders.c.id))]


async def _reconcile(app: App) -> None:
    assert await app.watchers[f"tradier:{ACCOUNT}"].reconcile() is not None


def _entry(app: App, quantity: int = 2) -> int:
    request = NewProposal(
        kind=ProposalKind.ENTRY,
        broker="tradier",
        account_id=ACCOUNT,
        instrument=CALL,
        quantity=D(quantity),
        order_type="limit",
        limit_price=D("2.40"),
    )
    return create_proposal(app.uow(), request, app.clock).id


async def test_entry_and_exit_orders_carry_our_tags_and_close_the_trade(
    app: App, fake: FakeTradier
) -> None:
    order = await app.placer.submit(_entry(app))
    assert order.client_order_id and order.state.broker_order_id
    at_broker = fake.orders_with_tag(order.client_order_id)
    assert [o.option_symbol for o in at_broker] == [CALL.option_symbol]
    fake.fill(int(order.state.broker_order_id), 2, "2.40")
    await _reconcile(app)
    trade_id = _rows(app)[0]["trade_id"]
    assert trade_id is not None
    exit_request = NewProposal(
        kind=ProposalKind.EXIT,
        broker="tradier",
        account_id=ACCOUNT,
        linked_trade_id=int(str(trade_id)),
        order_type="limit",
        limit_price=D("3.10"),
    )
    exit_order = await app.placer.submit(create_proposal(app.uow(), exit_request, app.clock).id)
    assert exit_order.client_order_id and "-EXIT-" in exit_order.client_order_id
    assert fake.orders_with_tag(exit_order.client_order_id)[0].side == "sell_to_close"
    assert exit_order.state.broker_order_id is not None
    fake.fill(int(exit_order.state.broker_order_id), 2, "3.10")
    await _reconcile(app)
    with app.engine.connect() as c:
        trade = c.execute(select(trades)).one()
    assert (trade.status, trade.realized_pnl) == ("CLOSED", D(140))


async def test_an_order_placed_by_hand_is_adopted_and_opens_alerts_of_every_alerter(
    app: App, fake: FakeTradier
) -> None:
    entry = {"open": False, "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"}}
    import_alerts(
        app.uow(),
        {
            "RealDayTrading": {"TSLA": entry},
            "Demslayer": {"TSLA": entry},
            "ProfAndKian": {"AAPL": {"open": False}},
        },
        app.clock,
    )
    broker_id = fake.create_order(
        "TSLA", "buy_to_open", 3, "market", klass="option", option_symbol=CALL.option_symbol
    )
    fake.fill(broker_id, 1, "2.50")
    await _reconcile(app)
    fake.fill(broker_id, 2, "2.56")
    await _reconcile(app)
    await _reconcile(app)
    (row,) = _rows(app)
    assert row["external"] is True and row["status"] == "FILLED" and row["proposal_id"] is None
    assert row["broker_order_id"] == str(broker_id)
    exported = export_alerts(app.uow())
    for source in ("RealDayTrading", "Demslayer"):
        update = exported[source]["TSLA"]["last_order_update"]
        assert exported[source]["TSLA"]["open"] is True
        assert (update["order_id"], update["status"], update["filled_qty"]) == (
            str(broker_id),
            "FILLED",
            3,
        )
    assert "last_order_update" not in exported["ProfAndKian"]["AAPL"]


async def test_a_placement_whose_answer_is_lost_is_found_by_tag_and_never_placed_again(
    app: App, fake: FakeTradier
) -> None:
    fake.lose_next_place(Fault.GATEWAY_TIMEOUT)
    order = await app.placer.submit(_entry(app))
    assert order.client_order_id is not None
    assert order.state.status.value == "PENDING" and order.state.broker_order_id is None
    await _reconcile(app)
    await _reconcile(app)
    assert await app.placer.resume("tradier", ACCOUNT, grace_s=0) == 0
    (row,) = _rows(app)
    at_broker = fake.orders_with_tag(order.client_order_id)
    assert len(at_broker) == 1
    assert row["broker_order_id"] == str(at_broker[0].id) and row["status"] == "PLACED"


def _listing_filters(fake: FakeTradier) -> list[str | None]:
    listings = [r for r in fake.requests_to("GET", "/orders") if r.path.endswith("/orders")]
    return [r.query.get("filter") for r in listings]


async def test_the_list_reaches_back_past_today_only_after_a_gap(
    app: App, fake: FakeTradier, database_url: str
) -> None:
    # Tradier may cut off an app that polls with filter=all: that is for backfill only.
    await _reconcile(app)  # the first sync ever backfills (and reads today's list)
    assert _listing_filters(fake) == ["all", None]
    await _reconcile(app)
    await _reconcile(app)
    assert _listing_filters(fake) == ["all", None, None, None]
    # The service was down since yesterday (its last sync is a day old); meanwhile an order
    # was placed by hand and cancelled. A new process starts.
    last_seen = fake.clock() - timedelta(days=1, hours=1)
    with app.engine.begin() as c:
        c.execute(update(sync_state).values(last_polled_at=last_seen))
    made = fake.create_order("AAPL", created=fake.clock() - timedelta(days=1), status="canceled")
    key = f"tradier:{ACCOUNT}"
    later = bootstrap(
        Settings(database_url=database_url), brokers={key: TradierBroker(_config(fake))}
    )
    try:
        assert await later.watchers[key].reconcile() is not None
        assert _listing_filters(fake)[-2:] == ["all", None]
        assert [r["broker_order_id"] for r in _rows(later)] == [str(made)]
        assert await later.watchers[KEY].reconcile() is not None
        assert _listing_filters(fake)[-1] is None
    finally:
        await later.aclose()


async def test_an_oco_placed_by_hand_is_tracked_as_its_two_children_and_its_fill_kept(
    app: App, fake: FakeTradier
) -> None:
    _, limit_id, stop_id = await place_oco(fake)
    await _reconcile(app)
    assert [(r["broker_order_id"], r["status"]) for r in _rows(app)] == [
        (limit_id, "PLACED"),
        (stop_id, "PLACED"),
    ]
    fake.fill(int(limit_id), 10, "200")
    await _reconcile(app)
    rows = _rows(app)
    assert [(r["broker_order_id"], r["status"]) for r in rows] == [
        (limit_id, "FILLED"),
        (stop_id, "CANCELLED"),
    ]
    assert rows[0]["external"] and rows[0]["filled_quantity"] == D(10)
    with app.engine.connect() as c:
        kept = c.execute(select(fills.c.order_id, fills.c.quantity, fills.c.price)).all()
    assert [tuple(f) for f in kept] == [(rows[0]["id"], D(10), D(200))]


def test_sync_once_fills_orders_list_json(fake: FakeTradier, tmp_path: Path) -> None:
    working = fake.create_order("AAPL", "buy", 100, "limit", price="187.50", tag="cli-test-1")
    fake.fill(working, 40, "187.48")
    done = fake.create_order("SPY", "sell", 5, "market")
    fake.fill(done, 5, "450.10")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")} | {
        "ORDERTRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "ORDERTRAIL_TRADIER_ACCESS_TOKEN": TOKEN,
        "ORDERTRAIL_TRADIER_ACCOUNT_ID": ACCOUNT,
        "ORDERTRAIL_TRADIER_BASE_URL": fake.base_url,
        "ORDERTRAIL_TRADIER_STREAM": "false",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ordertrail", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    synced = cli("sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert TOKEN not in synced.stdout + synced.stderr
    listed = cli("orders", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {row["broker_order_id"]: row for row in json.loads(listed.stdout)}
    aapl, spy = by_id[str(working)], by_id[str(done)]
    assert (
        aapl["status"],
        aapl["broker_status"],
        aapl["filled_quantity"],
        aapl["quantity"],
        aapl["remaining_quantity"],
        aapl["avg_fill_price"],
        aapl["client_order_id"],
        aapl["external"],
    ) == ("PARTIAL", "partially_filled", "40", "100", "60", "187.48", "cli-test-1", True)
    assert (spy["status"], spy["filled_quantity"], spy["avg_fill_price"], spy["side"]) == (
        "FILLED",
        "5",
        "450.1",
        None,
    )


async def test_an_old_working_gtc_order_no_longer_listed_is_looked_up_not_called_missing(
    app: App, fake: FakeTradier
) -> None:
    made = fake.create_order(
        "MSFT",
        type="limit",
        price=300,
        quantity=4,
        duration="gtc",
        created=fake.clock() - timedelta(days=3),
    )
    await _reconcile(app)  # today's list carries working GTC orders over: adopted
    assert [(r["broker_order_id"], r["status"]) for r in _rows(app)] == [(str(made), "PLACED")]
    fake.set_knobs(gtc_carry_over=False)  # now only a lookup by id finds it
    await _reconcile(app)
    [row] = _rows(app)
    assert row["status"] == "PLACED" and "missing" not in row["flags"]
    fake.fill(made, 4, "299.5")
    await _reconcile(app)
    [row] = _rows(app)
    assert row["status"] == "FILLED" and row["filled_quantity"] == D(4)
    lookups = [r for r in fake.requests_to("GET", f"/orders/{made}")]
    assert len(lookups) >= 2


async def test_a_placement_that_timed_out_with_nothing_placed_is_resent_once_only(
    app: App, fake: FakeTradier
) -> None:
    # Both sends time out before Tradier made anything: the first is resent after the doubt
    # period (the list proves it never arrived), the resend never again.
    fake.inject(Fault.GATEWAY_TIMEOUT, times=2, method="POST", path="/orders")
    order = await app.placer.submit(_entry(app))
    assert order.client_order_id is not None and order.state.status.value == "PENDING"
    await _reconcile(app)
    assert await app.placer.resume("tradier", ACCOUNT, grace_s=0, doubt_s=0) == 1
    await _reconcile(app)
    assert await app.placer.resume("tradier", ACCOUNT, grace_s=0, doubt_s=0) == 0
    assert len(fake.requests_to("POST", "/orders")) == 2
    assert fake.orders_with_tag(order.client_order_id) == []
    (row,) = _rows(app)
    assert row["placement"] == "resent" and row["status"] == "PENDING"
    # Cancelling it: refused while a sync may still find it; withdrawn once a sync made
    # `doubt_s` after the resend has not (here 0 s, and the last sync followed the resend).
    with pytest.raises(InvalidRequest, match="has not answered"):
        await app.placer.cancel(int(str(row["proposal_id"])))
    await replace(app.placer, doubt_s=0).cancel(int(str(row["proposal_id"])))
    (row,) = _rows(app)
    assert (row["placement"], row["status"]) == ("withdrawn", "CANCELLED")
    assert len(fake.requests_to("POST", "/orders")) == 2


async def test_cancelling_a_resend_whose_answer_was_lost_waits_for_the_broker_to_show_it(
    app: App, fake: FakeTradier
) -> None:
    # The first send times out with nothing placed; the resend reaches Tradier but its answer
    # is lost. Cancelling then must not withdraw the order locally (nothing would ask Tradier
    # to cancel the live order it holds): it is refused until a sync has found the order,
    # and then goes to Tradier like any cancel.
    fake.inject(Fault.GATEWAY_TIMEOUT, times=1, method="POST", path="/orders")
    proposal_id = _entry(app)
    await app.placer.submit(proposal_id)
    await _reconcile(app)
    fake.lose_next_place()
    assert await app.placer.resume("tradier", ACCOUNT, grace_s=0, doubt_s=0) == 1
    (row,) = _rows(app)
    assert (row["placement"], row["status"], row["broker_order_id"]) == ("resent", "PENDING", None)
    with pytest.raises(InvalidRequest, match="has not answered"):
        await app.placer.cancel(proposal_id)
    await _reconcile(app)
    (row,) = _rows(app)
    assert row["status"] == "PLACED" and row["broker_order_id"] is not None
    await app.placer.cancel(proposal_id)
    await _reconcile(app)
    (row,) = _rows(app)
    assert row["status"] == "CANCELLED"
    assert fake.order(int(str(row["broker_order_id"]))).status == "canceled"


@contextlib.asynccontextmanager
async def _clocked(
    database_url: str, clock: FakeClock, **config: Any
) -> AsyncIterator[tuple[App, FakeTradier]]:
    """An app and its own fake Tradier, both on `clock` (config fields overridden)."""
    async with FakeTradier(token=TOKEN, accounts=(ACCOUNT,), clock=clock.now) as fake:
        broker = TradierBroker(replace(_config(fake), **config), clock=clock)
        app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={KEY: broker})
        try:
            yield app, fake
        finally:
            await app.aclose()


async def _unanswered(app: App, fake: FakeTradier) -> int:
    """Submit an ENTRY whose send times out with nothing placed; return its proposal id."""
    fake.inject(Fault.GATEWAY_TIMEOUT, times=1, method="POST", path="/orders")
    proposal_id = _entry(app)
    await app.placer.submit(proposal_id)
    (row,) = _rows(app)
    assert (row["placement"], row["status"], row["broker_order_id"]) == (
        "sending",
        "PENDING",
        None,
    )
    return proposal_id


async def test_a_new_watchers_first_sync_never_makes_an_unanswered_order_withdrawable(
    database_url: str,
) -> None:
    # A watcher of a new process syncs for the first time a minute after a send whose answer
    # never came. Its list may be a broker's warm-up answer, so a cancel must not withdraw
    # the order yet (the broker may hold it); a sync a doubt period into its run may.
    clock = FakeClock()
    async with _clocked(database_url, clock) as (app, fake):
        proposal_id = await _unanswered(app, fake)
        clock.advance(61)
        await _reconcile(app)  # the watcher's run begins
        with pytest.raises(InvalidRequest, match="has not answered"):
            await app.placer.cancel(proposal_id)
        clock.advance(60)
        await _reconcile(app)  # the same run, a doubt period on
        await app.placer.cancel(proposal_id)
        (row,) = _rows(app)
        assert (row["placement"], row["status"]) == ("withdrawn", "CANCELLED")
        assert len(fake.requests_to("POST", "/orders")) == 1


async def test_a_failed_sync_begins_a_new_run_before_an_unanswered_order_counts_as_absent(
    database_url: str,
) -> None:
    # After a sync fails (perhaps a new broker session, whose first lists may be warm-up
    # answers), the watcher's next sync begins a new run: neither cancel nor resume trusts
    # its list until a doubt period into that run.
    clock = FakeClock()
    async with _clocked(database_url, clock) as (app, fake):
        proposal_id = await _unanswered(app, fake)
        await _reconcile(app)
        clock.advance(50)
        fake.inject(Fault.SERVER_ERROR, times=4, method="GET", path="/orders")  # and retries
        assert await app.watchers[KEY].reconcile() is None
        clock.advance(20)  # 70 s after the send and after the first run began
        await _reconcile(app)
        with pytest.raises(InvalidRequest, match="has not answered"):
            await app.placer.cancel(proposal_id)
        assert await app.placer.resume("tradier", ACCOUNT, grace_s=0) == 0
        clock.advance(60)
        await _reconcile(app)
        assert await app.placer.resume("tradier", ACCOUNT, grace_s=0) == 1
        assert len(fake.requests_to("POST", "/orders")) == 2


async def test_only_the_first_sync_after_midnight_new_york_time_backfills(
    database_url: str,
) -> None:
    # Each sync reaches back a minute before the last one: in the first minute after
    # midnight, that is yesterday for every poll, but one backfill serves them all.
    clock = FakeClock(datetime(2026, 1, 6, 4, 59, 0, tzinfo=UTC))  # 23:59:00 in New York
    async with _clocked(database_url, clock, fill_data_deadline_s=0) as (app, fake):
        fake.set_limits(standard=10**6)  # 180 polls in three minutes of the fake's clock
        fake.create_order("AAPL", type="limit", price="10", quantity=5)
        assert await app.watchers[KEY].reconcile() is not None  # the first sync ever
        for _ in range(180):  # a poll a second, 23:59:01 to 00:02:00
            clock.advance(1)
            assert await app.watchers[KEY].reconcile() is not None
        filters = _listing_filters(fake)
    assert filters[:2] == ["all", None]
    assert filters[2:].count("all") == 1, f"{filters[2:].count('all')} polls used filter=all"


async def test_an_order_held_back_by_the_trading_quota_is_not_sent_twice(
    database_url: str,
) -> None:
    # The trading quota is spent: the POST of a placement marked `sending` waits in the
    # adapter for the next window (up to `max_quota_wait_s`, and again per quota retry),
    # so it leaves a minute or more after the mark. Meanwhile the watcher's syncs do not
    # list it -- it has not been sent yet -- and a sync a doubt period after the mark
    # must not show it absent: resume would send it once more, and both POSTs arrive.
    clock = FakeClock(datetime.now(UTC))  # the fake's quota windows run on real time
    racing: list[App] = []

    async def sleep(delay: float) -> None:
        clock.advance(delay + 1)
        if racing:  # the first wait, in the quota: what the watcher does meanwhile
            app = racing.pop()
            fake.set_limits(trading=10**6)
            await _reconcile(app)
            await app.placer.resume("tradier", ACCOUNT, grace_s=0)

    async with FakeTradier(token=TOKEN, accounts=(ACCOUNT,), clock=clock.now) as fake:
        broker = TradierBroker(_config(fake), clock=clock, sleep=sleep)
        app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={KEY: broker})
        try:
            await _reconcile(app)  # the watcher's run begins
            fake.set_limits(window_s=60, trading=1)
            await app.placer.submit(_entry(app))  # spends the minute's trading quota
            held = _entry(app)
            racing.append(app)
            order = await app.placer.submit(held)  # waits for the quota: see `sleep`
            assert order.client_order_id is not None
            assert len(fake.orders_with_tag(order.client_order_id)) == 1
        finally:
            await app.aclose()

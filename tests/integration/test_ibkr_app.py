"""ordertrail against the fake Client Portal gateway, with the watcher streaming and polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.errors import InvalidRequest
from ordertrail.services.alerts_io import export_alerts, import_alerts
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import alerts, fills, order_events, orders
from tests.fakes.ibkr import FakeIbkrGateway
from tests.support.eventually import eventually
from tests.support.lossy_transport import LossyTransport

ACCOUNT = "DU7654321"
KEY = f"ibkr:{ACCOUNT}"
CONID = 622542959
EXPIRY = date(2026, 12, 18)
CALL = option_instrument("TSLA", D(95), "C", expiry=EXPIRY, contract_id=str(CONID))
ALERT = {
    "open": False,
    "option_conid": CONID,
    "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
}


@pytest.fixture
async def gateway() -> AsyncIterator[FakeIbkrGateway]:
    async with FakeIbkrGateway(account_id=ACCOUNT, hb_interval_s=0.2) as gw:
        gw.add_option(CONID, "TSLA", EXPIRY, D(95), "C")
        yield gw


@pytest.fixture
async def app(gateway: FakeIbkrGateway, database_url: str) -> AsyncIterator[App]:
    config = IbkrConfig(
        account_id=ACCOUNT,
        base_url=gateway.base_url,
        orders_min_interval_s=0.0,
        retry_backoff_s=0.01,
        heartbeat_timeout_s=2.0,
        tic_interval_s=0.5,
    )
    settings = Settings(database_url=database_url, poll_interval_active=0.3, poll_interval_idle=0.3)
    app = bootstrap(settings, brokers={f"ibkr:{ACCOUNT}": IbkrBroker(config)})
    import_alerts(
        app.uow(), {"RealDayTrading": {"TSLA": ALERT}, "Demslayer": {"TSLA": ALERT}}, app.clock
    )
    watchers = asyncio.create_task(app.run_watchers())
    await eventually(lambda: app.stats.account("ibkr", ACCOUNT).subscribed, timeout=10)
    yield app
    watchers.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watchers
    await app.aclose()


def _order(app: App, **where: object) -> dict[str, object]:
    query = select(orders).filter_by(**where)
    with app.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(query)]
    assert len(rows) == 1, rows
    return rows[0]


def _fill_count(app: App) -> int:
    with app.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(fills)).scalar_one())


def _filled(app: App, quantity: int, **where: object):  # type: ignore[no-untyped-def]
    def probe() -> bool:
        row = _order(app, **where)
        assert row["filled_quantity"] == quantity, row["filled_quantity"]
        return True

    return probe


async def test_option_order_with_coid_fills_over_sor_and_updates_both_alerters_once(
    app: App, gateway: FakeIbkrGateway
) -> None:
    gateway.ask_on_next_place("o354")
    proposal = create_proposal(
        app.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="ibkr",
            account_id=ACCOUNT,
            instrument=CALL,
            quantity=D(10),
            order_type="limit",
            limit_price=D("2.40"),
        ),
        app.clock,
    )
    order = await app.placer.submit(proposal.id)
    assert order.state.broker_order_id is not None and order.client_order_id is not None
    broker_id = int(order.state.broker_order_id)
    assert gateway.order(broker_id).order_ref == order.client_order_id
    gateway.fill(broker_id, 3, "2.40")
    await eventually(_filled(app, 3, proposal_id=proposal.id), timeout=10)
    assert _order(app, proposal_id=proposal.id)["status"] == "PARTIAL"
    gateway.fill_many(broker_id, [(4, "2.41"), (3, "2.42")])
    await eventually(_filled(app, 10, proposal_id=proposal.id), timeout=10)
    await eventually(lambda: _fill_count(app) == 3, timeout=10)
    row = _order(app, proposal_id=proposal.id)
    assert row["status"] == "FILLED" and row["trade_id"] is not None

    def alerts_final() -> dict[int, object]:
        with app.engine.connect() as c:
            rows = c.execute(select(alerts.c.id, alerts.c.last_order_update, alerts.c.updated_at))
            found = {
                r.id: r.updated_at
                for r in rows
                if (r.last_order_update or {}).get("filled_qty") == 10
            }
        assert len(found) == 2
        return found

    settled = await eventually(alerts_final, timeout=10)
    await app.applier.run(lambda: None)  # let any batch in flight finish and be counted
    await asyncio.sleep(0)
    counted = app.stats.account("ibkr", ACCOUNT).alerts_updated
    await app.watchers[f"ibkr:{ACCOUNT}"].reconcile()
    await app.watchers[f"ibkr:{ACCOUNT}"].reconcile()
    assert alerts_final() == settled and _fill_count(app) == 3
    assert app.stats.account("ibkr", ACCOUNT).alerts_updated == counted
    exported = export_alerts(app.uow())
    for source in ("RealDayTrading", "Demslayer"):
        update = exported[source]["TSLA"]["last_order_update"]
        assert (update["order_id"], update["status"], update["filled_qty"]) == (
            str(broker_id),
            "FILLED",
            10,
        )


async def test_an_order_placed_by_hand_is_adopted_and_matched_by_symbol_and_strike(
    app: App, gateway: FakeIbkrGateway
) -> None:
    broker_id = gateway.create_order(
        symbol="TSLA",
        side="BUY",
        quantity=2,
        price="2.50",
        conid=CONID,
        expiry=EXPIRY,
        strike="95",
        right="C",
    )
    gateway.fill(broker_id, 2, "2.50")
    await eventually(_filled(app, 2, broker_order_id=str(broker_id)), timeout=10)
    row = _order(app, broker_order_id=str(broker_id))
    assert row["external"] is True and row["client_order_id"] is None
    assert row["instrument"]["strike"] == "95" and row["instrument"]["right"] == "C"
    assert row["alert_match"]["ambiguous"] == [] and len(row["alert_match"]["matched"]) == 2


async def test_websocket_killed_during_fills_loses_nothing_and_str_replay_adds_nothing(
    app: App, gateway: FakeIbkrGateway
) -> None:
    broker_id = gateway.create_order(
        symbol="TSLA",
        side="BUY",
        quantity=6,
        price="2.50",
        conid=CONID,
        expiry=EXPIRY,
        strike="95",
        right="C",
    )
    gateway.fill(broker_id, 2, "2.50")
    await eventually(_filled(app, 2, broker_order_id=str(broker_id)), timeout=10)
    stats = app.stats.account("ibkr", ACCOUNT)
    reconnects = stats.reconnects
    gateway.set(drop_frames=True)
    gateway.fill(broker_id, 4, "2.55")
    gateway.drop_websockets()
    gateway.set(drop_frames=False)
    await eventually(lambda: stats.reconnects > reconnects and stats.subscribed, timeout=15)
    await eventually(_filled(app, 6, broker_order_id=str(broker_id)), timeout=10)
    await eventually(lambda: _fill_count(app) == 2, timeout=10)
    gateway.drop_websockets()
    await eventually(lambda: stats.reconnects > reconnects + 1 and stats.subscribed, timeout=15)
    await app.watchers[f"ibkr:{ACCOUNT}"].reconcile()
    assert _fill_count(app) == 2
    with app.engine.connect() as c:
        fill_events = c.execute(
            select(func.count()).select_from(order_events).where(order_events.c.kind == "FILL")
        ).scalar_one()
    assert fill_events == 2


async def test_with_sor_silent_rest_polling_still_converges(
    app: App, gateway: FakeIbkrGateway
) -> None:
    gateway.set(sor_silent=True)
    broker_id = gateway.create_order(symbol="AAPL", side="BUY", quantity=5, price="190")
    gateway.fill(broker_id, 5, "190")
    await eventually(_filled(app, 5, broker_order_id=str(broker_id)), timeout=10)
    await eventually(
        lambda: _order(app, broker_order_id=str(broker_id))["status"] == "FILLED", timeout=10
    )
    assert _order(app, broker_order_id=str(broker_id))["quantity"] == 5 and _fill_count(app) == 1


def test_sync_once_against_the_gateway_fills_orders_list_json(tmp_path: Path) -> None:
    gateway = FakeIbkrGateway(account_id=ACCOUNT).start_in_thread()
    try:
        gateway.add_option(CONID, "TSLA", EXPIRY, D(95), "C")
        working = gateway.create_order(
            symbol="TSLA",
            side="BUY",
            quantity=4,
            price="2.50",
            conid=CONID,
            expiry=EXPIRY,
            strike="95",
            right="C",
        )
        gateway.fill(working, 1, "2.50")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")} | {
            "ORDERTRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
            "ORDERTRAIL_IBKR_ACCOUNT_ID": ACCOUNT,
            "ORDERTRAIL_IBKR_BASE_URL": gateway.base_url,
            "ORDERTRAIL_IBKR_WEBSOCKET": "false",
        }

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "ordertrail", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )

        synced = cli("sync", "--once")
        assert synced.returncode == 0, synced.stderr
        listed = cli("orders", "list", "--json")
        (row,) = json.loads(listed.stdout)
        assert (
            row["broker"],
            row["broker_order_id"],
            row["status"],
            row["filled_quantity"],
            row["quantity"],
            row["symbol"],
            row["external"],
        ) == ("ibkr", str(working), "PARTIAL", "1", "4", "TSLA", True)
    finally:
        gateway.stop_thread()


async def test_a_fresh_clients_empty_first_answers_change_nothing_and_lose_no_fill(
    gateway: FakeIbkrGateway, database_url: str
) -> None:
    # A gateway session's first orders and trades calls may come back empty while orders
    # exist (BROKERS.md 2.2, 2.3): that is no news, least of all "the order vanished".
    config = IbkrConfig(account_id=ACCOUNT, base_url=gateway.base_url, orders_min_interval_s=0)
    broker_id = gateway.create_order(
        symbol="TSLA", side="BUY", quantity=3, price="2.50", conid=CONID,
        expiry=EXPIRY, strike="95", right="C",
    )  # fmt: skip
    gateway.fill(broker_id, 1, "2.50")
    first = bootstrap(Settings(database_url=database_url), brokers={"ibkr:a": IbkrBroker(config)})
    try:
        assert await first.watchers["ibkr:a"].reconcile() is not None
    finally:
        await first.aclose()
    assert _order(first, broker_order_id=str(broker_id))["status"] == "PARTIAL"
    gateway.fill(broker_id, 1, "2.60")  # while no process watched
    gateway.set(empty_first_orders_call=True, empty_first_trades_call=True)
    gateway.warm_up_again()
    second = bootstrap(Settings(database_url=database_url), brokers={"ibkr:a": IbkrBroker(config)})
    try:
        watcher = second.watchers["ibkr:a"]
        result = await watcher.reconcile()  # both answers empty
        assert result is not None and result.missing == ()
        row = _order(second, broker_order_id=str(broker_id))
        assert row["status"] == "PARTIAL" and "missing" not in row["flags"]
        assert await watcher.reconcile() is not None
        row = _order(second, broker_order_id=str(broker_id))
        assert row["filled_quantity"] == D(2) and "missing" not in row["flags"]
        with second.engine.connect() as c:
            prices = c.execute(select(fills.c.price).order_by(fills.c.id)).scalars().all()
        assert prices == [D("2.50"), D("2.60")]
    finally:
        await second.aclose()


async def test_a_new_sessions_empty_first_list_gets_no_lost_placement_sent_twice(
    database_url: str,
) -> None:
    # The placement reaches the gateway but its answer is lost and the process dies. The
    # next process's first lists come from a new gateway session, empty (BROKERS 2.2): one
    # empty list, however late, proves nothing absent, so nothing is sent again; once the
    # gateway lists the order, it is linked.
    clock, lossy = FakeClock(datetime.now(UTC)), LossyTransport()
    async with (
        FakeIbkrGateway(account_id=ACCOUNT) as gateway,
        httpx.AsyncClient(transport=lossy) as client,
    ):
        config = IbkrConfig(
            account_id=ACCOUNT,
            base_url=gateway.base_url,
            orders_min_interval_s=0,
            ws_enabled=False,
        )
        settings = Settings(database_url=database_url)
        first = bootstrap(settings, clock=clock, brokers={KEY: IbkrBroker(config, http=client)})
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker="ibkr",
            account_id=ACCOUNT,
            quantity=D(10),
            instrument=Instrument("AAPL", contract_id="265598"),
            order_type="limit",
            limit_price=D(10),
        )
        proposal = create_proposal(first.uow(), request, clock)
        lossy.lose_next("POST", f"/iserver/account/{ACCOUNT}/orders")
        order = await first.placer.submit(proposal.id)
        await first.aclose()
        clock.advance(120)  # well past the doubt period
        gateway.set(empty_first_orders_call=True)
        gateway.warm_up_again()
        second = bootstrap(settings, clock=clock, brokers={KEY: IbkrBroker(config)})
        try:
            watcher = second.watchers[KEY]
            assert await watcher.reconcile() is not None  # a warm-up list, then resume
            assert await watcher.reconcile() is not None
            with second.engine.connect() as c:
                row = c.execute(select(orders).where(orders.c.id == order.id)).one()
        finally:
            await second.aclose()
        ours = [o for o in gateway.book.orders.values() if o.order_ref == order.client_order_id]
    assert len(ours) == 1, f"placed {len(ours)} times"
    assert row.broker_order_id == str(ours[0].order_id)


async def test_an_order_the_broker_lost_is_looked_up_once_a_minute_and_not_polled_fast(
    gateway: FakeIbkrGateway, database_url: str
) -> None:
    # After an IBKR session reset an earlier session's order leaves the list, and looking it
    # up answers 503 for good. It stays as it was (never assumed cancelled), flagged missing,
    # but it must not keep the account on fast polls with a lookup at every one: ten times
    # a second, that alone would spend the gateway's pacing.
    clock = FakeClock()
    config = IbkrConfig(
        account_id=ACCOUNT,
        base_url=gateway.base_url,
        orders_min_interval_s=0.0,
        retry_backoff_s=0.01,
    )
    app = bootstrap(
        Settings(database_url=database_url),
        clock=clock,
        brokers={KEY: IbkrBroker(config, clock=clock)},
    )
    watcher = app.watchers[KEY]
    try:
        made = gateway.create_order(symbol="AAPL", quantity=10, price="190")
        gateway.fill(made, 4, "190")
        first = await watcher.reconcile()
        assert first is not None and first.working == 0  # adopted by this sync
        gateway.new_session()
        lost = await watcher.reconcile()
        assert lost is not None and lost.missing and lost.working == 0
        lookups = gateway.calls["order_status"]
        for _ in range(59):
            clock.advance(1)
            again = await watcher.reconcile()
            assert again is not None and again.working == 0 and not again.missing
        assert gateway.calls["order_status"] == lookups
        clock.advance(1)
        minute = await watcher.reconcile()
        assert minute is not None and minute.missing == lost.missing
        assert gateway.calls["order_status"] == lookups + 1
        row = _order(app, broker_order_id=str(made))
        assert row["status"] == "PARTIAL" and "missing" in row["flags"]  # type: ignore[operator]
    finally:
        await app.aclose()


async def test_a_watcher_started_again_begins_a_new_run_before_a_warm_up_list_shows_absence(
    database_url: str,
) -> None:
    # The fleet stops a watcher (its lease handed back, lost, or the lease connection died)
    # and later runs the same AccountWatcher again (a takeover back, a regained lease). Its
    # syncs were not unbroken: a new gateway session may have begun meanwhile, whose first
    # list is a warm-up answer (BROKERS 2.2). That list must not show an unanswered placement
    # absent: resume (which the watcher calls after that first sync when its last resume is
    # over 30 s old) would send it twice, and a cancel would withdraw locally an order the
    # gateway holds.
    clock, lossy = FakeClock(datetime.now(UTC)), LossyTransport()
    async with (
        FakeIbkrGateway(account_id=ACCOUNT) as gateway,
        httpx.AsyncClient(transport=lossy) as client,
    ):
        config = IbkrConfig(
            account_id=ACCOUNT,
            base_url=gateway.base_url,
            orders_min_interval_s=0,
            ws_enabled=False,
        )
        app = bootstrap(
            Settings(database_url=database_url),
            clock=clock,
            brokers={KEY: IbkrBroker(config, http=client, clock=clock)},
        )
        watcher = app.watchers[KEY]

        async def watch_once() -> None:
            polled = clock.now()
            task = asyncio.create_task(watcher.run())  # what Fleet._watch does
            try:
                await eventually(lambda: watcher.stats.last_polled_at == polled, timeout=10)
            finally:
                task.cancel()  # what Fleet._release / _stop_all do
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            await watch_once()  # this worker watches, then hands the account back
            clock.advance(600)  # another worker watches it meanwhile
            proposal = create_proposal(
                app.uow(),
                NewProposal(
                    kind=ProposalKind.ENTRY,
                    broker="ibkr",
                    account_id=ACCOUNT,
                    quantity=D(10),
                    instrument=Instrument("AAPL", contract_id="265598"),
                    order_type="limit",
                    limit_price=D(10),
                ),
                clock,
            )
            lossy.lose_next("POST", f"/iserver/account/{ACCOUNT}/orders")
            order = await app.placer.submit(proposal.id)  # at the gateway, answer lost
            assert order.state.broker_order_id is None
            clock.advance(120)
            gateway.set(empty_first_orders_call=True)  # a new session's first list
            gateway.warm_up_again()
            await watch_once()  # the account comes back to this worker: a warm-up list
            assert await app.placer.resume("ibkr", ACCOUNT) == 0
            with pytest.raises(InvalidRequest, match="has not answered"):
                await app.placer.cancel(proposal.id)
        finally:
            await app.aclose()
        ours = [o for o in gateway.book.orders.values() if o.order_ref == order.client_order_id]
        assert len(ours) == 1 and ours[0].working

"""Defects the conformance runs found in the adapters and the placer, kept as regression tests."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import StreamBatch
from tests.conformance.harness import Harness, IbkrHarness, TradierHarness, TwsHarness
from tests.conformance.world import World
from tests.fakes.tradier import Fault
from tests.support.eventually import eventually

D = Decimal
ONLY_IBKR = pytest.mark.parametrize("harness", ["ibkr"], indirect=True)
ONLY_TRADIER = pytest.mark.parametrize("harness", ["tradier"], indirect=True)


@ONLY_IBKR
async def test_ibkr_broker_status_follows_the_gateway_after_placing(world: World) -> None:
    placed = await world.place(10)
    await world.converged()
    await world.watcher.reconcile()
    assert world.harness.gateway.order(int(placed.broker_id)).status == "Submitted"  # type: ignore[attr-defined]
    assert world.row(placed)["broker_status"] == "Submitted"


@ONLY_IBKR
async def test_ibkr_unreadable_place_answer_is_an_unknown_outcome(world: World) -> None:
    harness = world.harness
    assert isinstance(harness, IbkrHarness)
    place_path = f"/iserver/account/{harness.account_id}/orders"
    harness.transport.replace_next("POST", place_path, 200, b"")
    placed = await world.place(10)
    placed = await world.linked(placed)
    harness.fill(placed.broker_id, D(10), "10.00")
    await world.converged(timeout=3)


@pytest.mark.parametrize("harness", ["tradier", "ibkr", "tws"], indirect=True)
async def test_a_placement_that_never_reached_the_broker_is_not_left_pending(
    world: World,
) -> None:
    harness = world.harness
    if isinstance(harness, TradierHarness):
        harness.fake.set_limits(window_s=0.2, trading=0)
    elif isinstance(harness, TwsHarness):  # TWS is down: the order message never leaves
        harness.tws.drop()
        harness.tws.refuse_connections = True
    else:
        assert isinstance(harness, IbkrHarness)
        harness.gateway.fail_next(8, 503, "/iserver/secdef")
    placed = await world.place(10)
    assert not harness.truth()
    assert world.row(placed)["status"] == "REJECTED"  # over at once, with the reason
    if isinstance(harness, TradierHarness):
        harness.fake.set_limits(window_s=0.2, trading=10**6)
    if isinstance(harness, TwsHarness):
        harness.tws.refuse_connections = False
    await world.watcher.reconcile()
    await world.app.placer.resume(harness.name, harness.account_id, grace_s=0)
    await world.watcher.reconcile()
    row = world.row(placed)
    assert row["status"] == "REJECTED" or len(harness.truth()) == 1, row


@ONLY_TRADIER
async def test_tradier_event_with_an_object_id_yields_no_report(harness: Harness) -> None:
    assert isinstance(harness, TradierHarness)
    stream = harness.relay.inner.stream()
    assert stream is not None
    seen: list[OrderReport] = []

    async def collect() -> None:
        async for item in stream:
            reports = item.reports if isinstance(item, StreamBatch) else (item,)
            seen.extend(r for r in reports if isinstance(r, OrderReport))

    task = asyncio.create_task(collect())
    try:
        await eventually(lambda: harness.fake.stream_subscribers == 1, timeout=10)
        order_id = harness.fake.create_order("AAPL", quantity=10, type="limit", price="10")
        harness.garble_with({"event": "order", "id": {"nested": True}, "status": "open"})
        harness.fill(str(order_id), D(10), "10.00")
        await eventually(lambda: any(r.filled_quantity == 10 for r in seen), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {r.broker_order_id for r in seen} == {str(order_id)}


@pytest.mark.parametrize("harness", ["tradier", "ibkr"], indirect=True)
async def test_a_placement_refused_for_credentials_is_not_left_pending(world: World) -> None:
    harness = world.harness
    aapl = Instrument("AAPL", contract_id="265598")  # no contract lookup before the POST
    await world.place(1, instrument=aapl)  # the adapter is ready
    if isinstance(harness, TradierHarness):
        harness.fake.inject(Fault.TOKEN_EXPIRED, times=5, method="POST")
    else:
        assert isinstance(harness, IbkrHarness)
        harness.gateway.set(authenticated=False)
    placed = await world.place(10, instrument=aapl)
    assert len(harness.truth()) == 1  # only the first order reached the broker
    assert world.row(placed)["status"] == "REJECTED", world.row(placed)


@pytest.mark.parametrize("harness", ["paper", "tradier", "ibkr", "tws"], indirect=True)
async def test_a_report_without_client_id_before_our_lost_answer_is_found_links_one_order(
    world: World,
) -> None:
    harness = world.harness
    harness.silence(True)
    harness.lose_next_place()
    placed = await world.place(10)
    [at_broker] = harness.truth()
    sparse = OrderReport(
        broker=harness.name,
        account_id=harness.account_id,
        broker_order_id=at_broker.broker_order_id,
        status=OrderStatus.PLACED,
        source="stream",
    )
    await world.app.applier.apply([sparse])
    assert await world.watcher.reconcile() is not None, world.watcher.stats.last_error
    await world.converged(timeout=3)
    assert world.row(placed)["broker_order_id"] == at_broker.broker_order_id


@ONLY_IBKR
async def test_an_ibkr_question_answered_too_late_is_sent_once_more_and_only_once(
    world: World,
) -> None:
    """BROKERS 4.7, an IBKR question left unanswered: the gateway drops a placement whose
    question is answered late (503 to the reply), so the order never reaches the book. It
    stays PENDING (the POST went out: the outcome is unknown) until a sync proves the cOID
    absent; then it is sent once more, and one order, linked, is all the broker holds."""
    harness = world.harness
    assert isinstance(harness, IbkrHarness)
    aapl = Instrument("AAPL", contract_id="265598")
    harness.gateway.set(reply_timeout_s=0.0)  # every reply comes too late
    harness.gateway.ask_on_next_place("o354")
    placed = await world.place(10, instrument=aapl)
    assert not harness.truth()
    assert world.row(placed)["status"] == "PENDING"
    assert world.row(placed)["placement"] == "sending"
    harness.gateway.set(reply_timeout_s=30.0)
    await world.watcher.reconcile()
    resumed = world.app.placer.resume(harness.name, harness.account_id, grace_s=0, doubt_s=0)
    assert await resumed == 1
    [at_broker] = harness.truth()
    await world.watcher.reconcile()
    assert await world.app.placer.resume(harness.name, harness.account_id, 0, 0) == 0
    await world.converged(timeout=5)
    row = world.row(placed)
    assert (row["broker_order_id"], row["placement"]) == (at_broker.broker_order_id, "sent")
    assert len(harness.truth()) == 1

"""The same failure scenarios against every broker adapter, through the real app.

Each scenario drives the fake broker (fills, cancels, faults) while the watcher streams and
polls, then audits the database against the broker's own truth: no fill lost or counted twice
(the fills of an order add up to what the broker says filled), no status moving backwards (every
order's event trail walks the transition table), every broker order with its local order, no
client order id at the broker twice, and, after one more reconcile, every order equal to the
broker's state.
"""

from __future__ import annotations

from decimal import Decimal

from ordertrail.domain.order import Placement
from tests.conformance.conftest import BOTH_DATABASES
from tests.conformance.world import World
from tests.support.eventually import eventually

D = Decimal


@BOTH_DATABASES
async def test_fill_before_acknowledgement(world: World) -> None:
    world.harness.fill_before_answer(D(10), "10.00", world.app.applier.apply)
    placed = await world.place(10)
    assert placed.order.state.status.value == "FILLED"
    await world.converged()
    assert world.moves(placed)[-1] == "FILLED"  # the late answer moved nothing back
    await world.reconciled()


@BOTH_DATABASES
async def test_partial_fills_then_cancel(world: World) -> None:
    placed = await world.place(10)
    world.harness.fill(placed.broker_id, D(3), "10.00")
    world.harness.fill(placed.broker_id, D(2), "10.05")
    await world.converged()
    await world.app.placer.cancel(placed.proposal_id)
    await world.converged()
    row = world.row(placed)
    assert (row["status"], row["filled_quantity"]) == ("CANCELLED", D(5))
    await world.reconciled()


@BOTH_DATABASES
async def test_cancel_racing_a_fill_the_fill_wins(world: World) -> None:
    placed = await world.place(10)
    world.harness.fill(placed.broker_id, D(4), "10.00")
    world.harness.hold_cancels()
    await world.app.placer.cancel(placed.proposal_id)
    world.harness.fill(placed.broker_id, D(6), "10.02")
    world.harness.confirm_cancel(placed.broker_id)
    await world.converged()
    assert world.row(placed)["status"] == "FILLED"
    await world.reconciled()


async def test_fill_reported_after_the_cancel_confirmed_turns_it_filled(world: World) -> None:
    placed = await world.place(10)
    world.harness.fill(placed.broker_id, D(4), "10.00")
    await world.converged()
    await world.app.placer.cancel(placed.proposal_id)
    await eventually(lambda: world.row(placed)["status"] == "CANCELLED", timeout=10)
    world.harness.fill(placed.broker_id, D(6), "10.02")  # the exchange filled it first
    await world.converged()
    assert world.moves(placed)[-2:] == ["CANCELLED", "FILLED"]
    await world.reconciled()


async def test_fill_while_pending_cancel(world: World) -> None:
    placed = await world.place(10)
    world.harness.hold_cancels()
    await world.app.placer.cancel(placed.proposal_id)
    await world.converged()
    world.harness.fill(placed.broker_id, D(3), "10.00")
    await world.converged()
    assert world.row(placed)["status"] == "PARTIAL"
    world.harness.confirm_cancel(placed.broker_id)
    await world.converged()
    row = world.row(placed)
    assert (row["status"], row["filled_quantity"]) == ("CANCELLED", D(3))
    await world.reconciled()


@BOTH_DATABASES
async def test_duplicate_and_replayed_messages(world: World) -> None:
    world.harness.duplicate(True)
    placed = await world.place(10)
    for quantity in (2, 3, 5):
        world.harness.fill(placed.broker_id, D(quantity), "10.00")
    await world.converged()
    world.harness.duplicate(False)
    fills = world.fill_trail(placed)
    stats = world.app.stats.account(world.harness.name, world.harness.account_id)
    reconnects = stats.reconnects
    world.harness.disconnect()  # a reconnect replays what the broker replays (IBKR `str`)
    await eventually(lambda: stats.reconnects > reconnects and stats.subscribed, timeout=10)
    replay = await world.harness.broker.list_orders(world.app.clock.now())
    await world.app.applier.apply(replay)
    for _ in range(3):
        result = await world.app.applier.apply(replay * 2)
        assert result.fills == 0 and result.events == 0
    await world.reconciled()
    assert world.fill_trail(placed) == fills


async def test_reordered_messages(world: World) -> None:
    placed = await world.place(10)
    await world.converged()
    snapshots = [await world.harness.broker.list_orders(world.app.clock.now())]
    world.harness.reorder(True)
    for quantity, price in ((3, "10.00"), (3, "10.10"), (4, "10.20")):
        world.harness.fill(placed.broker_id, D(quantity), price)
        snapshots.append(await world.harness.broker.list_orders(world.app.clock.now()))
    world.harness.reorder(False)
    await world.converged()
    for reports in reversed(snapshots):  # every view again, newest first
        await world.app.applier.apply(reports)
    audit = await world.reconciled()
    assert audit.regressions == 0 and world.row(placed)["status"] == "FILLED"


@BOTH_DATABASES
async def test_order_missing_from_the_list_while_it_filled(world: World) -> None:
    placed = await world.place(10)
    await world.converged()
    world.harness.silence(True)
    world.harness.hide(placed.broker_id)
    world.harness.fill(placed.broker_id, D(10), "10.00")
    await world.converged()
    row = world.row(placed)
    assert (row["status"], row["filled_quantity"]) == ("FILLED", D(10))
    assert world.moves(placed) == ["PENDING", "PLACED", "FILLED"]
    world.harness.silence(False)
    await world.reconciled()


async def test_stream_silent_while_the_order_fills(world: World) -> None:
    world.harness.silence(True)
    placed = await world.place(10)
    world.harness.fill(placed.broker_id, D(4), "10.00")
    world.harness.fill(placed.broker_id, D(6), "10.01")
    await world.converged()  # only polling can have seen it
    world.harness.silence(False)
    await world.reconciled()


async def test_disconnect_mid_fill(world: World) -> None:
    placed = await world.place(10)
    world.harness.fill(placed.broker_id, D(3), "10.00")
    await world.converged()
    stats = world.app.stats.account(world.harness.name, world.harness.account_id)
    reconnects = stats.reconnects
    world.harness.disconnect()
    world.harness.fill(placed.broker_id, D(7), "10.02")
    await eventually(lambda: stats.reconnects > reconnects and stats.subscribed, timeout=10)
    await world.converged()
    assert world.row(placed)["status"] == "FILLED"
    await world.reconciled()


@BOTH_DATABASES
async def test_placement_response_lost(world: World) -> None:
    world.harness.lose_next_place()
    placed = await world.place(10)
    assert placed.order.state.status.value == "PENDING"
    row = world.row(placed)
    assert row["placement"] == Placement.SENDING.value  # never placed again, searched by id
    placed = await world.linked(placed)
    await world.converged()
    assert await world.app.placer.resume(world.harness.name, world.harness.account_id, 0) == 0
    world.harness.fill(placed.broker_id, D(10), "10.00")
    await world.converged()
    ours = [t for t in world.harness.truth() if t.client_order_id == placed.order.client_order_id]
    assert len(ours) == 1 and ours[0].broker_order_id == placed.broker_id
    await world.reconciled()


async def test_rate_limit_and_server_error_bursts(world: World) -> None:
    placed = await world.place(10)
    await world.converged()
    world.harness.error_burst(8)
    world.harness.fill(placed.broker_id, D(5), "10.00")
    await world.watcher.reconcile()  # a poll into the burst fails and is only logged
    world.harness.fill(placed.broker_id, D(5), "10.01")
    await world.converged(timeout=15)
    assert world.row(placed)["status"] == "FILLED"
    await world.reconciled()


async def test_malformed_frames(world: World) -> None:
    placed = await world.place(10)
    await world.converged()
    world.harness.garble(placed.broker_id)
    world.harness.fill(placed.broker_id, D(4), "10.00")
    world.harness.garble(placed.broker_id)
    world.harness.fill(placed.broker_id, D(6), "10.00")
    await world.converged()
    assert world.row(placed)["status"] == "FILLED"
    await world.reconciled()

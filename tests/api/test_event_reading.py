"""Reading committed changes back for live events, and how the hub batches what it sends."""

from __future__ import annotations

import json
from decimal import Decimal

from ordertrail.api.change_reader import INLINE_ROWS, ChangeReader, load_changes
from ordertrail.api.events import Changed, EventHub, merge
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.queries import list_orders
from tests.api.support import ACCOUNT, ALERTS, TestClient, World, entry, submit


def _report(broker_order_id: str, status: OrderStatus = OrderStatus.PLACED) -> OrderReport:
    return OrderReport(
        broker="paper",
        account_id="P9",
        broker_order_id=broker_order_id,
        status=status,
        instrument=Instrument("SPY"),
        quantity=Decimal(10),
    )


async def test_a_reader_sees_every_commit_made_after_its_last_read(world: World) -> None:
    result = world.app.applier.apply_now([_report("R-1")])
    reader = ChangeReader(world.app.engine)
    changed = Changed(order_ids=frozenset(result.order_ids))
    try:
        [(kind, first)] = await reader.read(changed)
        world.app.applier.apply_now([_report("R-1", OrderStatus.CANCELLED)])
        [(_, second)] = await reader.read(changed)
    finally:
        reader.close()
    assert kind == "order"
    assert (first["status"], second["status"]) == ("PLACED", "CANCELLED")


async def test_a_large_batch_is_read_whole_in_id_order(world: World) -> None:
    reports = [_report(f"L-{n}") for n in range(INLINE_ROWS + 8)]
    result = world.app.applier.apply_now(reports)
    reader = ChangeReader(world.app.engine)
    try:
        events = await reader.read(Changed(order_ids=frozenset(result.order_ids)))
    finally:
        reader.close()
    assert [data["id"] for _, data in events] == sorted(result.order_ids)


def test_an_order_read_back_for_events_is_the_order_the_api_lists(world: World) -> None:
    """Events read only the columns an order's JSON shows; the JSON is the full row's."""
    filled = OrderReport(
        broker="paper",
        account_id="P9",
        broker_order_id="R-9",
        status=OrderStatus.PARTIAL,
        instrument=Instrument("SPY"),
        quantity=Decimal("10"),
        filled_quantity=Decimal("2.50"),
        avg_fill_price=Decimal("101.125"),
        flags=frozenset({"missing"}),
    )
    result = world.app.applier.apply_now([_report("R-8"), filled])
    with world.app.engine.connect() as connection:
        events = load_changes(connection, Changed(order_ids=frozenset(result.order_ids)))
        listed = sorted(
            (o for o in list_orders(connection) if o["id"] in result.order_ids),
            key=lambda o: o["id"],
        )
    assert [kind for kind, _ in events] == ["order", "order"]
    assert [data for _, data in events] == listed
    partial = listed[1]
    assert Decimal(partial["filled_quantity"]) == Decimal("2.5")
    assert Decimal(partial["avg_fill_price"]) == Decimal("101.125")


def test_merged_changes_touch_everything_each_touched() -> None:
    merged = merge([Changed(frozenset({1}), alert_ids=frozenset({7})), Changed(frozenset({1, 2}))])
    assert (merged.order_ids, merged.trade_ids, merged.alert_ids) == (
        frozenset({1, 2}),
        frozenset(),
        frozenset({7}),
    )


async def test_events_queued_while_a_client_waits_its_turn_are_sent_in_one_chunk(
    world: World,
) -> None:
    hub = EventHub(world.app.engine)
    stream = hub.stream()
    assert (await anext(stream)).startswith("retry: 3000")
    hub.publish("proposal", {"id": 1})
    hub.publish_all([("proposal", {"id": 2}), ("proposal", {"id": 3})])
    chunk = await anext(stream)
    await stream.aclose()
    datas = [line[len("data: ") :] for line in chunk.splitlines() if line.startswith("data: ")]
    assert [json.loads(data)["id"] for data in datas] == [1, 2, 3]
    assert chunk.count("id: ") == 3 and chunk.endswith("\n\n")
    assert hub.clients == 0


async def test_live_events_show_each_row_exactly_as_the_api_does(
    client: TestClient, world: World
) -> None:
    client.post("/api/alerts/import", json=ALERTS)
    order = submit(client, entry(client, "TSLA", "4", order_type="limit", limit_price="2.50"))[
        "order"
    ]
    fill = OrderReport(
        broker="paper",
        account_id=ACCOUNT,
        broker_order_id=order["brokerOrderId"],
        status=OrderStatus.FILLED,
        filled_quantity=Decimal(4),
        avg_fill_price=Decimal("2.45"),
        quantity=Decimal(4),
        instrument=Instrument("TSLA", strike=Decimal(95), right="C"),
    )
    result = world.app.applier.apply_now([fill])
    assert result.order_ids and result.trade_ids and result.alert_ids
    reader = ChangeReader(world.app.engine)
    try:
        events = await reader.read(
            Changed(
                frozenset(result.order_ids),
                frozenset(result.trade_ids),
                frozenset(result.alert_ids),
            )
        )
    finally:
        reader.close()
    alerts = {a["id"]: a for a in client.get("/api/alerts").json()["data"]}
    for kind, data in events:
        if kind == "order":
            assert data == client.get(f"/api/orders/{data['id']}").json()["order"]
        elif kind == "trade":
            shown = client.get(f"/api/trades/{data['id']}").json()
            assert data == {k: v for k, v in shown.items() if k != "orders"}
        else:
            assert data == alerts[data["id"]]
    assert [kind for kind, _ in events] == ["order", "trade", "alert", "alert"]


def test_proposals_read_back_for_events_are_their_board_rows(
    world: World, client: TestClient
) -> None:
    first, second = entry(client), entry(client, "MSFT")
    board = {first: submit(client, first), second: client.get(f"/api/proposals/{second}").json()}
    with world.app.engine.connect() as connection:
        events = load_changes(connection, Changed(proposal_ids=frozenset({second, first, 10**9})))
    assert [kind for kind, _ in events] == ["proposal", "proposal"]  # one that is gone: none
    assert [data for _, data in events] == [board[first], board[second]]

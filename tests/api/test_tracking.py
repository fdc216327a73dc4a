"""The seed's `/internal/order-tracking` endpoints, exactly: status, reconcile, test message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import (
    ALERTS,
    TestClient,
    World,
    entry,
    make_world,
    send_test_message,
    submit,
)

RESOURCES = Path(__file__).parents[1] / "resources"
SEED = {
    "orderId": "TEST_12345",
    "status": "FILLED",
    "symbol": "TSLA",
    "strike": 95,
    "right": "C",
    "filledQuantity": 10,
}


def _resource(name: str) -> Any:
    return json.loads((RESOURCES / name).read_text())


def test_status_has_the_seed_shape_and_per_account_detail(client: TestClient) -> None:
    status = client.get("/internal/order-tracking").json()
    assert set(status) >= {"running", "subscribed", "last_polled_at", "stats", "accounts"}
    assert set(status["stats"]) >= {"orders_processed", "alerts_updated", "last_update"}
    assert [(a["broker"], a["account_id"]) for a in status["accounts"]] == [("paper", "P1")]


def test_reconcile_answers_what_it_examined_and_the_fills_it_processed(
    client: TestClient, world: World
) -> None:
    submit(client, entry(client, "AAPL", "10"))
    submit(client, entry(client, "SPY", "5"))
    world.paper.advance()
    answer = client.post("/internal/order-tracking/reconcile")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"orders_examined", "fill_events_processed", "timestamp"}
    assert (body["orders_examined"], body["fill_events_processed"]) == (2, 1)
    assert body["timestamp"] == world.clock.now().isoformat()
    assert client.get("/internal/order-tracking").json()["last_polled_at"] == body["timestamp"]


def test_the_seed_message_opens_every_matching_alert_with_its_last_order_update(
    client: TestClient,
) -> None:
    client.post("/api/alerts/import", json=ALERTS)
    answer = send_test_message(client, SEED)
    assert answer["status"] == "Test order message processed"
    assert answer["payload"]["orderId"] == "TEST_12345"
    assert answer["changed"]["orders_created"] == 1 and answer["changed"]["alerts_updated"] == 2
    (order,) = answer["orders"]
    assert (order["broker_order_id"], order["status"], order["external"]) == (
        "TEST_12345",
        "FILLED",
        True,
    )
    exported = client.get("/api/alerts/export").json()
    update = exported["RealDayTrading"]["TSLA"]["last_order_update"]
    assert exported["RealDayTrading"]["TSLA"]["open"] is True
    assert (update["order_id"], update["status"], update["filled_qty"]) == (
        "TEST_12345",
        "FILLED",
        10,
    )
    again = send_test_message(client, SEED)
    assert again["changed"]["unchanged"] == 1 and again["changed"]["events"] == 0
    assert again["orders"][0]["id"] == order["id"]


def test_a_short_message_with_a_price_records_the_fill_on_our_order(
    client: TestClient,
) -> None:
    order = submit(client, entry(client, "SPY", "5"))["order"]
    answer = send_test_message(
        client,
        {"orderId": order["brokerOrderId"], "status": "PARTIAL", "filledQuantity": 2}
        | {"avgFillPrice": "450.25", "broker": "paper", "accountId": "P1"},
    )
    assert answer["changed"]["fills"] == 1 and answer["orders"][0]["id"] == order["id"]
    assert answer["orders"][0]["avg_fill_price"] == "450.25"


@pytest.mark.parametrize(
    ("broker", "message", "status", "filled"),
    [
        ("tradier", _resource("tradier/get_order_filled_equity.json"), "FILLED", "50"),
        ("tradier", _resource("tradier/stream_order_filled.json"), "FILLED", "0"),
        ("tradier", _resource("tradier/list_three_orders_docs.json"), None, None),
        ("ibkr", _resource("ibkr/cp_orders_filled_market_order_ref_docs.json"), "FILLED", "5"),
        (
            "ibkr",
            _resource("ibkr/cp_orders_filled_market_order_ref_docs.json")["orders"][0],
            "FILLED",
            "5",
        ),
        ("paper", {"id": "77", "status": "open", "symbol": "AAPL", "quantity": 3}, "PLACED", "0"),
    ],
)
def test_a_raw_broker_message_is_parsed_by_that_brokers_parser(
    client: TestClient, broker: str, message: Any, status: str | None, filled: str | None
) -> None:
    answer = send_test_message(client, {"broker": broker, "message": message})
    assert answer["changed"]["reports"] >= 1
    assert all(o["broker"] == broker for o in answer["orders"])
    if status is not None:
        assert (answer["orders"][0]["status"], answer["orders"][0]["filled_quantity"]) == (
            status,
            filled,
        )
    timeline = client.get(f"/api/orders/{answer['orders'][0]['id']}").json()["events"]
    assert timeline[0]["source"] == "test" and timeline[0]["payload"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (SEED | {"status": "HALF_DONE"}, "is not an order status"),
        ({"broker": "tradier", "message": {"nothing": 1}}, "a tradier message is"),
        ({"broker": "tradier", "message": {"order": "x"}}, "not a tradier order message"),
        ({"broker": "tradier", "message": {"orders": "null"}}, "holds no order"),
        ({"broker": "ibkr", "message": {"orders": "x"}}, "an ibkr message is"),
        ({"broker": "tradier", "message": {"id": "9" * 70, "status": "open"}}, "at most 64 fit"),
        ({"broker": "tradier", "message": {"id": 1, "quantity": "1e20"}}, "out of range"),
        (SEED | {"optionSymbol": "NOTOCC"}, "not an OCC symbol"),
    ],
)
def test_a_message_no_broker_could_send_is_422_and_says_why(
    sqlite_client: TestClient, body: dict[str, Any], says: str
) -> None:
    answer = sqlite_client.post("/internal/order-tracking/test", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"orderId": "X"}, {"broker": "etrade", "message": {}}, SEED | {"filledQuantity": -1}, 7],
)
def test_a_malformed_test_body_is_422(sqlite_client: TestClient, body: Any) -> None:
    assert sqlite_client.post("/internal/order-tracking/test", json=body).status_code == 422


def test_the_test_endpoint_is_404_unless_enabled(database_url: str, clock: Any) -> None:
    world = make_world(database_url, clock, enable_test_endpoint=False)
    from ordertrail.api.app import create_app

    try:
        with TestClient(create_app(world.app, run_watchers=False)) as client:
            answer = client.post("/internal/order-tracking/test", json=SEED)
            assert answer.status_code == 404
            assert "ORDERTRAIL_ENABLE_TEST_ENDPOINT" in answer.json()["detail"]
            assert client.get("/api/orders").json()["count"] == 0
    finally:
        world.app.applier.close()
        world.app.engine.dispose()

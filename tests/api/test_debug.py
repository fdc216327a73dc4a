"""`GET /api/debug/broker-orders`: what each broker order maps to, and the flags that stand out."""

from __future__ import annotations

from typing import Any

from tests.api.support import ALERTS, TestClient, World, entry, send_test_message, step, submit


def _rows(client: TestClient, query: str = "") -> dict[str, dict[str, Any]]:
    answer = client.get(f"/api/debug/broker-orders?{query}")
    assert answer.status_code == 200, answer.text
    return {row["broker_order_id"]: row for row in answer.json()["data"]}


def test_our_filled_order_maps_to_its_proposal_trade_and_alerts_with_no_flag(
    client: TestClient, world: World
) -> None:
    client.post("/api/alerts/import", json=ALERTS)
    order = submit(client, entry(client, "TSLA", "2"))["order"]
    send_test_message(
        client,
        {
            "broker": "paper",
            "message": {"id": order["brokerOrderId"], "status": "filled", "symbol": "TSLA"}
            | {"quantity": 2, "exec_quantity": 2, "avg_fill_price": 2.5},
        },
    )
    row = _rows(client)[order["brokerOrderId"]]
    assert row["flags"] == [] and row["external"] is False
    assert row["proposal"] == {"id": 1, "kind": "ENTRY", "status": "FILLED"}
    assert row["trade"]["status"] == "OPEN"
    assert {(a["source"], a["matched"]) for a in row["alerts"]} == {
        ("RealDayTrading", True),
        ("Demslayer", True),
    }
    assert (row["fills_count"], row["fills_quantity"], row["fills_avg_price"]) == (1, "2", "2.5")


def test_an_order_we_did_not_place_is_flagged_unmatched(client: TestClient) -> None:
    send_test_message(client, {"orderId": "HAND-1", "status": "Submitted", "symbol": "NVDA"})
    row = _rows(client)["HAND-1"]
    assert row["external"] is True and row["proposal"] is None
    assert row["flags"] == ["unmatched"]
    assert list(_rows(client, "flag=unmatched")) == ["HAND-1"]


def test_a_fill_two_alerts_of_one_alerter_could_answer_is_flagged_ambiguous(
    client: TestClient,
) -> None:
    twin = {"alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"}}
    client.post("/api/alerts/import?source=Twins", json={"TSLA": twin, "TSLA-2": twin})
    send_test_message(
        client,
        {"orderId": "T-1", "status": "FILLED", "symbol": "TSLA", "strike": 95, "right": "C"}
        | {"quantity": 1, "filledQuantity": 1, "avgFillPrice": "2"},
    )
    row = _rows(client)["T-1"]
    assert "ambiguous" in row["flags"] and row["ambiguous_sources"] == ["Twins"]
    assert [a["matched"] for a in row["alerts"]] == [False, False]


def test_filled_without_fills_or_price_is_a_quantity_and_price_mismatch(
    client: TestClient,
) -> None:
    send_test_message(
        client, {"orderId": "Q-1", "status": "FILLED", "symbol": "AAPL", "filledQuantity": 10}
    )
    flags = _rows(client)["Q-1"]["flags"]
    assert flags == ["unmatched", "quantity_mismatch", "price_mismatch"]


def test_a_working_order_the_broker_has_not_updated_for_long_is_stale(
    client: TestClient, world: World
) -> None:
    broker_id = submit(client, entry(client, "SPY", "5"))["order"]["brokerOrderId"]
    assert _rows(client)[broker_id]["flags"] == []
    world.clock.advance(2 * 3600)
    assert _rows(client)[broker_id]["flags"] == ["stale"]
    assert _rows(client, "stale_after_s=86400")[broker_id]["flags"] == []


def test_an_order_the_broker_no_longer_knows_is_flagged_missing(
    client: TestClient, world: World
) -> None:
    broker_id = submit(client, entry(client, "SPY", "5"))["order"]["brokerOrderId"]
    world.paper._orders.clear()  # the broker forgot it
    step(client, world)
    row = _rows(client)[broker_id]
    assert "missing" in row["flags"] and row["order_flags"] == ["missing"]
    assert list(_rows(client, "flagged=true")) == [broker_id]


def test_flagged_pages_skip_quiet_orders_and_the_filters_are_checked(client: TestClient) -> None:
    for n in range(4):
        send_test_message(client, {"orderId": f"H{n}", "status": "PLACED", "symbol": "X"})
    page = client.get("/api/debug/broker-orders?flagged=true&limit=3").json()
    assert [r["broker_order_id"] for r in page["data"]] == ["H3", "H2", "H1"]
    rest = client.get(f"/api/debug/broker-orders?flagged=true&before={page['next_before']}")
    assert [r["broker_order_id"] for r in rest.json()["data"]] == ["H0"]
    for query in ("flag=odd", "stale_after_s=0", "limit=0", "flagged=sometimes"):
        assert client.get(f"/api/debug/broker-orders?{query}").status_code == 422, query

"""Trades (open, closed, P&L) and alerts (list, import, export) through HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import ALERTS, TestClient, World, entry, send_test_message, step, submit


def test_trades_list_open_and_closed_with_realised_pnl(client: TestClient, world: World) -> None:
    submit(client, entry(client, "AAPL", "10"))
    submit(client, entry(client, "AAPL", "4"))
    step(client, world)
    first, second = sorted(t["id"] for t in client.get("/api/trades").json()["data"])
    exit_row = client.post("/api/proposals", json={"kind": "EXIT", "linked_trade_id": first})
    order = submit(client, exit_row.json()["id"])["order"]
    send_test_message(
        client,
        {
            "broker": "paper",
            "message": {"id": order["brokerOrderId"], "status": "filled", "symbol": "AAPL"}
            | {"quantity": 10, "exec_quantity": 10, "avg_fill_price": 103.5},
        },
    )
    closed = client.get("/api/trades?status=CLOSED").json()["data"]
    assert [t["id"] for t in closed] == [first]
    assert closed[0]["entry_price"] == "100" and closed[0]["exit_price"] == "103.5"
    assert closed[0]["realized_pnl"] == "35" and closed[0]["open_quantity"] == "0"
    assert [t["id"] for t in client.get("/api/trades?status=OPEN").json()["data"]] == [second]
    detail = client.get(f"/api/trades/{first}").json()
    assert [o["side"] for o in detail["orders"]] == ["ENTRY", "EXIT"]
    assert detail["broker_order_id_close"] == order["brokerOrderId"]


def test_trade_errors(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/api/trades/5").status_code == 404
    assert sqlite_client.get("/api/trades/5").json() == {"detail": "trade 5 does not exist"}
    assert sqlite_client.get("/api/trades/zero").status_code == 422
    assert sqlite_client.get("/api/trades?status=HALF").status_code == 422


def test_alerts_import_list_and_export_round_trip_with_order_updates(client: TestClient) -> None:
    imported = client.post("/api/alerts/import", json=ALERTS)
    assert imported.status_code == 200
    assert imported.json() == {"imported": {"RealDayTrading": 1, "Demslayer": 1}}
    assert client.get("/api/alerts/export").json() == ALERTS
    send_test_message(
        client,
        {"orderId": "TEST_12345", "status": "FILLED", "symbol": "TSLA", "strike": 95}
        | {"right": "C", "filledQuantity": 10},
    )
    listed = client.get("/api/alerts").json()
    assert listed["count"] == 2
    assert {a["source"] for a in listed["data"]} == {"RealDayTrading", "Demslayer"}
    assert all(a["open"] for a in listed["data"])
    update = listed["data"][0]["last_order_update"]
    assert (update["order_id"], update["status"], update["filled_qty"]) == (
        "TEST_12345",
        "FILLED",
        10,
    )
    exported = client.get("/api/alerts/export?source=Demslayer").json()
    assert exported["TSLA"]["open"] is True
    assert exported["TSLA"]["last_order_update"]["order_id"] == "TEST_12345"
    assert [a["key"] for a in client.get("/api/alerts?source=Demslayer&open=true").json()["data"]]


def test_one_alerters_file_imports_under_the_source_it_is_given(client: TestClient) -> None:
    answer = client.post("/api/alerts/import?source=ProfAndKian", json=ALERTS["Demslayer"])
    assert answer.json() == {"imported": {"ProfAndKian": 1}}
    refused = client.post("/api/alerts/import", json=ALERTS["Demslayer"])
    assert refused.status_code == 422 and "?source=" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"A": {"TSLA": {"open": "yes"}}}, "open"),
        ({"A": {"TSLA": {"alert_details": {"strike": "lots"}}}}, "strike"),
        ({"A": {"TSLA": {"alert_details": {"strike": "1e20"}}}}, "strike"),
        ({"A": {"TSLA": {"alert_details": {"expiry": "tomorrow"}}}}, "expiry"),
        ({"A": {"TSLA": {"last_order_update": {"order_id": 1, "status": "FILLED"}}}}, "filled_qty"),
        (
            {
                "A": {
                    "TSLA": {
                        "last_order_update": {"order_id": 1, "status": "F", "filled_qty": 1}
                        | {"updated_at": "yesterday"}
                    }
                }
            },
            "updated_at",
        ),
        ({"A": {"T" * 80: {"open": True}}}, "must be 1-64"),
        ({"A" * 80: {"TSLA": {"open": True}}}, "must be 1-64"),
        ({"A": ["TSLA"]}, "expected an object"),
    ],
)
def test_a_bad_alerts_document_is_422_naming_the_entry(
    sqlite_client: TestClient, document: dict[str, Any], says: str
) -> None:
    answer = sqlite_client.post("/api/alerts/import", json=document)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]
    assert sqlite_client.get("/api/alerts").json()["count"] == 0


def test_alert_list_filters_are_checked(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/api/alerts?open=perhaps").status_code == 422
    assert sqlite_client.get("/api/alerts/export?source=").status_code == 422
    assert sqlite_client.post("/api/alerts/import", json=[1]).status_code == 422

"""`GET /api/proposals-and-orders`: kinds, real order status, lifecycle, trade, filters, paging."""

from __future__ import annotations

from tests.api.support import TestClient, World, entry, send_test_message, step, submit


def test_each_proposal_shows_its_kind_real_order_status_lifecycle_and_trade(
    client: TestClient, world: World
) -> None:
    filled = submit(client, entry(client, "AAPL", "10"))["id"]
    working = submit(client, entry(client, "TSLA", "6", order_type="limit", limit_price="2.40"))
    step(client, world)
    broker_id = working["order"]["brokerOrderId"]
    send_test_message(
        client,
        {
            "broker": "paper",
            "message": {"id": broker_id, "status": "partially_filled", "symbol": "TSLA"}
            | {"quantity": 6, "exec_quantity": 3, "avg_fill_price": 2.41},
        },
    )
    rows = {r["id"]: r for r in client.get("/api/proposals-and-orders").json()["data"]}
    done, partial = rows[filled], rows[working["id"]]
    assert done["proposalKind"] == "ENTRY"
    assert done["order"]["status"] == "FILLED" and done["order"]["side"] == "ENTRY"
    assert done["order"]["avgFillPrice"] == "100" and done["order"]["filledQuantity"] == "10"
    assert done["order"]["remainingQuantity"] == "0"
    assert done["lifecycleStatus"] == "Entry filled – trade OPEN"
    assert done["trade"]["status"] == "OPEN" and done["trade"]["entryPrice"] == "100"
    assert partial["order"]["status"] == "PARTIAL"
    assert partial["order"]["brokerOrderId"] == broker_id
    assert partial["order"]["clientOrderId"] == working["order"]["clientOrderId"]
    assert partial["order"]["remainingQuantity"] == "3"
    assert partial["lifecycleStatus"] == "Entry partially filled (3/6) – trade OPEN"


def test_filters_by_kind_status_and_symbol(client: TestClient, world: World) -> None:
    submit(client, entry(client, "AAPL", "10"))
    step(client, world)
    trade_id = client.get("/api/trades").json()["data"][0]["id"]
    exit_id = client.post("/api/proposals", json={"kind": "EXIT", "linked_trade_id": trade_id})
    submit(client, entry(client, "SPY", "5"))
    entry(client, "MSFT", "1")

    def ids(query: str) -> list[int]:
        answer = client.get(f"/api/proposals-and-orders?{query}")
        assert answer.status_code == 200, answer.text
        return [row["id"] for row in answer.json()["data"]]

    assert ids("kind=EXIT") == [exit_id.json()["id"]]
    assert ids("status=PLACED") == [3]
    assert ids("symbol=msft") == [4]
    assert ids("proposal_status=NEW") == [4, 2]
    assert ids("broker=paper&account_id=P1") == [4, 3, 2, 1]
    assert ids("broker=tradier") == []


def test_pages_follow_the_keyset_cursor_to_the_end(client: TestClient) -> None:
    made = [entry(client, "AAPL", "1") for _ in range(5)]
    seen: list[int] = []
    query = "limit=2"
    while True:
        page = client.get(f"/api/proposals-and-orders?{query}").json()
        seen.extend(row["id"] for row in page["data"])
        assert page["count"] == len(page["data"])
        if page["nextBefore"] is None:
            break
        query = f"limit=2&before={page['nextBefore']}"
    assert seen == sorted(made, reverse=True)


def test_bad_filters_are_422(sqlite_client: TestClient) -> None:
    for query in ("kind=BOTH", "status=DONE", "limit=0", "limit=501", "before=-1", "symbol="):
        answer = sqlite_client.get(f"/api/proposals-and-orders?{query}")
        assert answer.status_code == 422, query

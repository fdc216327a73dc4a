"""Orders through HTTP: filters, keyset paging, one order's timeline with raw payloads and fills."""

from __future__ import annotations

import pytest

from tests.api.support import TestClient, World, entry, send_test_message, step, submit


def _ids(client: TestClient, query: str = "") -> list[int]:
    answer = client.get(f"/api/orders?{query}")
    assert answer.status_code == 200, answer.text
    return [order["id"] for order in answer.json()["data"]]


def test_list_filters_by_status_broker_account_symbol_external_and_side(
    client: TestClient, world: World
) -> None:
    submit(client, entry(client, "AAPL", "10"))  # order 1, fills on the next step
    submit(client, entry(client, "SPY", "5"))  # order 2, works
    send_test_message(client, {"orderId": "EXT-1", "status": "Submitted", "symbol": "NVDA"})
    step(client, world)
    assert _ids(client) == [3, 2, 1]
    assert _ids(client, "status=FILLED") == [1]
    assert _ids(client, "status=FILLED&status=PLACED") == [3, 2, 1]
    assert _ids(client, "external=true") == [3]
    assert _ids(client, "external=false&side=ENTRY") == [2, 1]
    assert _ids(client, "symbol=spy") == [2]
    assert _ids(client, "broker=paper&account_id=P1") == [3, 2, 1]
    assert _ids(client, "account_id=OTHER") == []
    external = client.get("/api/orders?external=true").json()["data"][0]
    assert external["broker_order_id"] == "EXT-1" and external["proposal_id"] is None


def test_keyset_paging_visits_every_order_once(client: TestClient) -> None:
    for n in range(5):
        send_test_message(client, {"orderId": f"X{n}", "status": "PLACED", "symbol": "AAPL"})
    seen: list[int] = []
    query = "limit=2"
    while True:
        page = client.get(f"/api/orders?{query}").json()
        seen += [order["id"] for order in page["data"]]
        if page["next_before"] is None:
            break
        query = f"limit=2&before={page['next_before']}"
    assert seen == [5, 4, 3, 2, 1]


def test_one_order_shows_every_event_with_its_raw_payload_and_its_fills(
    client: TestClient, world: World
) -> None:
    order_id = submit(client, entry(client, "NVDA", "9"))["order"]["id"]
    step(client, world)
    step(client, world)
    answer = client.get(f"/api/orders/{order_id}")
    assert answer.status_code == 200
    detail = answer.json()
    assert detail["order"]["status"] == "PARTIAL" and detail["order"]["filled_quantity"] == "6"
    kinds = [event["kind"] for event in detail["events"]]
    assert kinds[:3] == ["RECORDED", "ACKNOWLEDGED", "PLACED"]
    assert kinds.count("FILL") == 2 and "PARTIALLY_FILLED" in kinds
    assert [event["seq"] for event in detail["events"]] == list(range(1, len(kinds) + 1))
    fill_event = next(e for e in detail["events"] if e["kind"] == "FILL")
    assert fill_event["payload"]["exec_quantity"] == "3" and fill_event["source"] == "poll"
    assert [f["quantity"] for f in detail["fills"]] == ["3", "3"]
    assert all(f["synthetic"] for f in detail["fills"])


@pytest.mark.parametrize("bad", ["0", "-1", "x", "1.5", str(2**63)])
def test_a_bad_order_id_is_422(sqlite_client: TestClient, bad: str) -> None:
    assert sqlite_client.get(f"/api/orders/{bad}").status_code == 422


def test_an_unknown_order_is_404_with_a_message(sqlite_client: TestClient) -> None:
    answer = sqlite_client.get("/api/orders/31337")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "order 31337 does not exist"}


@pytest.mark.parametrize(
    "query", ["status=DONE", "external=maybe", "side=BOTH", "limit=9999", "symbol=%00"]
)
def test_bad_list_filters_are_422(sqlite_client: TestClient, query: str) -> None:
    assert sqlite_client.get(f"/api/orders?{query}").status_code == 422

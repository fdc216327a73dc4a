"""Proposals through HTTP: create (validated), read, submit, cancel, and their unhappy paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import CALL, TestClient, World, entry, step, submit


def test_create_entry_answers_the_board_row_with_the_proposal_not_yet_submitted(
    client: TestClient,
) -> None:
    body = {"kind": "ENTRY", "instrument": CALL, "quantity": "6", "order_type": "limit"}
    answer = client.post("/api/proposals", json=body | {"limit_price": "2.40"})
    assert answer.status_code == 201
    row = answer.json()
    assert row["proposalKind"] == "ENTRY" and row["proposalStatus"] == "NEW"
    assert (row["broker"], row["accountId"]) == ("paper", "P1")
    assert (row["symbol"], row["strike"], row["right"]) == ("TSLA", "95", "C")
    assert row["side"] == "buy_to_open" and row["quantity"] == "6" and row["limitPrice"] == "2.4"
    assert row["order"] is None and row["trade"] is None
    assert row["lifecycleStatus"] == "Entry proposed"
    assert client.get(f"/api/proposals/{row['id']}").json() == row


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "ENTRY", "quantity": "5"}, "needs an instrument"),
        ({"kind": "ENTRY", "instrument": {"symbol": "AAPL"}}, "needs a quantity"),
        ({"kind": "EXIT"}, "needs linked_trade_id"),
        ({"kind": "EXIT", "linked_trade_id": 999}, "trade 999 does not exist"),
        (
            {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "1", "broker": "tradier"},
            "name broker and account_id",
        ),
        (
            {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "1", "account_id": "X9"},
            "name broker and account_id",
        ),
        (
            {
                "kind": "ENTRY",
                "instrument": {"symbol": "A"},
                "quantity": "1",
                "order_type": "limit",
            },
            "needs limit_price",
        ),
        (
            {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "1", "order_type": "wild"},
            "order_type 'wild'",
        ),
        (
            {"kind": "ENTRY", "instrument": {"symbol": "TSLA", "strike": "95"}, "quantity": "1"},
            "needs both strike and right",
        ),
        (
            {
                "kind": "ENTRY",
                "instrument": {"symbol": "T", "option_symbol": "NOPE"},
                "quantity": 1,
            },
            "not an OCC symbol",
        ),
    ],
)
def test_create_refuses_a_proposal_that_breaks_a_rule_and_says_which(
    sqlite_client: TestClient, body: dict[str, Any], says: str
) -> None:
    answer = sqlite_client.post("/api/proposals", json=body)
    assert answer.status_code in (404, 422)
    assert says in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "BOTH", "instrument": {"symbol": "A"}, "quantity": "1"},
        {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "-1"},
        {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "1e30"},
        {"kind": "ENTRY", "instrument": {"symbol": "A"}, "quantity": "NaN"},
        {"kind": "ENTRY", "instrument": {"symbol": "A" * 200}, "quantity": "1"},
        {"kind": "ENTRY", "instrument": {"symbol": "A\u0000"}, "quantity": "1"},
        {"kind": "ENTRY", "instrument": "AAPL", "quantity": "1"},
        {"kind": "EXIT", "linked_trade_id": 2**70},
        [1, 2, 3],
    ],
)
def test_create_refuses_a_malformed_body_with_422(sqlite_client: TestClient, body: Any) -> None:
    answer = sqlite_client.post("/api/proposals", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"]


def test_create_refuses_a_body_that_is_not_json(sqlite_client: TestClient) -> None:
    answer = sqlite_client.post(
        "/api/proposals", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


def test_submit_places_the_order_and_submitting_twice_places_nothing_more(
    client: TestClient, world: World
) -> None:
    proposal_id = entry(client, "SPY", "5")
    row = submit(client, proposal_id)
    order = row["order"]
    assert order["status"] == "PLACED" and order["side"] == "ENTRY"
    assert order["brokerOrderId"] and order["clientOrderId"].startswith(f"ordertrail-{proposal_id}")
    assert row["lifecycleStatus"] == "Entry working"
    again = submit(client, proposal_id)
    assert again["order"]["id"] == order["id"]
    assert len(world.paper._orders) == 1


def test_submit_of_a_proposal_the_broker_refuses_shows_the_reason(client: TestClient) -> None:
    row = submit(client, entry(client, "GME", "100"))
    assert row["order"]["status"] == "REJECTED"
    assert row["lifecycleStatus"] == "Rejected: paper broker: insufficient buying power"


def test_exit_of_an_open_trade_closes_it_and_the_board_links_both(
    client: TestClient, world: World
) -> None:
    entry_row = submit(client, entry(client, "AAPL", "10"))
    step(client, world)
    trade_id = client.get(f"/api/proposals/{entry_row['id']}").json()["trade"]["id"]
    answer = client.post("/api/proposals", json={"kind": "EXIT", "linked_trade_id": trade_id})
    assert answer.status_code == 201, answer.text
    exit_row = answer.json()
    assert (exit_row["broker"], exit_row["side"], exit_row["quantity"]) == ("paper", "sell", "10")
    submit(client, exit_row["id"])
    step(client, world)
    closed = client.get(f"/api/proposals/{exit_row['id']}").json()
    assert closed["lifecycleStatus"] == "Exit filled – trade CLOSED"
    assert closed["trade"]["id"] == trade_id and closed["trade"]["status"] == "CLOSED"
    again = client.post("/api/proposals", json={"kind": "EXIT", "linked_trade_id": trade_id})
    assert again.status_code == 422 and "only an OPEN trade can exit" in again.json()["detail"]


def test_cancel_of_an_unsubmitted_proposal_withdraws_it(client: TestClient) -> None:
    proposal_id = entry(client)
    answer = client.post(f"/api/proposals/{proposal_id}/cancel")
    assert answer.status_code == 200
    assert answer.json()["proposalStatus"] == "CANCELLED"
    assert answer.json()["lifecycleStatus"] == "Entry withdrawn"
    refused = client.post(f"/api/proposals/{proposal_id}/submit")
    assert refused.status_code == 422 and "CANCELLED" in refused.json()["detail"]


def test_cancel_of_a_working_order_asks_the_broker_whose_report_decides(
    client: TestClient, world: World
) -> None:
    proposal_id = entry(client, "SPY", "5")
    submit(client, proposal_id)
    asked = client.post(f"/api/proposals/{proposal_id}/cancel").json()
    assert asked["order"]["status"] == "PLACED"
    step(client, world)
    done = client.get(f"/api/proposals/{proposal_id}").json()
    assert done["order"]["status"] == "CANCELLED" and done["lifecycleStatus"] == "Entry cancelled"
    again = client.post(f"/api/proposals/{proposal_id}/cancel")
    assert again.status_code == 422 and "already CANCELLED" in again.json()["detail"]


@pytest.mark.parametrize("action", ["submit", "cancel"])
def test_actions_on_an_unknown_proposal_are_404(sqlite_client: TestClient, action: str) -> None:
    answer = sqlite_client.post(f"/api/proposals/4242/{action}")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "proposal 4242 does not exist"}


@pytest.mark.parametrize("bad", ["0", "-3", "abc", str(2**64)])
def test_a_bad_proposal_id_is_422_and_an_unknown_one_404(
    sqlite_client: TestClient, bad: str
) -> None:
    assert sqlite_client.get(f"/api/proposals/{bad}").status_code == 422
    assert sqlite_client.post(f"/api/proposals/{bad}/submit").status_code == 422
    assert sqlite_client.get("/api/proposals/77").status_code == 404

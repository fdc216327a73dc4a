"""Stored broker accounts over HTTP: tokens go in and never come out."""

from __future__ import annotations

from tests.api.support import TestClient

TOKEN = "acct-token-SECRET-5e1f"


def test_an_account_is_stored_listed_without_its_token_and_removed(client: TestClient) -> None:
    created = client.post(
        "/api/accounts",
        json={
            "broker": "tradier",
            "account_id": "VA12345678",
            "token": TOKEN,
            "label": "main",
            "settings": {"base_url": "https://sandbox.tradier.com/v1", "stream_enabled": False},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["has_credentials"] is True
    listed = client.get("/api/accounts")
    assert listed.status_code == 200
    assert [a["account_id"] for a in listed.json()["data"]] == ["VA12345678"]
    assert TOKEN not in created.text + listed.text
    assert client.delete("/api/accounts/tradier/VA12345678").status_code == 204
    assert client.get("/api/accounts").json()["count"] == 0
    assert client.delete("/api/accounts/tradier/VA12345678").status_code == 404


def test_bad_accounts_are_refused_with_the_reason(client: TestClient) -> None:
    no_token = client.post("/api/accounts", json={"broker": "tradier", "account_id": "VA1"})
    assert no_token.status_code == 422 and "access token" in no_token.text
    odd_setting = client.post(
        "/api/accounts", json={"broker": "ibkr", "account_id": "U1", "settings": {"colour": "red"}}
    )
    assert odd_setting.status_code == 422 and "colour" in odd_setting.text
    unknown = client.post("/api/accounts", json={"broker": "etrade", "account_id": "X"})
    assert unknown.status_code == 422

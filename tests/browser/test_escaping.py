"""Broker, alerter and user text never runs as script on any page, live or after a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site

pytestmark = pytest.mark.browser
X = "<img src=x onerror=window.__pwned=1>"
XS = "<svg onload=window.__pwned=2>"


def test_hostile_text_is_escaped_everywhere(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    # a user's proposal with a hostile note, then submitted (its order works)
    site.entry("xss", {"symbol": "XSS"}, "3", note=X)
    site.submit("xss")
    order = site.orders["xss"]
    # the broker rejects it with hostile text in status, reason, tag and the raw payload
    site.post(
        "/internal/order-tracking/test",
        {
            "broker": "paper",
            "account_id": "P1",
            "message": {
                "id": order["brokerOrderId"],
                "status": "rejected",
                "reason_description": X,
                "tag": order["clientOrderId"],
                "symbol": "XSS",
                "quantity": 3,
                "exec_quantity": 0,
                "extra": XS,
            },
        },
    )
    # an external order whose ids, status and symbol are hostile
    site.post(
        "/internal/order-tracking/test",
        {
            "orderId": X,
            "status": "PLACED",
            "clientOrderId": XS,
            "accountId": "P1",
            "broker": "paper",
        },
    )
    site.post(
        "/internal/order-tracking/test",
        {
            "broker": "paper",
            "account_id": "P1",
            "message": {"id": "ext-x", "status": X[:60], "symbol": X[:60], "quantity": 1},
        },
    )
    # an alerter's file with hostile free text
    site.post(
        "/api/alerts/import?source=Evil",
        {
            "XSS": {
                "open": True,
                "created_at": X,
                "alert_details": {"ticker": "XSS", "side": X[:8]},
                "last_order_update": {
                    "order_id": X,
                    "status": XS,
                    "filled_qty": 0,
                    "updated_at": "2026-01-05T15:00:03",
                },
            }
        },
    )
    item = page.locator(f'tbody[data-key="p{site.proposals["xss"]}"]')
    expect(item.locator(".order-status")).to_have_text("REJECTED")
    item.locator("tr.summary").click()
    expect(item.locator(".lifecycle")).to_have_text(f"Rejected: {X}")
    assert page.evaluate("window.__pwned") is None
    for path in ("/", f"/orders/{order['id']}", "/debug/orders", "/alerts", "/trades", "/status"):
        assert page.goto(site.url + path).status == 200, path
        if path.startswith("/orders"):
            for summary in page.locator("details summary").all():
                summary.click()
        if path in ("/debug/orders", "/alerts") or path.startswith("/orders"):
            expect(page.locator("main")).to_contain_text(X)  # shown as text
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None, path
    found = site.get("/api/orders?external=true")["data"]
    for o in found:
        assert page.goto(f"{site.url}/orders/{o['id']}").status == 200
        page.wait_for_timeout(200)
        assert page.evaluate("window.__pwned") is None, o["id"]

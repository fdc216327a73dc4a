"""Live pages neither miss a committed change nor let an older answer overwrite a newer one."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site

pytestmark = pytest.mark.browser


def test_a_cancel_request_appears_on_the_open_order_page(page: Any, site: Site) -> None:
    site.entry("ibm", {"symbol": "IBM"}, "4")
    site.submit("ibm")
    order = site.orders["ibm"]
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.locator("#live")).to_have_text("live")
    kinds = page.locator(".timeline .event .kind")
    expect(page.locator("body[data-refreshed]")).to_have_count(1)  # the on-connect refresh
    expect(kinds).to_have_text(["RECORDED", "ACKNOWLEDGED", "PLACED"])
    site.post(f"/api/proposals/{site.proposals['ibm']}/cancel")
    timeline = site.get(f"/api/orders/{order['id']}")["events"]
    assert timeline[-1]["kind"] == "CANCEL_REQUESTED"  # committed, and the API shows it
    expect(kinds).to_have_text(
        ["RECORDED", "ACKNOWLEDGED", "PLACED", "CANCEL_REQUESTED"], timeout=4000
    )


def test_an_older_refresh_never_overwrites_a_newer_one(page: Any, site: Site) -> None:
    site.entry("orcl", {"symbol": "ORCL"}, "2")
    site.submit("orcl")
    held: list[tuple[Any, Any]] = []

    def live_refresh(route: Any) -> None:
        if route.request.headers.get("x-requested-with") != "live":
            route.continue_()
        elif not held:  # the first refresh's answer is slow: rendered now, delivered later
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(site.url + "/", live_refresh)
    page.goto(site.url + "/")
    expect(page.locator("#live")).to_have_text("live")  # its "open" sends the first refresh
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page never refreshed on connecting"
    item = page.locator(f'tbody[data-key="p{site.proposals["orcl"]}"]')
    expect(item.locator(".order-status")).to_have_text("PLACED")
    site.fill("orcl", 2, "10")
    expect(item.locator(".order-status")).to_have_text("FILLED")  # the newer refresh landed
    route, stale = held[0]
    route.fulfill(response=stale)  # now the older answer arrives
    page.wait_for_timeout(1000)
    expect(item.locator(".order-status")).to_have_text("FILLED", timeout=1000)


def test_a_failed_refresh_is_tried_again(page: Any, site: Site) -> None:
    site.entry("amzn", {"symbol": "AMZN"}, "3")
    site.submit("amzn")
    page.goto(site.url + "/")
    expect(page.locator("body[data-refreshed]")).to_have_count(1)  # on-connect refresh done
    failed: list[str] = []

    def once(route: Any) -> None:
        if route.request.headers.get("x-requested-with") == "live" and not failed:
            failed.append(route.request.url)
            route.fulfill(status=503, body="busy")  # one transient failure
        else:
            route.continue_()

    page.route(site.url + "/", once)
    item = page.locator(f'tbody[data-key="p{site.proposals["amzn"]}"]')
    site.fill("amzn", 3, "5")
    for _ in range(30):  # the fill's event arrived and its refresh failed once
        if failed:
            break
        page.wait_for_timeout(100)
    assert failed
    expect(item.locator(".order-status")).to_have_text("FILLED", timeout=8000)

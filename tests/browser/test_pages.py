"""The pages in headless Chromium: badges, expanding rows, live fills, debug flags, timelines."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site, shoot

pytestmark = pytest.mark.browser


def test_board_shows_type_badges_and_real_order_statuses(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    expect(page.locator("h1")).to_have_text("Proposals & Orders")
    expect(page.locator(".badge.k-entry").first).to_be_visible()
    expect(page.locator(".badge.k-exit")).to_have_count(1)

    def row(name: str) -> Any:
        return page.locator(f'tbody[data-key="p{site.proposals[name]}"]')

    expect(row("aapl").locator(".order-status")).to_have_text("FILLED")
    expect(row("aapl").locator(".lifecycle")).to_have_text("Entry filled – trade CLOSED")
    expect(row("exit").locator(".badge")).to_have_text("EXIT")
    expect(row("exit").locator(".lifecycle")).to_have_text("Exit filled – trade CLOSED")
    expect(row("exit").locator(".fill-price")).to_have_text("104.5")
    expect(row("spy").locator(".order-status")).to_have_text("PLACED")
    expect(row("nvda").locator(".lifecycle")).to_have_text(
        "Entry partially filled (6/9) – trade OPEN"
    )
    expect(row("gme").locator(".order-status")).to_have_text("REJECTED")
    expect(row("gme").locator(".lifecycle")).to_contain_text("Rejected: paper broker")
    expect(row("msft").locator(".lifecycle")).to_have_text("Entry proposed")
    shoot(page, "proposals-and-orders")


def test_a_row_expands_to_its_order_details(page: Any, site: Site) -> None:
    order = site.orders["spy"]
    page.goto(site.url + "/")
    item = page.locator(f'tbody[data-key="p{site.proposals["spy"]}"]')
    details = item.locator("tr.details")
    expect(details).to_be_hidden()
    item.locator("tr.summary").click()
    expect(details).to_be_visible()
    expect(item.locator(".expander")).to_have_attribute("aria-expanded", "true")
    expect(details.locator(".d-side")).to_contain_text("ENTRY")
    expect(details.locator(".d-status")).to_contain_text("PLACED")
    expect(details.locator(".d-fill")).to_have_text("–")
    expect(details.locator(".d-broker-id")).to_have_text(order["brokerOrderId"])
    expect(details.locator(".d-client-id")).to_have_text(order["clientOrderId"])
    expect(details.locator(".d-lifecycle")).to_have_text("Entry working")
    shoot(page, "proposals-and-orders-expanded")
    item.locator(".expander").click()
    expect(details).to_be_hidden()


def test_a_fill_through_the_test_endpoint_appears_on_the_open_page_without_a_reload(
    page: Any, site: Site
) -> None:
    page.goto(site.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.stillTheSamePage = true")
    item = page.locator(f'tbody[data-key="p{site.proposals["tsla"]}"]')
    item.locator("tr.summary").click()
    expect(item.locator(".order-status")).to_have_text("PLACED")
    site.fill("tsla", 6, "2.45")
    expect(item.locator(".order-status")).to_have_text("FILLED")
    expect(item.locator(".fill-price")).to_have_text("2.45")
    expect(item.locator(".lifecycle")).to_have_text("Entry filled – trade OPEN")
    expect(item.locator("tr.details")).to_be_visible()  # still expanded after the update
    expect(item.locator(".d-fill")).to_have_text("2.45")
    assert page.evaluate("window.stillTheSamePage") is True
    shoot(page, "proposals-and-orders-live-fill")


def test_the_debug_page_highlights_an_unmatched_external_order(page: Any, site: Site) -> None:
    page.goto(site.url + "/debug/orders")
    hand = page.locator("tr.item", has_text=f"paper:{site.hand_placed}")
    expect(hand).to_have_class("item flag-unmatched")
    expect(hand.locator(".flag.f-unmatched")).to_be_visible()
    expect(hand).to_contain_text("no proposal")
    normal = page.locator(f'tr.item[data-key="o{site.orders["spy"]["id"]}"]')
    marked = hand.evaluate("row => getComputedStyle(row).backgroundColor")
    plain = normal.evaluate("row => getComputedStyle(row).backgroundColor")
    assert marked != plain
    ambiguous = page.locator("tr.flag-ambiguous")
    expect(ambiguous.first).to_contain_text("ambiguous in ProfAndKian")
    shoot(page, "debug-orders")
    page.locator(".chips a", has_text="unmatched").click()
    expect(page.locator("tr.item")).to_have_count(2)
    shoot(page, "debug-orders-unmatched")


def test_the_order_page_shows_the_timeline_with_raw_payloads(page: Any, site: Site) -> None:
    order = site.orders["aapl"]
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.locator("h1")).to_contain_text(f"Order #{order['id']}")
    events = page.locator(".timeline .event")
    expect(events.locator(".kind")).to_have_text(
        ["RECORDED", "ACKNOWLEDGED", "PLACED", "FILL", "FILLED"]
    )
    fill = events.nth(3)
    expect(fill).to_contain_text("Fill 10 @ 100")
    fill.locator("summary").click()
    expect(fill.locator("pre")).to_contain_text('"exec_quantity": "10"')
    expect(page.locator(".facts")).to_contain_text(order["clientOrderId"])
    shoot(page, "order-timeline")


def test_alerts_trades_and_status_pages(page: Any, site: Site) -> None:
    page.goto(site.url + "/alerts")
    for alerter in ("RealDayTrading", "Demslayer", "ProfAndKian"):
        expect(page.locator("h2", has_text=alerter)).to_be_visible()
    expect(page.locator(".badge.open").first).to_be_visible()
    shoot(page, "alerts")
    page.goto(site.url + "/trades")
    closed = page.locator("tr.item", has_text="CLOSED")
    expect(closed.locator(".pnl")).to_have_text("45")
    expect(closed.locator(".pnl")).to_have_class("num pnl gain")
    expect(page.locator(".tally")).to_contain_text("1 closed · realised P&L on this page 45")
    shoot(page, "trades")
    page.goto(site.url + "/status")
    expect(page.locator("table.grid").first).to_contain_text("paper / P1")
    shoot(page, "status")


def test_the_pages_fit_a_phone_screen(browser: Any, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        phone.goto(site.url + "/")
        expect(phone.locator(".badge.k-entry").first).to_be_visible()
        shoot(phone, "proposals-and-orders-phone")
        order_id = site.orders["aapl"]["id"]
        for path in ("/", "/debug/orders", f"/orders/{order_id}", "/alerts", "/trades", "/status"):
            phone.goto(site.url + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide on a 390px screen"
    finally:
        context.close()


def test_no_page_asks_for_anything_that_fails_or_logs_an_error(page: Any, site: Site) -> None:
    # Every request a page makes answers (no 404 for a favicon on every page), and nothing is
    # logged as an error in the console.
    failed: list[str] = []
    page.on("console", lambda m: failed.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    leaving = "/api/events"  # the live stream, aborted as each page is left: not a failure
    page.on("requestfailed", lambda r: None if leaving in r.url else failed.append(r.url))
    order = site.orders["aapl"]
    for path in ("/", "/debug/orders", f"/orders/{order['id']}", "/alerts", "/trades", "/status"):
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
    assert failed == []

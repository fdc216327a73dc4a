"""The fake Tradier server itself: formats, tags, control API, sessions and scale."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from ordertrail.brokers.tradier import TradierBroker
from tests.brokers.tradier.conftest import make_config
from tests.fakes.tradier import FakeTradier

D = Decimal


def api(fake: FakeTradier, json: bool = True) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    return headers | ({"Accept": "application/json"} if json else {})


def orders_url(fake: FakeTradier) -> str:
    return f"{fake.base_url}/accounts/{fake.account_id}/orders"


async def test_answers_xml_unless_json_is_asked_for(fake: FakeTradier) -> None:
    fake.create_order("AAPL", tag="ot-x")
    async with httpx.AsyncClient() as client:
        xml = await client.get(orders_url(fake), headers=api(fake, json=False))
        plain = await client.get(orders_url(fake), headers=api(fake))
    assert xml.headers["content-type"].startswith("application/xml")
    assert "<orders><order><id>" in xml.text
    assert "tag" not in plain.json()["orders"]["order"]
    assert plain.headers["x-ratelimit-available"] == "118"


async def test_tag_checks_use_tradiers_texts(fake: FakeTradier) -> None:
    base = {
        "class": "equity",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": "1",
        "type": "market",
        "duration": "day",
    }
    async with httpx.AsyncClient() as client:
        url, headers = orders_url(fake), api(fake)
        bad = await client.post(url, data=base | {"tag": "a b"}, headers=headers)
        long = await client.post(url, data=base | {"tag": "a" * 256}, headers=headers)
    assert (bad.status_code, bad.text) == (
        400,
        "Invalid parameter, tag: contains invalid characters.",
    )
    assert long.text == "Invalid parameter, tag: contains more than 255 characters."


async def test_control_api_over_http_drives_orders(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    async with httpx.AsyncClient(base_url=fake.control_url) as control:
        created = await control.post("/orders", json={"symbol": "SPY", "quantity": 100})
        order_id = created.json()["result"]
        steps = [
            {"kind": "fill", "quantity": 40, "price": "400.10"},
            {"kind": "fill", "quantity": 60, "price": "400.20"},
        ]
        await control.post(f"/orders/{order_id}/script", json={"steps": steps})
        assert (await control.post(f"/orders/{order_id}/advance")).json()["result"] is True
        partial = await broker.get_order(str(order_id))
        assert (await control.post("/tick")).json()["result"] == 1
        await control.post("/faults", json={"fault": "502", "times": 1})
        filled = await broker.get_order(str(order_id))
        state = (await control.get("/state")).json()["result"]
    assert partial is not None and partial.filled_quantity == 40
    assert filled is not None and filled.filled_quantity == 100
    assert filled.avg_fill_price == D("400.16")
    assert state["orders"] == 1


async def test_runs_as_a_task_of_the_test_loop() -> None:
    async with FakeTradier(accounts=("VA1",)) as fake:
        broker = TradierBroker(make_config(fake))
        try:
            fake.create_order("AAPL")
            assert len(await broker.list_orders(fake.clock())) == 1
        finally:
            await broker.aclose()


async def test_one_session_at_a_time_and_sessions_expire(fake: FakeTradier) -> None:
    first = fake.hub.new_session()
    second = fake.hub.new_session()
    assert not fake.hub.valid(first) and fake.hub.valid(second)
    fake.set_knobs(session_ttl_s=0)
    assert not fake.hub.valid(fake.hub.new_session())


async def test_ten_thousand_orders_stay_quick(fake: FakeTradier) -> None:
    fake.set_limits(standard=10_000)
    for index in range(10_000):
        fake.create_order("AAPL", quantity=index + 1)
    broker = TradierBroker(make_config(fake, page_limit=1000))
    try:
        started = time.monotonic()
        reports = await broker.list_orders(fake.clock())
        listed = time.monotonic() - started
        started = time.monotonic()
        for order_id in (1_000_001, 1_005_000, 1_010_000):
            assert await broker.get_order(str(order_id)) is not None
        looked_up = time.monotonic() - started
    finally:
        await broker.aclose()
    assert len(reports) == 10_000 and reports[-1].quantity == 10_000
    assert listed < 10 and looked_up < 1


@pytest.mark.parametrize("knob", ["nope"])
async def test_unknown_knobs_are_refused(fake: FakeTradier, knob: str) -> None:
    with pytest.raises(KeyError):
        fake.set_knobs(**{knob: True})

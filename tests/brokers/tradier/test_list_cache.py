"""The order list cache: an order Tradier shows unchanged is the same report, unparsed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from ordertrail.brokers.tradier import TradierBroker, list_cache
from ordertrail.brokers.tradier.list_cache import ListCache
from ordertrail.brokers.tradier.parsing import needs_fill_data, order_dicts, parse_order_dict
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from tests.brokers.tradier.conftest import load, make_config
from tests.fakes.tradier import FakeTradier

ACCOUNT = "VA11111111"


def _orders() -> list[Mapping[str, Any]]:
    """The three orders of the documented list, decoded afresh (new dicts every call)."""
    return order_dicts(load("list_three_orders_docs.json"))


def _read(cache: ListCache, orders: list[Mapping[str, Any]]) -> list[tuple[OrderReport, bool]]:
    cache.start()
    answers = cache.reports(orders)
    cache.finish()
    return answers


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every order the cache parses (the real parser, counted)."""
    seen: list[object] = []

    def counted(order: Mapping[str, Any], account_id: str, source: str) -> OrderReport:
        seen.append(order.get("id"))
        return parse_order_dict(order, account_id, source)

    monkeypatch.setattr(list_cache, "parse_order_dict", counted)
    return seen


def test_an_equal_order_gets_the_very_same_report_unparsed(parses: list[object]) -> None:
    cache = ListCache(ACCOUNT)
    first = _read(cache, _orders())
    again = _read(cache, _orders())
    assert parses == [228175, 228749, 229063]  # once each, on the first list only
    assert all(a[0] is b[0] for a, b in zip(first, again, strict=True))
    assert [complete for _, complete in again] == [True, True, True]
    assert again[0][0] == parse_order_dict(_orders()[0], ACCOUNT, "poll")


def test_one_changed_field_parses_that_order_again(parses: list[object]) -> None:
    cache = ListCache(ACCOUNT)
    first = _read(cache, _orders())
    changed = _orders()
    changed[1] = dict(changed[1], status="canceled")
    again = _read(cache, changed)
    assert parses[3:] == [228749]
    assert again[1][0] is not first[1][0]
    assert again[1][0].status is OrderStatus.CANCELLED
    assert again[0][0] is first[0][0] and again[2][0] is first[2][0]


def test_a_change_deep_in_a_leg_counts(parses: list[object]) -> None:
    cache = ListCache(ACCOUNT)
    first = _read(cache, _orders())
    changed = _orders()
    spread = copy.deepcopy(dict(changed[2]))
    spread["leg"][0]["status"] = "filled"
    changed[2] = spread
    again = _read(cache, changed)
    assert again[2][0] is not first[2][0]
    assert again[2][0].legs[0].broker_status == "filled"


def test_an_order_gone_from_the_list_is_forgotten(parses: list[object]) -> None:
    cache = ListCache(ACCOUNT)
    first = _read(cache, _orders())
    _read(cache, _orders()[:2])
    assert len(cache) == 2
    back = _read(cache, _orders())
    assert back[2][0] is not first[2][0]  # parsed again: the cache kept only the last list
    assert back[0][0] is first[0][0]
    assert parses.count(229063) == 2


def test_a_list_read_only_in_part_leaves_the_last_whole_list(parses: list[object]) -> None:
    cache = ListCache(ACCOUNT)
    first = _read(cache, _orders())
    cache.start()
    cache.reports(_orders()[:1])  # the next page failed: no finish
    again = _read(cache, _orders())
    assert all(a[0] is b[0] for a, b in zip(first, again, strict=True))


def test_a_report_that_still_needs_fill_data_is_never_kept(parses: list[object]) -> None:
    filled_before_numbers = {
        "id": 5501,
        "type": "market",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": Decimal("10.00000000"),
        "status": "filled",
        "avg_fill_price": Decimal("0E-8"),
        "exec_quantity": Decimal("10.00000000"),
        "class": "equity",
    }
    cache = ListCache(ACCOUNT)
    (first,) = _read(cache, [filled_before_numbers])
    (again,) = _read(cache, [dict(filled_before_numbers)])
    assert first == (first[0], False) and again == (again[0], False)
    assert again[0] is not first[0]
    assert len(cache) == 0 and parses == [5501, 5501]
    priced = dict(filled_before_numbers, avg_fill_price=Decimal("187.10"))
    (known,) = _read(cache, [priced])
    (same,) = _read(cache, [dict(priced)])
    assert known[1] and same[0] is known[0]


def test_orders_without_a_usable_id_are_parsed_every_time(parses: list[object]) -> None:
    order = dict(_orders()[0])
    del order["id"]
    cache = ListCache(ACCOUNT)
    (first,) = _read(cache, [order])
    (again,) = _read(cache, [dict(order)])
    assert first[0] is not again[0] and len(cache) == 0


async def test_the_broker_lists_unchanged_orders_as_the_same_reports(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(initial_status="open")
    ids = [fake.create_order("AAPL", quantity=10), fake.create_order("MSFT", quantity=5)]
    first = await broker.list_orders(fake.clock())
    again = await broker.list_orders(fake.clock())
    assert [r.broker_order_id for r in first] == [str(i) for i in ids]
    assert all(a is b for a, b in zip(first, again, strict=True))
    fake.fill(ids[1], 2, "101.50")
    moved = await broker.list_orders(fake.clock())
    assert moved[0] is first[0]
    assert moved[1] is not first[1]
    assert (moved[1].status, moved[1].filled_quantity) == (OrderStatus.PARTIAL, Decimal(2))


async def test_a_listed_fill_without_numbers_is_parsed_again_until_they_come(
    fake: FakeTradier,
) -> None:
    fake.set_knobs(initial_status="open", fill_data_lag_reads=2)
    order_id = fake.create_order("AAPL", quantity=10)
    broker = TradierBroker(make_config(fake, fill_data_deadline_s=0.0))  # no waiting for data
    try:
        await broker.list_orders(fake.clock())
        fake.fill(order_id, 10, "187.10")
        (bare,) = await broker.list_orders(fake.clock())
        (still,) = await broker.list_orders(fake.clock())
        (priced,) = await broker.list_orders(fake.clock())
        (same,) = await broker.list_orders(fake.clock())
    finally:
        await broker.aclose()
    assert bare.raw == still.raw and needs_fill_data(bare)
    assert still is not bare  # the same view, parsed again: it was not kept
    assert (priced.status, priced.avg_fill_price) == (OrderStatus.FILLED, Decimal("187.10"))
    assert same is priced

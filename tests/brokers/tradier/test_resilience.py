"""Bursts of backend trouble, quotas and token faults; the token never leaks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from decimal import Decimal

import httpx
import pytest

from ordertrail.brokers.tradier import TradierBroker
from ordertrail.domain.instrument import Instrument
from ordertrail.errors import BrokerAuthError, BrokerError, BrokerUnavailable
from ordertrail.ports import PlaceRequest
from tests.brokers.tradier.conftest import TOKEN, make_config, open_stream
from tests.fakes.tradier import FakeTradier, Fault

D = Decimal


@pytest.mark.parametrize(
    "fault",
    [
        Fault.BAD_GATEWAY,
        Fault.GATEWAY_TIMEOUT,
        Fault.SERVER_ERROR,
        Fault.NOT_FOUND,
        Fault.DATASTORE,
        Fault.HTML_200,
        Fault.QUOTA,
        Fault.DROP,
    ],
)
async def test_reads_survive_a_burst_of_backend_trouble(
    fake: FakeTradier, broker: TradierBroker, fault: Fault
) -> None:
    fake.set_limits(window_s=0.2)
    order_id = fake.create_order("AAPL")
    fake.inject(fault, times=3, method="GET")
    reports = await broker.list_orders(fake.clock())
    assert [r.broker_order_id for r in reports] == [str(order_id)]
    assert len(fake.requests_to("GET", "/orders")) == 4


async def test_persistent_trouble_ends_in_unavailable_never_in_no_orders(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.create_order("AAPL")
    fake.inject(Fault.HTML_200, times=100, method="GET")
    with pytest.raises(BrokerUnavailable):
        await broker.list_orders(fake.clock())
    assert len(fake.requests_to("GET", "/orders")) == 4


async def test_timeouts_on_reads_are_retried(
    fake: FakeTradier, short_timeout_broker: TradierBroker
) -> None:
    order_id = fake.create_order("AAPL")
    fake.inject(Fault.HANG, times=1, method="GET")
    report = await short_timeout_broker.get_order(str(order_id))
    assert report is not None and report.broker_order_id == str(order_id)


async def test_the_quota_headers_pace_calls_so_no_quota_violation_happens(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_limits(window_s=0.25, standard=3)
    order_id = fake.create_order("AAPL")
    for _ in range(8):
        assert await broker.get_order(str(order_id)) is not None
    assert fake.limits.refused == 0


async def test_a_place_burst_over_the_trading_quota_places_each_order_once(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_limits(window_s=0.2, trading=2)
    for index in range(5):
        request = PlaceRequest(
            client_order_id=f"ot-burst-{index}",
            instrument=Instrument("AAPL"),
            side="buy",
            quantity=D(1),
        )
        await broker.place(request)
    for index in range(5):
        assert len(fake.orders_with_tag(f"ot-burst-{index}")) == 1


@pytest.mark.parametrize("fault", [Fault.TOKEN_INVALID, Fault.TOKEN_EXPIRED])
async def test_token_faults_are_auth_errors_and_not_retried(
    fake: FakeTradier, broker: TradierBroker, fault: Fault
) -> None:
    fake.inject(fault, times=5)
    with pytest.raises(BrokerAuthError):
        await broker.list_orders(fake.clock())
    assert len(fake.requests_to("GET")) == 1


async def test_a_wrong_token_is_an_auth_error(fake: FakeTradier) -> None:
    broker = TradierBroker(make_config(fake, access_token="not-the-token"))
    try:
        with pytest.raises(BrokerAuthError) as caught:
            await broker.list_orders(fake.clock())
        assert "not-the-token" not in str(caught.value)
    finally:
        await broker.aclose()


async def test_the_token_never_shows_in_logs_errors_or_reprs(
    fake: FakeTradier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = httpx.AsyncClient(timeout=0.5)
    broker = TradierBroker(make_config(fake), http=client)
    errors: list[BaseException] = []

    async def attempt(call: Awaitable[object]) -> None:
        try:
            await call
        except BrokerError as error:
            errors.append(error)

    request = PlaceRequest(
        client_order_id="ot-secret-1", instrument=Instrument("AAPL"), side="buy", quantity=D(1)
    )
    placed = await broker.place(request)
    await broker.list_orders(fake.clock())
    fake.inject(Fault.GATEWAY_TIMEOUT, times=10, method="GET")
    await attempt(broker.get_order(placed.broker_order_id))
    fake.lose_next_place(Fault.DROP)
    await attempt(broker.place(request))
    fake.inject(Fault.TOKEN_EXPIRED)
    await attempt(broker.cancel(placed.broker_order_id))
    fake.refuse_next_place(["DayTradingBuyingPowerExceeded"])
    await attempt(broker.place(request))
    stream = await open_stream(broker, fake)
    fake.fill(int(placed.broker_order_id), 1, "10")
    fake.disconnect_streams()
    await stream.close()
    await client.aclose()
    assert len(errors) == 4
    assert caplog.records, "nothing was logged, so the check proves nothing"
    texts = [caplog.text, repr(broker), repr(make_config(fake)), repr(broker._api)]
    texts += [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(e.__cause__) for e in errors] + [repr(e.__context__) for e in errors]
    leaks = [text for text in texts if TOKEN in text]
    assert leaks == []

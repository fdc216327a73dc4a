"""Fixtures for the Tradier adapter tests: a fake Tradier server and a broker pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.domain.events import Fill
from ordertrail.domain.instrument import Instrument, SecType
from ordertrail.domain.order import KnownFills, OrderState, evolve
from ordertrail.domain.proposal import ProposalLeg
from ordertrail.domain.report import OrderReport
from ordertrail.ports import PlaceRequest, StreamBatch, StreamConnected, StreamItem
from tests.fakes.tradier import FakeTradier
from tests.support.eventually import eventually

RESOURCES = Path(__file__).parents[2] / "resources" / "tradier"
TOKEN = "tok-SECRET-7f3c2a104e1b4c8e"


def load(name: str) -> Any:
    """Read a recorded payload with exact decimals."""
    text = (RESOURCES / name).read_text()
    return json.loads(text, parse_float=Decimal) if name.endswith(".json") else text


@pytest.fixture(scope="session")
def served_fake() -> Iterator[FakeTradier]:
    with FakeTradier(token=TOKEN, accounts=("VA11111111", "VA22222222")) as fake:
        yield fake


@pytest.fixture
def fake(served_fake: FakeTradier) -> FakeTradier:
    served_fake.reset()
    served_fake.set_knobs(heartbeat_interval_s=0.2)
    return served_fake


def make_config(fake: FakeTradier, **overrides: Any) -> TradierConfig:
    values: dict[str, Any] = {
        "access_token": fake.token,
        "account_id": fake.account_id,
        "base_url": fake.base_url,
        "heartbeat_timeout_s": 2.0,
        "fill_data_deadline_s": 2.0,
        "fill_data_interval_s": 0.05,
        "retry_backoff_s": 0.01,
        "request_timeout_s": 3.0,
    }
    return TradierConfig(**(values | overrides))


@pytest.fixture
async def broker(fake: FakeTradier) -> AsyncIterator[TradierBroker]:
    tradier = TradierBroker(make_config(fake))
    yield tradier
    await tradier.aclose()


@pytest.fixture
async def short_timeout_broker(fake: FakeTradier) -> AsyncIterator[TradierBroker]:
    client = httpx.AsyncClient(timeout=0.5)
    tradier = TradierBroker(make_config(fake), http=client)
    yield tradier
    await client.aclose()


def fold(
    reports: Iterable[OrderReport], state: OrderState | None = None
) -> tuple[OrderState, list[Fill]]:
    """Apply reports through the domain's `evolve`; return the final state and every fill."""
    state = state or OrderState(broker="tradier", account_id="VA11111111")
    fills: list[Fill] = []
    for report in reports:
        change = evolve(state, report, KnownFills.of(fills))
        fills.extend(change.fills)
        state = change.after
    return state, fills


class StreamCollector:
    """Read a broker stream in the background, keeping every item and the error it ended with."""

    def __init__(self, stream: AsyncIterator[StreamItem]) -> None:
        self.stream = stream
        self.items: list[StreamItem] = []
        self.error: BaseException | None = None
        self.ended = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.stream:
                self.items.append(item)
        except Exception as error:
            self.error = error
        finally:
            self.ended = True

    @property
    def connected(self) -> bool:
        return any(isinstance(item, StreamConnected) for item in self.items)

    @property
    def reports(self) -> list[OrderReport]:
        flat: list[OrderReport] = []
        for item in self.items:
            if isinstance(item, StreamBatch):
                flat.extend(item.reports)
            elif isinstance(item, OrderReport):
                flat.append(item)
        return flat

    def reports_for(self, order_id: str) -> list[OrderReport]:
        return [report for report in self.reports if report.broker_order_id == order_id]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def open_stream(broker: TradierBroker, fake: FakeTradier) -> StreamCollector:
    """Start a stream session and wait until the fake has the subscriber."""
    stream = broker.stream()
    assert stream is not None
    collector = StreamCollector(stream)
    await eventually(lambda: collector.connected and fake.stream_subscribers == 1)
    return collector


def strangle(client_order_id: str) -> PlaceRequest:
    """A two-leg SPY option order (a credit strangle) as a multileg request."""
    return PlaceRequest(
        client_order_id=client_order_id,
        instrument=Instrument(symbol="SPY", sec_type=SecType.MULTILEG),
        side="buy",
        quantity=Decimal(1),
        order_type="credit",
        limit_price=Decimal("1.25"),
        legs=(
            ProposalLeg("SPY260116C00600000", "sell_to_open", Decimal(1)),
            ProposalLeg("SPY260116P00550000", "sell_to_open", Decimal(1)),
        ),
    )


async def place_oco(fake: FakeTradier, tag: str | None = None) -> tuple[str, str, str]:
    """Place by hand an OCO pair selling 10 AAPL (a limit at 200, a stop at 150), as one would
    on Tradier's site; return the parent's id and its children's."""
    form = {"class": "oco", "duration": "gtc", "type[0]": "limit", "price[0]": "200"}
    form |= {"type[1]": "stop", "stop[1]": "150"} | ({"tag": tag} if tag else {})
    for index in (0, 1):
        form |= {f"symbol[{index}]": "AAPL", f"side[{index}]": "sell", f"quantity[{index}]": "10"}
    headers = {"Authorization": f"Bearer {fake.token}", "Accept": "application/json"}
    async with httpx.AsyncClient(headers=headers) as client:
        url = f"{fake.base_url}/accounts/{fake.account_id}/orders"
        parent = (await client.post(url, data=form)).json()["order"]["id"]
        children = (await client.get(f"{url}/{parent}")).json()["order"]["leg"]
    limit_leg, stop_leg = children
    return str(parent), str(limit_leg["id"]), str(stop_leg["id"])

"""Fixtures for the IBKR adapter tests: recorded payloads, the fake gateway, a broker on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.domain.events import Fill
from ordertrail.domain.order import KnownFills, OrderState, evolve
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerError
from ordertrail.ports import StreamBatch, StreamConnected, StreamItem
from tests.fakes.ibkr import FakeIbkrGateway

RESOURCES = Path(__file__).parents[2] / "resources" / "ibkr"
ACCOUNT = "DU1234567"


def load(name: str) -> Any:
    """Read a recorded payload with exact decimals (text for non-JSON files)."""
    text = (RESOURCES / name).read_text()
    return json.loads(text, parse_float=Decimal) if name.endswith(".json") else text


def config_for(gateway: FakeIbkrGateway, **overrides: Any) -> IbkrConfig:
    """A config pointing at the fake, without the real gateway's pacing."""
    settings: dict[str, Any] = {
        "account_id": gateway.account_id,
        "base_url": gateway.base_url,
        "orders_min_interval_s": 0.0,
        "retry_backoff_s": 0.01,
        "heartbeat_timeout_s": 2.0,
        "tic_interval_s": 0.5,
    }
    settings.update(overrides)
    return IbkrConfig(**settings)


class States(dict[str, OrderState]):
    """Order states by key; an order not seen yet reads as a fresh one (for probes)."""

    def __init__(self, broker: str, account_id: str) -> None:
        super().__init__()
        self.fresh = OrderState(broker=broker, account_id=account_id)

    def __missing__(self, key: str) -> OrderState:
        return self.fresh


class Ledger:
    """Fold reports through the domain's `evolve`, as the apply path does."""

    def __init__(self, account_id: str = ACCOUNT, broker: str = "ibkr") -> None:
        self.account_id = account_id
        self.states = States(broker, account_id)
        self.fills: dict[str, list[Fill]] = defaultdict(list)
        self.events: list[Any] = []

    def apply(self, item: StreamItem | OrderReport | list[OrderReport]) -> None:
        if isinstance(item, list):
            reports: tuple[OrderReport, ...] = tuple(item)
        elif isinstance(item, StreamBatch):
            reports = item.reports
        elif isinstance(item, OrderReport):
            reports = (item,)
        else:
            return
        for report in reports:
            key = report.broker_order_id or f"ref:{report.client_order_id}"
            state = self.states.get(key, self.states.fresh)
            change = evolve(state, report, KnownFills.of(self.fills[key]))
            self.states[key] = change.after
            self.fills[key].extend(change.fills)
            self.events.extend(change.events)


class StreamRunner:
    """Consume `broker.stream()` like the watcher: reconnect after a drop, keep everything."""

    def __init__(self, broker: IbkrBroker) -> None:
        self.broker = broker
        self.items: list[StreamItem] = []
        self.connects = 0
        self.drops: list[BrokerError] = []
        self.ledger = Ledger(broker.account_id)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            stream = self.broker.stream()
            assert stream is not None
            try:
                async for item in stream:
                    self.items.append(item)
                    if isinstance(item, StreamConnected):
                        self.connects += 1
                    self.ledger.apply(item)
            except BrokerError as error:
                self.drops.append(error)
            await asyncio.sleep(0.05)  # the watcher's reconnect backoff

    def start(self) -> StreamRunner:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reports(self) -> list[OrderReport]:
        out: list[OrderReport] = []
        for item in self.items:
            if isinstance(item, StreamBatch):
                out.extend(item.reports)
            elif isinstance(item, OrderReport):
                out.append(item)
        return out

    def executions(self) -> list[str]:
        return [e.execution_id for r in self.reports() for e in r.executions]


@pytest.fixture
async def gateway() -> AsyncIterator[FakeIbkrGateway]:
    async with FakeIbkrGateway(account_id=ACCOUNT, hb_interval_s=0.2) as gw:
        yield gw


@pytest.fixture
async def broker(gateway: FakeIbkrGateway) -> AsyncIterator[IbkrBroker]:
    adapter = IbkrBroker(config_for(gateway))
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def runner(broker: IbkrBroker) -> AsyncIterator[StreamRunner]:
    running = StreamRunner(broker).start()
    yield running
    await running.stop()


@pytest.fixture
def gateway_broker_factory(gateway: FakeIbkrGateway):
    """Make brokers on the fake with extra settings; they are closed by the test."""

    def make(**overrides: Any) -> IbkrBroker:
        return IbkrBroker(config_for(gateway, **overrides))

    return make

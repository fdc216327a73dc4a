"""Fixtures: a `FakeTws` (ib_async's real objects on a loopback client) and the adapter on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ordertrail.brokers.tws.client import TwsBroker
from ordertrail.brokers.tws.config import TwsConfig
from tests.fakes.tws import ACCOUNT, CLIENT_ID, FakeTws


@pytest.fixture
def tws() -> FakeTws:
    return FakeTws()


@pytest.fixture
async def broker(tws: FakeTws) -> AsyncIterator[TwsBroker]:
    config = TwsConfig(account_id=ACCOUNT, client_id=CLIENT_ID, place_timeout_s=2.0)
    adapter = TwsBroker(config, ib=tws.ib)
    yield adapter
    await adapter.aclose()

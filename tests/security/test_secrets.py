"""No broker token, gateway session or API token in logs (every logger at DEBUG), API answers,
pages, error messages, reprs, or a CLI process's output: the tests grep for the values."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ordertrail.api.app import create_app
from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.domain.instrument import Instrument
from ordertrail.errors import BrokerError
from ordertrail.ports import PlaceRequest, StreamConnected
from ordertrail.settings import Settings
from tests.fakes.ibkr import FakeIbkrGateway
from tests.fakes.tradier import FakeTradier, Fault
from tests.support.eventually import eventually

BROKER_TOKEN = "trd-tok-Q8w3Rt6Yp1Zx4Vb7Nc2M"
WRONG_TOKEN = "trd-wrong-Hh5Jj8Kk1Ll4Zz7Xx0C"
API_TOKEN = "api-tok-9Zq2LxW7vR4mT1pB6Yn3"
ACCOUNT = "VA77777777"
SECRETS = (BROKER_TOKEN, WRONG_TOKEN, API_TOKEN)


def assert_secret_free(*texts: object, secrets: tuple[str, ...] = SECRETS) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in str(text), f"a secret leaked into: {str(text)[:300]}"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTradier]:
    with FakeTradier(token=BROKER_TOKEN, accounts=(ACCOUNT,)) as served:
        yield served


@pytest.fixture
def tradier(fake: FakeTradier) -> FakeTradier:
    fake.reset()
    fake.set_knobs(heartbeat_interval_s=0.1)
    fake.set_limits(window_s=0.2, standard=10**6, trading=10**6)
    return fake


def tradier_config(fake: FakeTradier, token: str = BROKER_TOKEN) -> TradierConfig:
    return TradierConfig(
        access_token=token,
        account_id=ACCOUNT,
        base_url=fake.base_url,
        stream_url=fake.stream_url,
        heartbeat_timeout_s=1.0,
        retry_backoff_s=0.01,
        fill_data_deadline_s=0.5,
        fill_data_interval_s=0.02,
    )


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "websockets", "uvicorn", "sqlalchemy"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_the_tradier_adapter_keeps_its_token_out_of_logs_errors_and_reprs(
    tradier: FakeTradier, everything_logged: pytest.LogCaptureFixture
) -> None:
    broker = TradierBroker(tradier_config(tradier))
    errors: list[BaseException] = []
    request = PlaceRequest("ot-1-ENTRY-20260105T150000000Z", Instrument("AAPL"), "buy", Decimal(3))
    stream = broker.stream()
    assert stream is not None
    items: list[object] = []

    async def read() -> None:
        with contextlib.suppress(BrokerError):
            async for item in stream:
                items.append(item)

    reader = asyncio.create_task(read())
    try:
        await eventually(lambda: any(isinstance(i, StreamConnected) for i in items))
        placed = await broker.place(request)
        tradier.fill(int(placed.broker_order_id), 3, "10.00")
        await eventually(lambda: len(items) >= 3)
        await broker.list_orders(tradier.clock())
        await broker.get_order(placed.broker_order_id)
        await broker.cancel(placed.broker_order_id)
        for fault in (Fault.TOKEN_INVALID, Fault.TOKEN_EXPIRED, Fault.BAD_GATEWAY, Fault.DROP):
            tradier.inject(fault, times=10, method="GET")
            try:
                await broker.list_orders(tradier.clock())
            except BrokerError as error:
                errors.append(error)
            tradier.faults.clear()
        tradier.disconnect_streams()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await broker.aclose()
    wrong = TradierBroker(tradier_config(tradier, WRONG_TOKEN))
    try:
        await wrong.list_orders(tradier.clock())
    except BrokerError as error:
        errors.append(error)
    finally:
        await wrong.aclose()
    assert len(errors) >= 4 and "HTTP Request: GET" in everything_logged.text
    assert_secret_free(
        everything_logged.text,
        repr(broker),
        repr(tradier_config(tradier)),
        *(repr(e) for e in errors),
        *(str(e) for e in errors),
        *(repr(i) for i in items),
    )


async def test_the_ibkr_gateway_session_stays_out_of_logs(
    everything_logged: pytest.LogCaptureFixture,
) -> None:
    async with FakeIbkrGateway(account_id="DU1234567", hb_interval_s=0.1) as gateway:
        config = IbkrConfig(
            account_id="DU1234567",
            base_url=gateway.base_url,
            orders_min_interval_s=0,
            heartbeat_timeout_s=1.0,
        )
        broker = IbkrBroker(config)
        stream = broker.stream()
        assert stream is not None
        try:
            first = await anext(stream)
            assert isinstance(first, StreamConnected)
            order_id = gateway.create_order(symbol="AAPL", quantity=1, price="1.00")
            gateway.fill(order_id, 1, "1.00")
            await broker.list_orders(gateway.book.now())
            session = gateway.book.session_token
        finally:
            await stream.aclose()
            await broker.aclose()
    assert len(session) >= 16 and "HTTP Request: POST" in everything_logged.text
    assert_secret_free(everything_logged.text, repr(broker), repr(config), secrets=(session,))


@pytest.fixture
async def configured(tradier: FakeTradier, tmp_path: Path) -> AsyncIterator[App]:
    """An app whose Tradier account and tokens come from settings, as in production."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/secrets.db",
        api_token=API_TOKEN,  # type: ignore[arg-type]
        tradier_access_token=BROKER_TOKEN,  # type: ignore[arg-type]
        tradier_account_id=ACCOUNT,
        tradier_base_url=tradier.base_url,
        tradier_stream_url=tradier.stream_url,
    )
    app = bootstrap(settings)
    yield app
    await app.aclose()


async def test_api_answers_pages_and_errors_never_show_a_token(
    configured: App, tradier: FakeTradier, everything_logged: pytest.LogCaptureFixture
) -> None:
    tradier.create_order("AAPL", quantity=2, tag="by-hand-1")
    api = create_app(configured, run_watchers=False)
    transport = httpx.ASGITransport(app=api)
    answers: list[httpx.Response] = []
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answers.append(await client.post("/internal/order-tracking/reconcile", headers=auth))
        assert answers[-1].status_code == 200, answers[-1].text
        for template, operations in api.openapi()["paths"].items():
            if "get" not in operations or template == "/api/events":
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            answers.append(await client.get(path, headers=auth))
        for path in ("/", "/status", "/debug/orders", "/alerts", "/trades", "/orders/1", "/docs"):
            answers.append(await client.get(path))
        body = {"kind": "ENTRY", "instrument": {"symbol": "AAPL"}, "quantity": "1"}
        answers.append(await client.post("/api/proposals", json=body))  # 401
        answers.append(await client.post("/api/proposals", json=body, headers=auth))
        answers.append(await client.post("/api/proposals/999/submit", headers=auth))  # 404
        tradier.inject(Fault.TOKEN_INVALID, times=20)
        answers.append(await client.post("/api/proposals/1/submit", headers=auth))
        answers.append(await client.post("/internal/order-tracking/reconcile", headers=auth))
    assert len(answers) > 15 and any(a.status_code == 401 for a in answers)
    assert "tradier" in everything_logged.text.lower()
    assert_secret_free(
        everything_logged.text,
        repr(configured.settings),
        str(configured.settings.model_dump()),
        configured.stats.as_json(),
        *(a.text for a in answers),
        *(str(dict(a.headers)) for a in answers),
    )


def ordertrail(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    environment |= {"ORDERTRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"} | env
    return subprocess.run(
        [sys.executable, "-m", "ordertrail", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=90,
        check=False,
    )


def test_a_cli_process_never_prints_a_token(tradier: FakeTradier, tmp_path: Path) -> None:
    tradier.create_order("AAPL", quantity=1, tag="by-hand-2")
    env = {
        "ORDERTRAIL_API_TOKEN": API_TOKEN,
        "ORDERTRAIL_TRADIER_ACCESS_TOKEN": BROKER_TOKEN,
        "ORDERTRAIL_TRADIER_ACCOUNT_ID": ACCOUNT,
        "ORDERTRAIL_TRADIER_BASE_URL": tradier.base_url,
    }
    synced = ordertrail(tmp_path, "sync", "--once", **env)
    assert synced.returncode == 0, synced.stderr
    tradier.inject(Fault.TOKEN_EXPIRED, times=50)
    expired = ordertrail(tmp_path, "sync", "--once", **env)
    tradier.faults.clear()
    wrong = ordertrail(
        tmp_path, "sync", "--once", **(env | {"ORDERTRAIL_TRADIER_ACCESS_TOKEN": WRONG_TOKEN})
    )
    assert expired.returncode != 0 and wrong.returncode != 0
    assert "token" in wrong.stderr.lower() and "INFO" in synced.stderr
    listed = ordertrail(tmp_path, "orders", "list", "--json", **env)
    assert listed.returncode == 0 and "by-hand-2" in listed.stdout
    password = "db-pass-Ww2Ee5Rr8Tt1"
    refused = ordertrail(
        tmp_path,
        "orders",
        "list",
        ORDERTRAIL_DATABASE_URL=f"postgresql+psycopg://someone:{password}@127.0.0.1:1/x",
    )
    assert refused.returncode != 0
    for run in (synced, expired, wrong, listed, refused):
        assert_secret_free(run.stdout, run.stderr, secrets=(*SECRETS, password))

"""Every write and every /internal route refuses a request without the API token, whatever routes
exist; the test endpoint is off unless switched on. Driven through `create_app` over ASGI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from ordertrail.api.app import create_app
from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import PaperBroker, PaperConfig
from ordertrail.settings import Settings
from ordertrail.storage.tables import order_events, orders, proposals

API_TOKEN = "api-tok-9Zq2LxW7vR4mT1pB"
STREAMING = {"/api/events"}  # never ends: not requested here


def build(tmp_path: Path, **settings: object) -> App:
    values = {"api_token": API_TOKEN} | settings
    return bootstrap(
        Settings(database_url=f"sqlite:///{tmp_path}/guard.db", **values),  # type: ignore[arg-type]
        brokers={"paper:P1": PaperBroker(PaperConfig(account_id="P1"))},
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    built = build(tmp_path)
    yield built
    built.applier.close()
    built.engine.dispose()


@pytest.fixture
def api(app: App) -> FastAPI:
    return create_app(app, run_watchers=False)


@pytest.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


def guarded_routes(api: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every write and every /internal route (from the OpenAPI document,
    so a route added later is covered), path parameters filled."""
    found = []
    for template, operations in api.openapi()["paths"].items():
        if template in STREAMING:
            continue
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method in sorted(m.upper() for m in operations):
            if method not in ("GET", "HEAD", "OPTIONS") or path.startswith("/internal"):
                found.append((method, path))
    return found


def counts(app: App) -> tuple[int, int, int]:
    with app.engine.connect() as c:
        return tuple(  # type: ignore[return-value]
            c.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (proposals, orders, order_events)
        )


def test_the_guard_covers_the_routes_that_write_and_the_internal_ones(api: FastAPI) -> None:
    routes = guarded_routes(api)
    assert ("POST", "/api/proposals") in routes
    assert ("POST", "/internal/order-tracking/reconcile") in routes
    assert ("GET", "/internal/order-tracking") in routes
    assert len(routes) >= 6


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"bearer {API_TOKEN}x", API_TOKEN, f"Basic {API_TOKEN}"],
)
async def test_every_guarded_route_refuses_a_missing_or_wrong_token(
    api: FastAPI, client: httpx.AsyncClient, app: App, authorization: str | None
) -> None:
    before = counts(app)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in guarded_routes(api):
        answer = await client.request(method, path, headers=headers, json={})
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
        assert API_TOKEN not in answer.text
    assert counts(app) == before


async def test_with_the_token_the_guard_lets_requests_through(
    api: FastAPI, client: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    assert (await client.get("/internal/order-tracking", headers=auth)).status_code == 200
    body = {"kind": "ENTRY", "instrument": {"symbol": "AAPL"}, "quantity": "1"}
    created = await client.post("/api/proposals", json=body, headers=auth)
    assert created.status_code == 201, created.text
    for method, path in guarded_routes(api):
        answer = await client.request(method, path, headers=auth, json={})
        assert answer.status_code != 401, (method, path)


async def test_the_test_endpoint_is_off_by_default(client: httpx.AsyncClient, app: App) -> None:
    assert Settings().enable_test_endpoint is False
    before = counts(app)
    message = {"broker": "paper", "message": {"id": "9", "status": "filled", "quantity": "1"}}
    answer = await client.post(
        "/internal/order-tracking/test",
        json=message,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert answer.status_code == 404, answer.text
    assert "ORDERTRAIL_ENABLE_TEST_ENDPOINT" in answer.json()["detail"]
    assert counts(app) == before


async def test_the_test_endpoint_works_once_switched_on(tmp_path: Path) -> None:
    app = build(tmp_path, enable_test_endpoint=True)
    transport = httpx.ASGITransport(app=create_app(app, run_watchers=False))
    short = {"orderId": "T-1", "status": "Filled", "symbol": "AAPL", "filledQuantity": 1}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            refused = await c.post("/internal/order-tracking/test", json=short)
            answer = await c.post(
                "/internal/order-tracking/test",
                json=short,
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            )
        assert refused.status_code == 401
        assert answer.status_code == 200, answer.text
        assert counts(app)[1] == 1
    finally:
        app.applier.close()
        app.engine.dispose()

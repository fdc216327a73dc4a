"""With ORDERTRAIL_API_TOKEN set: writes and /internal/* need the bearer token; reads stay open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ordertrail.api.app import create_app, guarded
from ordertrail.clock import FakeClock
from tests.api.support import TestClient, make_world

TOKEN = "s3cret-token-value"


@pytest.fixture
def guarded_client(tmp_path: object, clock: FakeClock) -> Iterator[TestClient]:
    world = make_world(f"sqlite:///{tmp_path}/token.db", clock, api_token=TOKEN)
    with TestClient(create_app(world.app, run_watchers=False)) as client:
        yield client
    world.app.applier.close()
    world.app.engine.dispose()


WRITES = [
    ("post", "/api/proposals"),
    ("post", "/api/proposals/1/submit"),
    ("post", "/api/proposals/1/cancel"),
    ("post", "/api/alerts/import"),
    ("post", "/internal/order-tracking/reconcile"),
    ("post", "/internal/order-tracking/test"),
    ("get", "/internal/order-tracking"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_writes_and_internal_without_the_right_token_are_401(
    guarded_client: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = guarded_client.request(method, path, headers=headers, json={})
    assert answer.status_code == 401
    assert "Authorization: Bearer" in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"


def test_with_the_token_writes_go_through(guarded_client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"kind": "ENTRY", "instrument": {"symbol": "AAPL"}, "quantity": "1"}
    assert guarded_client.post("/api/proposals", json=body, headers=auth).status_code == 201
    assert guarded_client.get("/internal/order-tracking", headers=auth).status_code == 200
    assert guarded_client.post("/api/proposals/1/submit", headers=auth).status_code == 200


READS = ["/api/proposals-and-orders", "/api/orders", "/api/trades", "/api/alerts", "/healthz"]
PAGES = ["/", "/debug/orders", "/alerts", "/trades", "/status", "/metrics", "/docs"]


@pytest.mark.parametrize("path", [*READS, *PAGES, "/openapi.json"])
def test_reads_and_pages_need_no_token(guarded_client: TestClient, path: str) -> None:
    assert guarded_client.get(path).status_code == 200


def test_no_page_or_status_shows_the_token(guarded_client: TestClient) -> None:
    for path in ("/status", "/metrics", "/openapi.json", "/"):
        assert TOKEN not in guarded_client.get(path).text


def test_guarded_requests_are_every_write_and_everything_internal() -> None:
    assert guarded("POST", "/api/orders") and guarded("DELETE", "/x")
    assert guarded("GET", "/internal/order-tracking")
    assert not guarded("GET", "/api/orders") and not guarded("HEAD", "/")


def test_a_write_from_another_sites_page_is_refused_even_without_a_token(
    sqlite_client: TestClient,
) -> None:
    body = {"kind": "ENTRY", "instrument": {"symbol": "AAPL"}, "quantity": "1"}
    evil = {"Origin": "https://evil.example"}
    forged = sqlite_client.post("/api/proposals", json=body, headers=evil)
    assert forged.status_code == 403 and "cross-site" in forged.json()["detail"]
    same = sqlite_client.post("/api/proposals", json=body, headers={"Origin": "http://testserver"})
    assert same.status_code == 201
    scripted = sqlite_client.post("/api/proposals", json=body)  # scripts send no Origin
    assert scripted.status_code == 201
    assert sqlite_client.get("/api/orders", headers=evil).status_code == 200

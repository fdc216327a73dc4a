"""`GET /api/events` over a real server: change events, keep-alive comments, clean disconnects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ordertrail.api.app import create_app
from ordertrail.api.change_reader import INLINE_ROWS
from ordertrail.api.events import Changed, EventHub
from ordertrail.bootstrap import bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.settings import Settings
from tests.api.live import LiveServer
from tests.api.support import World, fresh_postgres, make_world
from tests.support.eventually import eventually_sync

SEED = {"orderId": "SSE-1", "status": "FILLED", "symbol": "TSLA", "filledQuantity": 1}


@pytest.fixture
def served(tmp_path: object, clock: FakeClock) -> Iterator[tuple[World, LiveServer]]:
    world = make_world(f"sqlite:///{tmp_path}/sse.db", clock)
    api = create_app(world.app, run_watchers=False, keepalive=0.2)
    with LiveServer(api) as server:
        yield world, server
    world.app.applier.close()
    world.app.engine.dispose()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: ") :])


def test_an_applied_message_reaches_a_listening_client_as_order_events(
    served: tuple[World, LiveServer],
) -> None:
    _, server = served
    hub: EventHub = server.api.state.hub
    client = httpx.Client(base_url=server.url, timeout=10)
    with client, client.stream("GET", "/api/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        eventually_sync(lambda: hub.clients == 1)
        assert client.post("/internal/order-tracking/test", json=SEED).status_code == 200
        kind, data = next(_events(lines))
    assert kind == "order"
    assert (data["broker_order_id"], data["status"], data["filled_quantity"]) == (
        "SSE-1",
        "FILLED",
        "1",
    )


def test_a_batch_too_large_to_read_in_its_transaction_reaches_the_client_whole(
    served: tuple[World, LiveServer],
) -> None:
    world, server = served
    hub: EventHub = server.api.state.hub
    many = [
        OrderReport(
            broker="paper",
            account_id="P1",
            broker_order_id=f"BIG-{n}",
            status=OrderStatus.PLACED,
            instrument=Instrument("SPY"),
            quantity=Decimal(1),
        )
        for n in range(INLINE_ROWS + 5)
    ]
    client = httpx.Client(base_url=server.url, timeout=10)
    with client, client.stream("GET", "/api/events") as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        eventually_sync(lambda: hub.clients == 1)
        world.app.applier.apply_now(many)
        events = _events(lines)
        seen = [next(events) for _ in many]
    assert {(kind, data["broker_order_id"]) for kind, data in seen} == {
        ("order", report.broker_order_id) for report in many
    }


def test_a_quiet_stream_sends_keep_alive_comments(served: tuple[World, LiveServer]) -> None:
    _, server = served
    client = httpx.Client(base_url=server.url, timeout=10)
    with client, client.stream("GET", "/api/events") as stream:
        lines = stream.iter_lines()
        comments = [line for line in (next(lines) for _ in range(6)) if line.startswith(":")]
    assert ": keep-alive" in comments


def test_a_client_that_leaves_is_unsubscribed(served: tuple[World, LiveServer]) -> None:
    _, server = served
    hub: EventHub = server.api.state.hub
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(2):
            with client.stream("GET", "/api/events") as stream:
                lines = stream.iter_lines()
                assert next(lines) == "retry: 3000"
                eventually_sync(lambda: hub.clients == 1)
    eventually_sync(lambda: hub.clients == 0, message="a closed stream stayed subscribed")


def test_a_delivery_never_raises_into_the_apply_path_even_when_stopped(
    served: tuple[World, LiveServer],
) -> None:
    world, _ = served
    hub = EventHub(world.app.engine)
    hub.deliver([("order", {"id": 1})])  # never started: nothing to do, nothing raised
    hub.deliver(Changed(order_ids=frozenset({1})))
    hub.notify(Changed(order_ids=frozenset({1})))
    broken: Any = object()
    hub.deliver(broken)  # not even a change set: logged, not raised


@pytest.mark.postgres
def test_a_batch_another_process_applied_reaches_the_stream(
    postgres_url: str | None, clock: FakeClock
) -> None:
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    fresh_postgres(postgres_url)
    world = make_world(postgres_url, clock)
    if getattr(world.app, "change_bus", None) is None:
        pytest.skip("this build announces changes within one process only")
    worker = bootstrap(Settings(database_url=postgres_url, api_token=None), brokers={})
    api = create_app(world.app, run_watchers=False, keepalive=0.2)
    try:
        with (
            LiveServer(api) as server,
            httpx.Client(base_url=server.url, timeout=10) as client,
            client.stream("GET", "/api/events") as stream,
        ):
            sent = 0
            for line in stream.iter_lines():  # LISTEN may not be in place at once: send again
                if line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                    break
                if line.startswith(":"):
                    sent += 1
                    assert sent < 100, "no change from the other process arrived"
                    worker.applier.apply_now([_report(f"W{sent}")])
        assert data["broker_order_id"].startswith("W") and data["external"] is True
    finally:
        worker.applier.close()
        worker.engine.dispose()
        world.app.applier.close()
        world.app.engine.dispose()


def _report(broker_order_id: str) -> OrderReport:
    return OrderReport(
        broker="paper",
        account_id="P9",
        broker_order_id=broker_order_id,
        status=OrderStatus.PLACED,
        instrument=Instrument("SPY"),
        quantity=Decimal(1),
    )

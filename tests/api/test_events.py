"""`GET /api/events` over a real server: change events, keep-alive comments, clean disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ordertrail.api.app import create_app
from ordertrail.api.change_reader import INLINE_ROWS, ChangeReader
from ordertrail.api.events import Changed, EventHub
from ordertrail.bootstrap import bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.settings import Settings
from tests.api.live import LiveServer
from tests.api.support import (
    ALERTS,
    TestClient,
    World,
    entry,
    fresh_postgres,
    make_world,
    submit,
)
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


def test_routes_never_announce_on_the_event_loop(world: World, client: TestClient) -> None:
    # On PostgreSQL a change listener sends NOTIFY: it takes a pooled connection and makes a
    # round trip (waiting up to the pool's timeout when the pool is busy). On the event loop
    # that would stall every request and live stream of the process while it waits; the
    # apply path's own NOTIFY runs on the writer thread, and so must these.
    on_loop: list[Changed] = []

    def listener(changed: Changed) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: the writer thread
            asyncio.get_running_loop()
            on_loop.append(changed)

    world.app.applier.subscribe_changes(listener)
    working, unsent = entry(client, "SPY"), entry(client, "MSFT")
    submit(client, working)
    assert client.post(f"/api/proposals/{working}/cancel").status_code == 200
    assert client.post(f"/api/proposals/{unsent}/cancel").status_code == 200
    assert client.post("/api/alerts/import", json=ALERTS).status_code == 200
    assert on_loop == []


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of changes queued for later take half a second between read and send (a busy
    SQLite writer keeps readers retrying; two cores shared with the writer thread)."""
    read = ChangeReader._read

    def slow_read(self: ChangeReader, changed: Any) -> Any:
        events = read(self, changed)
        time.sleep(0.5)
        return events

    monkeypatch.setattr(ChangeReader, "_read", slow_read)


def _told(server: LiveServer, act: Any) -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    """Every event a client hears while `act(client)` runs and until two quiet seconds."""
    hub: EventHub = server.api.state.hub
    client = httpx.Client(base_url=server.url, timeout=10)
    with client, client.stream("GET", "/api/events") as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        eventually_sync(lambda: hub.clients == 1)
        acted = act(client)
        seen: list[tuple[str, dict[str, Any]]] = []
        quiet, kind = 0, ""
        while quiet < 10:
            line = next(lines)
            if line == ": keep-alive":
                quiet += 1
            elif line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                quiet = 0
                seen.append((kind, json.loads(line[len("data: ") :])))
    return seen, acted


def _create_and_submit(client: httpx.Client) -> int:
    body = {"kind": "ENTRY", "instrument": {"symbol": "SPY"}, "quantity": "1"}
    proposal_id: int = client.post("/api/proposals", json=body).json()["id"]
    assert client.post(f"/api/proposals/{proposal_id}/submit").status_code == 200
    return proposal_id


def test_a_created_proposal_is_told_before_what_its_submit_changed(
    served: tuple[World, LiveServer], slow_reads: None
) -> None:
    # Before writes beside the apply path were told, a route published its proposal's row
    # at once; now, on SQLite, the row is read later on another thread, and the order of
    # the submit that followed (read inside its transaction, sent at once) can overtake it.
    _, server = served
    seen, _ = _told(server, _create_and_submit)
    assert seen[0][0] == "proposal" and seen[0][1]["lifecycleStatus"] == "Entry proposed"


def test_the_last_order_event_after_a_submit_shows_the_order_as_committed_last(
    served: tuple[World, LiveServer], slow_reads: None
) -> None:
    # The order a submit records (PENDING) is told beside the apply path: on SQLite it is
    # queued and read back later, while the placement's report (PLACED, committed after it)
    # is read in its transaction and sent at once. A slow read then sends PENDING last: an
    # API client that follows orders by their events is left with PENDING for good.
    _, server = served

    def act(client: httpx.Client) -> int:
        body = {"kind": "ENTRY", "instrument": {"symbol": "SPY"}, "quantity": "1"}
        proposal_id: int = client.post("/api/proposals", json=body).json()["id"]
        time.sleep(1)  # its creation told and read: the queue is free for the submit's
        assert client.post(f"/api/proposals/{proposal_id}/submit").status_code == 200
        listed = client.get("/api/orders").json()["data"]
        [order] = [o for o in listed if o["proposal_id"] == proposal_id]
        return int(order["id"])

    seen, order_id = _told(server, act)
    mine = [data["status"] for kind, data in seen if kind == "order" and data["id"] == order_id]
    assert mine[-1] == "PLACED"


@pytest.mark.postgres
def test_alerts_another_process_imported_reach_the_stream(
    postgres_url: str | None, clock: FakeClock
) -> None:
    # The Alerts page (and Debug, Status) of every API process update live; an import
    # through one process must reach the others' streams, not only its own.
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    fresh_postgres(postgres_url)
    world = make_world(postgres_url, clock)
    other = make_world(postgres_url, clock)
    api = create_app(world.app, run_watchers=False, keepalive=0.2)
    try:
        with (
            TestClient(create_app(other.app, run_watchers=False)) as importer,
            LiveServer(api) as server,
            httpx.Client(base_url=server.url, timeout=10) as client,
            client.stream("GET", "/api/events") as stream,
        ):
            sent = 0
            for line in stream.iter_lines():  # LISTEN may not be in place at once: send again
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                    break
                if line.startswith(":"):
                    sent += 1
                    assert sent < 50, "no alert the other process imported arrived"
                    document = {"AAPL": {"open": False, "created_at": "2025-09-27T21:48:54"}}
                    answer = importer.post(f"/api/alerts/import?source=S{sent}", json=document)
                    assert answer.status_code == 200, answer.text
        assert kind in ("alert", "alerts")
    finally:
        other.app.applier.close()
        other.app.engine.dispose()
        world.app.applier.close()
        world.app.engine.dispose()

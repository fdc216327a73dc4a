"""`GET /metrics`: the app's own registry, fed by committed batches and read state."""

from __future__ import annotations

import re

from ordertrail.api.app import create_app
from ordertrail.clock import FakeClock
from tests.api.support import TestClient, World, entry, make_world, send_test_message, submit


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_metrics_count_reports_fills_duplicates_and_latency(
    client: TestClient, world: World
) -> None:
    broker_id = submit(client, entry(client, "SPY", "5"))["order"]["brokerOrderId"]
    fill = {"orderId": broker_id, "status": "FILLED", "filledQuantity": 5, "avgFillPrice": "1"}
    send_test_message(client, fill | {"broker": "paper"})
    send_test_message(client, fill | {"broker": "paper"})
    send_test_message(client, {"orderId": "EXT", "status": "PLACED", "symbol": "X"})
    client.post("/internal/order-tracking/reconcile")  # the paper broker still says PLACED
    text = client.get("/metrics").text
    assert _value(text, "ordertrail_reports_total") == 5
    assert _value(text, "ordertrail_reports_applied_total") == 3
    assert _value(text, "ordertrail_reports_duplicate_total") == 2
    assert _value(text, "ordertrail_fills_total") == 1
    assert _value(text, "ordertrail_reports_stale_total") == 1
    assert _value(text, "ordertrail_apply_latency_seconds_count") == 5  # batches
    assert _value(text, "ordertrail_unmatched_broker_orders") == 1
    assert _value(text, 'ordertrail_orders{status="FILLED"}') == 1
    assert _value(text, 'ordertrail_sync_lag_seconds{account="P1",broker="paper"}') == 0
    assert _value(text, 'ordertrail_stream_connected{account="P1",broker="paper"}') == 0
    assert _value(text, "ordertrail_event_stream_clients") == 0


def test_each_app_counts_on_its_own_registry(tmp_path: object, clock: FakeClock) -> None:
    worlds = [make_world(f"sqlite:///{tmp_path}/m{n}.db", clock) for n in range(2)]
    first, second = (create_app(w.app, run_watchers=False) for w in worlds)
    with TestClient(first) as one, TestClient(second) as two:
        send_test_message(one, {"orderId": "A", "status": "PLACED", "symbol": "X"})
        assert _value(one.get("/metrics").text, "ordertrail_reports_total") == 1
        assert _value(two.get("/metrics").text, "ordertrail_reports_total") == 0
    for world in worlds:
        world.app.applier.close()
        world.app.engine.dispose()


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}

"""Prometheus metrics on a registry of the app's own (never the process-global one)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from ordertrail.bootstrap import App
from ordertrail.services.apply import ApplyResult
from ordertrail.storage.tables import orders, sync_state

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters fed by every committed batch, gauges read from the state at scrape time."""

    def __init__(self, app: App, clients: Callable[[], int] = lambda: 0) -> None:
        self.app = app
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("ordertrail_reports", "Broker reports received.", registry=r)
        self.applied = Counter(
            "ordertrail_reports_applied", "Reports that changed an order.", registry=r
        )
        self.duplicates = Counter(
            "ordertrail_reports_duplicate",
            "Reports dropped because they changed nothing (duplicates, replays).",
            registry=r,
        )
        self.stale = Counter(
            "ordertrail_reports_stale", "Reports older than what was known.", registry=r
        )
        self.fills = Counter("ordertrail_fills", "Fills recorded.", registry=r)
        self.events = Counter("ordertrail_order_events", "Order events written.", registry=r)
        self.latency = Histogram(
            "ordertrail_apply_latency_seconds",
            "Time to apply one batch of reports, commit included.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        r.register(_StateCollector(app, clients))

    def on_batch(self, result: ApplyResult) -> None:
        """Applier listener: count one committed batch; never raises into the apply path."""
        try:
            self.received.inc(result.reports)
            self.applied.inc(result.applied)
            self.duplicates.inc(result.unchanged)
            self.stale.inc(result.stale)
            self.fills.inc(result.fills)
            self.events.inc(result.events)
            latencies = self.app.applier.latencies
            if latencies:
                self.latency.observe(latencies[-1])
        except Exception:
            log.exception("metrics: could not count a batch")

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


class _StateCollector:
    """Gauges computed when scraped: sync lag, stream state, unmatched orders, clients."""

    def __init__(self, app: App, clients: Callable[[], int]) -> None:
        self.app = app
        self.clients = clients

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["broker", "account"]
        lag = GaugeMetricFamily(
            "ordertrail_sync_lag_seconds",
            "Seconds since the account was last polled.",
            labels=labels,
        )
        connected = GaugeMetricFamily(
            "ordertrail_stream_connected",
            "1 when the account's stream is subscribed.",
            labels=labels,
        )
        running = GaugeMetricFamily(
            "ordertrail_watcher_running", "1 while the account's watcher runs here.", labels=labels
        )
        now = self.app.clock.now()
        polled = {
            (a.broker, a.account_id): a.last_polled_at for a in self.app.stats.accounts.values()
        }
        with self.app.engine.connect() as connection:
            for row in connection.execute(select(sync_state)):
                if row.last_polled_at is not None:
                    polled[(row.broker, row.account_id)] = row.last_polled_at
            unmatched = connection.execute(
                select(func.count()).select_from(orders).where(orders.c.external.is_(True))
            ).scalar_one()
            by_status = list(
                connection.execute(select(orders.c.status, func.count()).group_by(orders.c.status))
            )
        for (broker, account), at in sorted(polled.items()):
            if at is not None:
                lag.add_metric([broker, account], max((now - at).total_seconds(), 0.0))
        for stats in self.app.stats.accounts.values():
            key = [stats.broker, stats.account_id]
            connected.add_metric(key, 1.0 if stats.subscribed else 0.0)
            running.add_metric(key, 1.0 if stats.running else 0.0)
        yield from (lag, connected, running)
        yield GaugeMetricFamily(
            "ordertrail_unmatched_broker_orders",
            "Broker orders we did not place (external), matched to no proposal.",
            value=float(unmatched),
        )
        counts = GaugeMetricFamily("ordertrail_orders", "Orders by status.", labels=["status"])
        for status, count in by_status:
            counts.add_metric([status], float(count))
        yield counts
        yield GaugeMetricFamily(
            "ordertrail_event_stream_clients",
            "Clients on /api/events.",
            value=float(self.clients()),
        )

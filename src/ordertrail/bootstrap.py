"""`bootstrap()`: the one place that builds engines, brokers, services and watchers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from ordertrail.broker_factory import AccountSpec, build_broker, specs_from_settings
from ordertrail.clock import Clock, SystemClock
from ordertrail.errors import NotFound
from ordertrail.notify import PostgresChangeBus
from ordertrail.ports import Broker
from ordertrail.services.applier import Applier, CommitAware
from ordertrail.services.placing import Placer
from ordertrail.settings import Settings
from ordertrail.storage import migrate
from ordertrail.storage.accounts import AccountRepository
from ordertrail.storage.checkpoint import wal_checkpoints
from ordertrail.storage.engine import make_engine
from ordertrail.storage.sync_state import SyncStateRepository
from ordertrail.storage.uow import HeldUnits, SqlUnitOfWork, UnitOfWork
from ordertrail.watchers.fleet import Fleet
from ordertrail.watchers.leases import Leases, leases_for
from ordertrail.watchers.stats import TrackingStats
from ordertrail.watchers.supervisor import AccountWatcher

log = logging.getLogger(__name__)
# How often the watchers' SQLite log is copied back: each copy holds the writer up for what
# was written since the last (about 400 pages, 1-3 ms, at a thousand messages a second).
SERVE_CHECKPOINT_S = 0.1


@dataclass
class App:
    """Everything a running ordertrail holds, wired together."""

    settings: Settings
    engine: Engine
    clock: Clock
    applier: Applier
    placer: Placer
    brokers: dict[str, Broker]
    stats: TrackingStats
    watchers: dict[str, AccountWatcher] = field(default_factory=dict)
    accounts_from_database: bool = True
    leases: Leases | None = None
    change_bus: PostgresChangeBus | None = None
    unusable: dict[str, str] = field(default_factory=dict)  # stored accounts left out, and why

    def uow(self) -> UnitOfWork:
        """A new Unit of Work on the app's database."""
        return SqlUnitOfWork(self.engine)

    def broker(self, name: str, account_id: str) -> Broker:
        """The configured broker for an account."""
        self.refresh_brokers()
        broker = self.brokers.get(f"{name}:{account_id}")
        if broker is None:
            known = ", ".join(sorted(self.brokers)) or "none"
            raise NotFound(f"no broker account {name}:{account_id} is configured (known: {known})")
        return broker

    def add_broker(self, key: str, broker: Broker) -> None:
        """Register a broker and its (not yet running) watcher."""
        settings = self.settings
        self.brokers[key] = broker
        if isinstance(broker, CommitAware):
            self.applier.subscribe_reports(broker.committed)
        self.watchers[key] = AccountWatcher(
            broker,
            self.applier,
            self.uow,
            self.placer,
            self.clock,
            self.stats.account(broker.name, broker.account_id),
            active_interval=settings.poll_interval_active,
            idle_interval=settings.poll_interval_idle,
            lookback=timedelta(days=settings.lookback_days),
        )

    def refresh_brokers(self) -> list[str]:
        """Pick up accounts added to the database since start; return their keys."""
        if not self.accounts_from_database:
            return []
        with self.engine.connect() as connection:
            specs = AccountRepository(connection).specs()
        added = []
        for spec in specs:
            if spec.key in self.brokers:
                continue
            try:
                broker = build_broker(spec, self.clock)
            except Exception as error:  # one unusable stored account must not stop the rest
                self._unusable(spec, error)
                continue
            self.add_broker(spec.key, broker)
            added.append(spec.key)
        return added

    def _unusable(self, spec: AccountSpec, error: Exception) -> None:
        """Say once (per account and reason) that a stored account cannot be used."""
        reason = f"{type(error).__name__}: {error}"
        if self.unusable.get(spec.key) != reason:
            self.unusable[spec.key] = reason
            log.error("stored account %s cannot be used and is left out: %s", spec.key, reason)

    def record_owner(self, key: str, owner: str) -> str | None:
        """Note which worker watches an account (the lease itself lives in the database);
        return the one noted before."""
        broker = self.brokers[key]
        now = self.clock.now()
        with self.engine.begin() as connection:
            repository = SyncStateRepository(connection)
            before = repository.get(broker.name, broker.account_id)
            repository.record(broker.name, broker.account_id, now, owner=owner, owner_since=now)
        previous = before.get("owner") if before else None
        return str(previous) if previous else None

    def claim_leases(self) -> Leases:
        """Take this process's lease holder now (on SQLite: refuse a second worker at once)."""
        if self.leases is None:
            self.leases = leases_for(self.engine)
        return self.leases

    async def run_watchers(self) -> None:
        """Watch every account this process wins a lease on, until cancelled."""
        leases = self.claim_leases()
        self.leases = None  # the fleet closes it when it stops
        # The watchers are the busy writers: checkpoint between the applier's transactions.
        with wal_checkpoints(self.engine, SERVE_CHECKPOINT_S, self.applier.call):
            await Fleet(self, leases, self.settings.poll_interval_active).run()

    async def aclose(self) -> None:
        for broker in self.brokers.values():
            await broker.aclose()
        self.applier.close()
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    brokers: Mapping[str, Broker] | None = None,
    upgrade: bool = True,
) -> App:
    """Build the app from settings; `brokers` replaces the configured ones (tests, demo)."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate.upgrade(engine)
    uow_factory: Callable[[], UnitOfWork] = lambda: SqlUnitOfWork(engine)  # noqa: E731
    # On SQLite the writer thread keeps its connection between transactions (see HeldUnits).
    held = HeldUnits(engine) if engine.dialect.name == "sqlite" else None
    applier = Applier(uow_factory, clock, writer_units=held)
    app_ref: dict[str, App] = {}

    def lookup(name: str, account_id: str) -> Broker:
        return app_ref["app"].broker(name, account_id)

    placer = Placer(uow_factory, lookup, applier, clock, settings.client_order_prefix)
    app = App(
        settings,
        engine,
        clock,
        applier,
        placer,
        {},
        TrackingStats(),
        accounts_from_database=brokers is None,
    )
    app_ref["app"] = app
    applier.subscribe(lambda result: app.stats.count(result, clock.now()))
    if engine.dialect.name == "postgresql":
        app.change_bus = PostgresChangeBus(engine)
        applier.subscribe(app.change_bus.publish)
        applier.subscribe_changes(app.change_bus.publish_changed)
    if brokers is not None:
        for key, broker in brokers.items():
            app.add_broker(key, broker)
    else:
        for spec in specs_from_settings(settings):
            app.add_broker(spec.key, build_broker(spec, clock))
        if upgrade:
            app.refresh_brokers()
    return app


__all__ = ["AccountSpec", "App", "bootstrap"]

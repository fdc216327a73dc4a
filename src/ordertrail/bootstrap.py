"""`bootstrap()`: the one place that builds engines, brokers, services and watchers."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from ordertrail.clock import Clock, SystemClock
from ordertrail.errors import ConfigurationError, NotFound
from ordertrail.ports import Broker
from ordertrail.services.applier import Applier
from ordertrail.services.placing import Placer
from ordertrail.settings import Settings
from ordertrail.storage import migrate
from ordertrail.storage.engine import make_engine
from ordertrail.storage.uow import SqlUnitOfWork, UnitOfWork
from ordertrail.watchers.stats import TrackingStats
from ordertrail.watchers.supervisor import AccountWatcher

log = logging.getLogger(__name__)


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

    def uow(self) -> UnitOfWork:
        """A new Unit of Work on the app's database."""
        return SqlUnitOfWork(self.engine)

    def broker(self, name: str, account_id: str) -> Broker:
        """The configured broker for an account."""
        broker = self.brokers.get(f"{name}:{account_id}")
        if broker is None:
            known = ", ".join(sorted(self.brokers)) or "none"
            raise NotFound(f"no broker account {name}:{account_id} is configured (known: {known})")
        return broker

    async def run_watchers(self) -> None:
        """Run a watcher for every configured account until cancelled."""
        await asyncio.gather(*(w.run() for w in self.watchers.values()))

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
    applier = Applier(uow_factory, clock)
    registry: dict[str, Broker] = (
        dict(brokers) if brokers is not None else configured_brokers(settings, clock)
    )
    app_ref: dict[str, App] = {}

    def lookup(name: str, account_id: str) -> Broker:
        return app_ref["app"].broker(name, account_id)

    placer = Placer(uow_factory, lookup, applier, clock, settings.client_order_prefix)
    app = App(settings, engine, clock, applier, placer, registry, TrackingStats())
    app_ref["app"] = app
    applier.subscribe(lambda result: app.stats.count(result, clock.now()))
    for key, broker in registry.items():
        app.watchers[key] = AccountWatcher(
            broker,
            applier,
            uow_factory,
            placer,
            clock,
            app.stats.account(broker.name, broker.account_id),
            active_interval=settings.poll_interval_active,
            idle_interval=settings.poll_interval_idle,
            lookback=timedelta(days=settings.lookback_days),
        )
    return app


def configured_brokers(settings: Settings, clock: Clock) -> dict[str, Broker]:
    """Build a broker for every account the settings name."""
    found: dict[str, Broker] = {}
    for make in (_paper, _tradier, _ibkr, _tws):
        broker = make(settings, clock)
        if broker is not None:
            found[f"{broker.name}:{broker.account_id}"] = broker
    return found


def _paper(settings: Settings, clock: Clock) -> Broker | None:
    if not settings.paper_account_id:
        return None
    from ordertrail.brokers.paper import PaperBroker, PaperConfig

    return PaperBroker(PaperConfig(account_id=settings.paper_account_id), clock)


def _tradier(settings: Settings, clock: Clock) -> Broker | None:
    if not settings.tradier_account_id:
        return None
    if settings.tradier_access_token is None:
        raise ConfigurationError(
            "ORDERTRAIL_TRADIER_ACCOUNT_ID is set but ORDERTRAIL_TRADIER_ACCESS_TOKEN is not"
        )
    from ordertrail.brokers.tradier.client import TradierBroker
    from ordertrail.brokers.tradier.config import TradierConfig

    config = TradierConfig(
        access_token=settings.tradier_access_token.get_secret_value(),
        account_id=settings.tradier_account_id,
        base_url=settings.tradier_base_url,
        stream_url=settings.tradier_stream_url,
        stream_enabled=settings.tradier_stream,
    )
    return TradierBroker(config, clock=clock)


def _ibkr(settings: Settings, clock: Clock) -> Broker | None:
    if not settings.ibkr_account_id:
        return None
    from ordertrail.brokers.ibkr.client import IbkrBroker
    from ordertrail.brokers.ibkr.config import IbkrConfig

    config = IbkrConfig(
        account_id=settings.ibkr_account_id,
        base_url=settings.ibkr_base_url,
        verify_ssl=settings.ibkr_verify_ssl,
        ws_enabled=settings.ibkr_websocket,
    )
    return IbkrBroker(config, clock=clock)


def _tws(settings: Settings, clock: Clock) -> Broker | None:
    if not settings.tws_account_id:
        return None
    # TwsBroker itself says what to install when the optional ib_async is missing.
    client = importlib.import_module("ordertrail.brokers.tws.client")
    tws_config = importlib.import_module("ordertrail.brokers.tws.config")
    config: Any = tws_config.TwsConfig(
        host=settings.tws_host,
        port=settings.tws_port,
        client_id=settings.tws_client_id,
        account_id=settings.tws_account_id,
    )
    broker: Broker = client.TwsBroker(config)
    return broker

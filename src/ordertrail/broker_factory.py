"""Broker accounts as data (`AccountSpec`) and the one function that builds a broker from one."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ordertrail.clock import Clock
from ordertrail.errors import ConfigurationError
from ordertrail.ports import Broker
from ordertrail.settings import Settings

KNOWN_BROKERS = ("paper", "tradier", "ibkr", "tws")


@dataclass(frozen=True)
class AccountSpec:
    """One broker account to watch: where it lives, its secret, and its non-secret settings."""

    broker: str
    account_id: str
    credentials: str | None = field(default=None, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.broker}:{self.account_id}"


def specs_from_settings(settings: Settings) -> list[AccountSpec]:
    """The accounts named by ORDERTRAIL_* variables (a broker is on when its account id is set)."""
    specs: list[AccountSpec] = []
    if settings.paper_account_id:
        specs.append(AccountSpec("paper", settings.paper_account_id))
    if settings.tradier_account_id:
        if settings.tradier_access_token is None:
            raise ConfigurationError(
                "ORDERTRAIL_TRADIER_ACCOUNT_ID is set but ORDERTRAIL_TRADIER_ACCESS_TOKEN is not"
            )
        specs.append(
            AccountSpec(
                "tradier",
                settings.tradier_account_id,
                settings.tradier_access_token.get_secret_value(),
                {
                    "base_url": settings.tradier_base_url,
                    "stream_url": settings.tradier_stream_url,
                    "stream_enabled": settings.tradier_stream,
                },
            )
        )
    if settings.ibkr_account_id:
        specs.append(
            AccountSpec(
                "ibkr",
                settings.ibkr_account_id,
                None,
                {
                    "base_url": settings.ibkr_base_url,
                    "verify_ssl": settings.ibkr_verify_ssl,
                    "ws_enabled": settings.ibkr_websocket,
                },
            )
        )
    if settings.tws_account_id:
        specs.append(
            AccountSpec(
                "tws",
                settings.tws_account_id,
                None,
                {
                    "host": settings.tws_host,
                    "port": settings.tws_port,
                    "client_id": settings.tws_client_id,
                },
            )
        )
    return specs


def build_broker(spec: AccountSpec, clock: Clock) -> Broker:
    """Build the broker adapter for one account."""
    options = {k: v for k, v in spec.settings.items() if v is not None}
    if spec.broker == "paper":
        from ordertrail.brokers.paper import PaperBroker, PaperConfig

        return PaperBroker(PaperConfig(account_id=spec.account_id), clock)
    if spec.broker == "tradier":
        from ordertrail.brokers.tradier.client import TradierBroker
        from ordertrail.brokers.tradier.config import TradierConfig

        if not spec.credentials:
            raise ConfigurationError(f"tradier account {spec.account_id} has no access token")
        config = TradierConfig(
            access_token=spec.credentials,
            account_id=spec.account_id,
            **_known(TradierConfig, options, spec),
        )
        return TradierBroker(config, clock=clock)
    if spec.broker == "ibkr":
        from ordertrail.brokers.ibkr.client import IbkrBroker
        from ordertrail.brokers.ibkr.config import IbkrConfig

        config_ibkr = IbkrConfig(account_id=spec.account_id, **_known(IbkrConfig, options, spec))
        return IbkrBroker(config_ibkr, clock=clock)
    if spec.broker == "tws":
        # TwsBroker itself says what to install when the optional ib_async is missing.
        client = importlib.import_module("ordertrail.brokers.tws.client")
        tws_config = importlib.import_module("ordertrail.brokers.tws.config")
        config_tws: Any = tws_config.TwsConfig(account_id=spec.account_id, **options)
        broker: Broker = client.TwsBroker(config_tws)
        return broker
    raise ConfigurationError(
        f"unknown broker {spec.broker!r} for account {spec.account_id}; use one of "
        + ", ".join(KNOWN_BROKERS)
    )


def _known(config_type: type, options: Mapping[str, Any], spec: AccountSpec) -> dict[str, Any]:
    fields = getattr(config_type, "__dataclass_fields__", {})
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"{spec.broker} account {spec.account_id}: unknown settings {', '.join(unknown)}"
        )
    return dict(options)

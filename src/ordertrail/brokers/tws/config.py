"""TwsConfig: where TWS or IB Gateway listens and which account and client id to use."""

from __future__ import annotations

from dataclasses import dataclass

from ordertrail.errors import ConfigurationError


@dataclass(frozen=True, kw_only=True)
class TwsConfig:
    """Settings for one account behind one TWS / IB Gateway API socket.

    `client_id` must be unique per connection; orders placed with it keep it for life.
    `place_timeout_s`: how long `place` waits for TWS to give the order its `permId`.
    `inactive_grace_s`: an `Inactive` order without fills for this long is reported REJECTED.
    """

    account_id: str
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 17
    connect_timeout_s: float = 10.0
    place_timeout_s: float = 10.0
    inactive_grace_s: float = 60.0
    exchange: str = "SMART"
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not self.account_id:
            raise ConfigurationError("TWS account id is empty: set the account (e.g. DU1234567)")
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"TWS port {self.port} is not a TCP port (7497 paper TWS)")

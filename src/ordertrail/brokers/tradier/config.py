"""Tradier settings: token, account, hosts and the timings the adapter works with."""

from __future__ import annotations

from dataclasses import dataclass, field

from ordertrail.errors import ConfigurationError

LIVE_URL = "https://api.tradier.com/v1"
SANDBOX_URL = "https://sandbox.tradier.com/v1"


@dataclass(frozen=True)
class TradierConfig:
    """Everything the Tradier adapter needs; built by the settings module, never from the env here.

    `stream_url` overrides the websocket address the session answer names. Timings are in
    seconds. The token never shows in the repr.
    """

    access_token: str = field(repr=False)
    account_id: str
    base_url: str = LIVE_URL
    stream_url: str | None = None
    stream_enabled: bool = True
    page_limit: int = 1000
    max_pages: int = 50
    heartbeat_timeout_s: float = 180.0
    fill_data_deadline_s: float = 5.0
    fill_data_interval_s: float = 0.25
    request_timeout_s: float = 10.0
    read_retries: int = 3
    retry_backoff_s: float = 0.25
    max_quota_wait_s: float = 65.0

    def __post_init__(self) -> None:
        if not 1 <= self.page_limit <= 1500:
            raise ConfigurationError(
                f"Tradier page_limit {self.page_limit} is out of range: use 1 to 1500"
            )

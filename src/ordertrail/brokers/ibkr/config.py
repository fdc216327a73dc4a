"""IbkrConfig: how to reach a Client Portal gateway and how to answer its questions."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ordertrail.errors import ConfigurationError


@dataclass(frozen=True)
class IbkrConfig:
    """Settings for one IBKR account behind one Client Portal gateway.

    `confirm_message_ids`: None confirms every question the gateway asks while placing;
    a set confirms only those message ids (`o354`, `p12`...) and refuses the order otherwise.
    `inactive_grace_s`: an `Inactive` order without fills for this long is reported REJECTED.
    `orders_min_interval_s`: pacing of `/iserver/account/orders` (third parties saw 1 per 5 s).
    `orders_force_interval_s`: send `force=true` again this often (it also un-mutes `sor`
    after another client's filtered call).
    `ws_auth`: "cookie", "frame" or "both" (send the `api` cookie and the session frame).
    `trades_full_interval_s`: while the websocket streams, a poll asks for the trades only if
    the order list shows executions not recorded yet, and anyway at least this often.
    """

    account_id: str
    base_url: str = "https://localhost:5000/v1/api"
    verify_ssl: bool = False
    ws_enabled: bool = True
    ws_url: str | None = None
    ws_auth: str = "both"
    confirm_message_ids: frozenset[str] | None = None
    prompt_choice: int = 0
    inactive_grace_s: float = 60.0
    heartbeat_timeout_s: float = 35.0
    ws_auth_timeout_s: float = 15.0
    tic_interval_s: float = 30.0
    tickle_interval_s: float = 60.0
    request_timeout_s: float = 15.0
    orders_min_interval_s: float = 5.0
    orders_force_interval_s: float = 300.0
    read_retries: int = 3
    retry_backoff_s: float = 0.5
    rate_limit_backoff_s: float = 60.0
    max_questions: int = 10
    trades_max_days: int = 7
    trades_full_interval_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.account_id:
            raise ConfigurationError("IBKR account id is empty: set the account (e.g. U1234567)")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ConfigurationError(
                f"IBKR base URL {self.base_url!r} must start with https:// or http://"
            )
        if self.ws_auth not in ("cookie", "frame", "both"):
            raise ConfigurationError(
                f"IBKR websocket auth {self.ws_auth!r} must be cookie, frame or both"
            )

    @property
    def api_url(self) -> str:
        """The REST base without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def websocket_url(self) -> str:
        """The websocket address: `ws_url`, or the base URL with wss/ws and `/ws` appended."""
        if self.ws_url:
            return self.ws_url
        parts = urlsplit(self.api_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ws", "", ""))

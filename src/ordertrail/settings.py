"""Settings from `ORDERTRAIL_*` environment variables (and an optional `.env`)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ordertrail.domain.ids import validate_prefix


class Settings(BaseSettings):
    """What ordertrail reads from its environment; a broker is on when its account id is set."""

    model_config = SettingsConfigDict(env_prefix="ORDERTRAIL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./ordertrail.db"
    api_token: SecretStr | None = None
    client_order_prefix: str = "ordertrail"
    enable_test_endpoint: bool = False

    poll_interval_active: float = Field(1.0, gt=0)
    poll_interval_idle: float = Field(5.0, gt=0)
    lookback_days: float = Field(2.0, gt=0)

    paper_account_id: str | None = None

    tradier_access_token: SecretStr | None = None
    tradier_account_id: str | None = None
    tradier_base_url: str = "https://api.tradier.com/v1"
    tradier_stream_url: str | None = None
    tradier_stream: bool = True

    ibkr_base_url: str = "https://localhost:5000/v1/api"
    ibkr_account_id: str | None = None
    ibkr_verify_ssl: bool = False
    ibkr_websocket: bool = True

    tws_host: str = "127.0.0.1"
    tws_port: int = 7497
    tws_client_id: int = 17
    tws_account_id: str | None = None

    @field_validator("client_order_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return validate_prefix(value)

    def api_token_value(self) -> str | None:
        """The API token, or None when writes are open (loopback only)."""
        return self.api_token.get_secret_value() if self.api_token else None

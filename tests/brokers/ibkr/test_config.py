"""IbkrConfig and TwsConfig: derived addresses and refusals of settings that cannot work."""

from __future__ import annotations

import pytest

from ordertrail.brokers.ibkr import IbkrConfig
from ordertrail.brokers.tws.config import TwsConfig
from ordertrail.errors import ConfigurationError


@pytest.mark.parametrize(
    ("base_url", "ws_url"),
    [
        ("https://localhost:5000/v1/api", "wss://localhost:5000/v1/api/ws"),
        ("https://localhost:5000/v1/api/", "wss://localhost:5000/v1/api/ws"),
        ("http://127.0.0.1:8123/v1/api", "ws://127.0.0.1:8123/v1/api/ws"),
        ("https://api.ibkr.com/v1/api", "wss://api.ibkr.com/v1/api/ws"),
    ],
)
def test_websocket_url_is_derived_from_the_base_url(base_url, ws_url):
    assert IbkrConfig(account_id="U1", base_url=base_url).websocket_url == ws_url


def test_explicit_websocket_url_wins():
    config = IbkrConfig(account_id="U1", ws_url="wss://proxy.test/ws")
    assert config.websocket_url == "wss://proxy.test/ws"


@pytest.mark.parametrize(
    "settings",
    [
        {"account_id": ""},
        {"account_id": "U1", "base_url": "localhost:5000/v1/api"},
        {"account_id": "U1", "ws_auth": "token"},
    ],
)
def test_unusable_ibkr_settings_are_refused(settings):
    with pytest.raises(ConfigurationError):
        IbkrConfig(**settings)


def test_tws_defaults_and_refusals():
    config = TwsConfig(account_id="DU1", client_id=3)
    assert (config.host, config.port, config.client_id) == ("127.0.0.1", 7497, 3)
    with pytest.raises(ConfigurationError):
        TwsConfig(account_id="")
    with pytest.raises(ConfigurationError):
        TwsConfig(account_id="DU1", port=0)

"""Interactive Brokers Client Portal Web API adapter (REST and websocket)."""

from ordertrail.brokers.ibkr.client import IbkrBroker
from ordertrail.brokers.ibkr.config import IbkrConfig

__all__ = ["IbkrBroker", "IbkrConfig"]

"""Tradier: REST orders and the account-events stream, spoken as reports."""

from ordertrail.brokers.tradier.client import TradierBroker
from ordertrail.brokers.tradier.config import TradierConfig

__all__ = ["TradierBroker", "TradierConfig"]

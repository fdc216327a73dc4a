"""Interactive Brokers TWS / IB Gateway adapter over ib_async (an optional extra)."""

from ordertrail.brokers.tws.config import TwsConfig

__all__ = ["TwsConfig"]

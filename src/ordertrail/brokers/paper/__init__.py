"""The built-in paper broker: an in-process broker for demos and tests."""

from ordertrail.brokers.paper.client import PaperBroker
from ordertrail.brokers.paper.config import Behaviour, PaperConfig

__all__ = ["Behaviour", "PaperBroker", "PaperConfig"]

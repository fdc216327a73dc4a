"""ordertrail: the broker as the source of truth for order status."""

__version__ = "0.1.0"

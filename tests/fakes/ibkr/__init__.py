"""A faithful fake of the IBKR Client Portal gateway (REST and websocket) for tests."""

from tests.fakes.ibkr.server import FakeIbkrGateway

__all__ = ["FakeIbkrGateway"]

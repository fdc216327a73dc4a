"""A faithful fake Tradier server: REST orders, account events, quotas and faults."""

from tests.fakes.tradier.fake import FakeTradier, RecordedRequest
from tests.fakes.tradier.knobs import Fault, Knobs
from tests.fakes.tradier.orders import FakeOrder, Step

__all__ = ["FakeOrder", "FakeTradier", "Fault", "Knobs", "RecordedRequest", "Step"]

"""The error family. Every error a user can cause says what was wrong and what to do.

OrdertrailError
├── ConfigurationError      a setting is missing or wrong
├── NotFound                an id names nothing
├── InvalidRequest          input that breaks a rule (bad proposal, bad transition request)
└── BrokerError             a broker call failed
    ├── BrokerRejected      the broker definitely refused (nothing was placed)
    ├── BrokerUnavailable   transient: timeout, 5xx, rate limit, unparseable body
    │   └── RateLimited     over quota; `retry_after` says for how long
    └── BrokerAuthError     the token or session is not accepted

A BrokerError whose `nothing_placed` is True proves the request never took effect (a quota
refusal, a connection that was never made, a lookup that failed before the order was sent), so
a placement that failed that way is over, not in doubt.
"""

from __future__ import annotations


class OrdertrailError(Exception):
    """Root of every error ordertrail raises on purpose."""


class ConfigurationError(OrdertrailError):
    """A setting is missing or wrong; the message names the variable to set."""


class NotFound(OrdertrailError):
    """An id names nothing."""


class InvalidRequest(OrdertrailError):
    """Input that breaks a rule; the message says which."""


class BrokerError(OrdertrailError):
    """A broker call failed."""

    def __init__(
        self,
        message: str,
        *,
        broker: str = "",
        status_code: int | None = None,
        nothing_placed: bool = False,
    ) -> None:
        super().__init__(message)
        self.broker = broker
        self.status_code = status_code
        self.nothing_placed = nothing_placed


class BrokerRejected(BrokerError):
    """The broker refused the request; nothing was placed or changed."""


class BrokerUnavailable(BrokerError):
    """A transient failure: the outcome of the call is unknown or it can be retried."""


class RateLimited(BrokerUnavailable):
    """The broker's quota is spent; wait `retry_after` seconds."""

    def __init__(
        self,
        message: str,
        *,
        broker: str = "",
        retry_after: float = 1.0,
        status_code: int | None = None,
        nothing_placed: bool = True,
    ) -> None:
        super().__init__(
            message, broker=broker, status_code=status_code, nothing_placed=nothing_placed
        )
        self.retry_after = retry_after


class BrokerAuthError(BrokerError):
    """The broker does not accept our token or session; a person must fix the credentials.

    A request refused for its credentials did nothing, so `nothing_placed` defaults to True.
    """

    def __init__(
        self,
        message: str,
        *,
        broker: str = "",
        status_code: int | None = None,
        nothing_placed: bool = True,
    ) -> None:
        super().__init__(
            message, broker=broker, status_code=status_code, nothing_placed=nothing_placed
        )

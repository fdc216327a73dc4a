"""What tests can switch on the fake: behaviour knobs, injected faults, one-shot place outcomes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


@dataclass
class Knobs:
    """Switches for the unconfirmed or timing-dependent parts of Tradier's behaviour."""

    initial_status: str = "pending"
    auto_open: bool = True  # a new order turns `open` once it has been shown `pending`
    fill_data_lag_reads: int = 0  # reads that show `filled` before the fill numbers
    cancel_pending: bool = False  # a cancel shows `pending_cancel` until confirmed
    finalized_cancel_status: int = 400
    null_style: str = "string"  # "string": {"orders": "null"}; "json": {"orders": null}
    gtc_carry_over: bool = True  # working GTC orders of earlier days stay in the list
    default_limit: int = 25
    max_limit: int = 1500
    executed_quantity: bool = False  # stream events say `executed_quantity`
    heartbeat_interval_s: float = 60.0
    session_ttl_s: float = 300.0
    stream_silent: bool = False  # socket open, nothing sent: a stale stream
    drop_events: int = 0  # drop the next N order events
    duplicate_events: bool = False
    reorder_events: bool = False  # swap events in pairs: the later one is sent first
    event_delay_s: float = 0.0
    batch_events: bool = False  # several events in one frame, one per line

    def update(self, values: dict[str, Any]) -> None:
        """Set knobs by name; refuse names that do not exist."""
        known = {item.name: item.type for item in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise KeyError(f"no knob named {name!r}")
            setattr(self, name, value)


class Fault(StrEnum):
    """Troubles the fake can answer with instead of the real answer."""

    BAD_GATEWAY = "502"
    GATEWAY_TIMEOUT = "504"
    SERVER_ERROR = "500"
    NOT_FOUND = "404"
    DATASTORE = "datastore"
    HTML_200 = "html200"
    TOKEN_INVALID = "token401"
    TOKEN_EXPIRED = "token_expired"
    QUOTA = "quota"
    HANG = "hang"  # no answer until the client gives up
    DROP = "drop"  # the connection breaks mid-answer


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Tradier API | Documentation</title></head>"
    "<body><h1>Orders</h1><p>Developer documentation.</p></body></html>"
)


def fault_answer(fault: Fault, expires_ms: int = 0) -> tuple[int, str, str]:
    """The status, body and content type a fault answers with."""
    if fault is Fault.QUOTA:
        return 400, f"Quota Violation: Expires {expires_ms}", "text/plain"
    return FAULT_ANSWERS.get(fault, (504, "Gateway Timeout", "text/plain"))


def token_fault(text: str, code: str) -> str:
    return (
        f'{{"fault":{{"faultstring":"{text}",'
        f'"detail":{{"errorcode":"keymanagement.service.{code}"}}}}}}'
    )


JSON = "application/json"
FAULT_ANSWERS: dict[Fault, tuple[int, str, str]] = {
    Fault.BAD_GATEWAY: (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    Fault.GATEWAY_TIMEOUT: (
        504,
        '{"fault":{"faultstring":"Gateway Timeout",'
        '"detail":{"errorcode":"messaging.adaptors.http.flow.GatewayTimeout"}}}',
        JSON,
    ),
    Fault.SERVER_ERROR: (500, "Internal Server Error", "text/plain"),
    Fault.NOT_FOUND: (404, "Not Found", "text/plain"),
    Fault.DATASTORE: (
        500,
        '{"fault":{"faultstring":"Datastore Error",'
        '"detail":{"errorcode":"datastore.ErrorExecutingQuery"}}}',
        JSON,
    ),
    Fault.HTML_200: (200, HTML_PAGE, "text/html"),
    Fault.TOKEN_INVALID: (401, token_fault("Invalid Access Token", "invalid_access_token"), JSON),
    Fault.TOKEN_EXPIRED: (401, token_fault("Access Token expired", "access_token_expired"), JSON),
}


@dataclass
class Injection:
    fault: Fault
    times: int
    method: str | None
    path: str | None


class Faults:
    """Queued faults and one-shot outcomes for the next place call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Injection] = []
        self.lost_place: Fault | None = None
        self.refusal: tuple[int, list[str]] | None = None
        self.reject_reason: str | None = None

    def inject(
        self, fault: Fault | str, times: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next `times` matching calls with `fault` (method, path substring)."""
        with self._lock:
            self._queue.append(Injection(Fault(fault), times, method and method.upper(), path))

    def take(self, method: str, path: str) -> Fault | None:
        """Use up one queued fault matching this call, if any."""
        with self._lock:
            for injection in self._queue:
                if injection.method and injection.method != method:
                    continue
                if injection.path and injection.path not in path:
                    continue
                injection.times -= 1
                if injection.times <= 0:
                    self._queue.remove(injection)
                return injection.fault
        return None

    def take_lost_place(self) -> Fault | None:
        with self._lock:
            lost, self.lost_place = self.lost_place, None
            return lost

    def take_refusal(self) -> tuple[int, list[str]] | None:
        with self._lock:
            refusal, self.refusal = self.refusal, None
            return refusal

    def take_reject_reason(self) -> str | None:
        with self._lock:
            reason, self.reject_reason = self.reject_reason, None
            return reason

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.lost_place = self.refusal = self.reject_reason = None

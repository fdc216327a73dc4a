"""Tradier payloads to reports and errors: pure mapping tables and `parse_*` functions, no I/O."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ordertrail.domain.instrument import Instrument, SecType, parse_occ
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import (
    BrokerAuthError,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    RateLimited,
)

BROKER = "tradier"
log = logging.getLogger(__name__)

_S = OrderStatus
STATUS_MAP: dict[str, OrderStatus] = {
    "pending": _S.PLACED,  # held, not yet working (market closed...)
    "open": _S.PLACED,
    "partially_filled": _S.PARTIAL,
    "filled": _S.FILLED,
    "canceled": _S.CANCELLED,  # may carry exec_quantity > 0: those fills stand
    "expired": _S.EXPIRED,
    "rejected": _S.REJECTED,
    "error": _S.REJECTED,
    "pending_cancel": _S.PLACED,  # cancel asked, fills still possible
    "submitted": _S.PLACED,  # legacy name for working
    "calculated": _S.PLACED,
    "accepted_for_bidding": _S.PLACED,
    "held": _S.PLACED,
}
# Listed for the stream only; their meaning is unconfirmed, so they are logged when seen.
UNCONFIRMED_STATUSES = frozenset({"calculated", "accepted_for_bidding", "held"})
# `ok` acknowledges a request; it is never an order's state.
ACK_STATUSES = frozenset({"ok"})

MULTILEG_CLASSES = frozenset({"multileg", "combo"})
# Sparse parents (never with fill numbers) whose children are the real orders.
CONDITIONAL_CLASSES = frozenset({"oco", "oto", "otoco"})
_WORKING = frozenset({_S.PLACED, _S.PARTIAL})
_ZERO = Decimal(0)
_FRACTION = re.compile(r"\.(\d{6})\d+")
_QUOTA = re.compile(r"Quota Violation: Expires (\d+)")
_FINALIZED = re.compile(r"order already in finalized state: (\w+)")
_DECODER = json.JSONDecoder(parse_float=Decimal)


class UnauthorizedAccount(BrokerRejected):
    """Tradier's 401 plain text: the order id is not in this account (or never existed)."""


class OrderFinalized(BrokerRejected):
    """A cancel of an order that is already finished; `status` is the state Tradier names."""

    def __init__(self, message: str, *, status: str, status_code: int | None = None) -> None:
        super().__init__(message, broker=BROKER, status_code=status_code)
        self.status = status


def load_json(text: str) -> Any:
    """Decode a Tradier body with exact decimals; raise BrokerUnavailable when it is not JSON."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as error:
        raise BrokerUnavailable(
            f"Tradier answered with a body that is not JSON: {_excerpt(text)}", broker=BROKER
        ) from error


def parse_decimal(value: Any) -> Decimal | None:
    """Read a number Tradier sent (number, numeric string); None when absent or empty."""
    if value is None or isinstance(value, bool) or value in ("", "null"):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_timestamp(value: Any) -> datetime | None:
    """Read `2018-06-01T12:02:29.682Z` or a 9-digit fraction; a missing zone means UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r".\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # a year-1 stamp east of UTC: no such instant, so no timestamp
        return None


def map_status(raw: Any) -> OrderStatus | None:
    """Map a Tradier status; None (and a warning) for values we do not know."""
    if not isinstance(raw, str):
        return None
    status = STATUS_MAP.get(raw)
    if raw in UNCONFIRMED_STATUSES:
        log.info("Tradier status %r seen (meaning unconfirmed), mapped to %s", raw, status)
    elif status is None and raw not in ACK_STATUSES:
        log.warning("Unknown Tradier order status %r kept raw, status left unchanged", raw)
    return status


def order_dicts(payload: Any) -> list[Mapping[str, Any]]:
    """Normalise `{"orders": {"order": object | array} | "null" | null}` to a list of orders."""
    if not isinstance(payload, Mapping) or "orders" not in payload:
        raise BrokerUnavailable(
            f"Tradier order list has an unexpected shape: {_excerpt(str(payload))}", broker=BROKER
        )
    orders = payload["orders"]
    if orders is None or orders == "null" or orders == "":
        return []
    if not isinstance(orders, Mapping):
        raise BrokerUnavailable("Tradier order list has an unexpected shape", broker=BROKER)
    return _as_list(orders.get("order"))


def tracked_orders(orders: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The orders to track among listed ones: an OCO/OTO/OTOCO parent is sparse (no symbol,
    no fill numbers, ever), so its children, full orders with their own ids, stand in its
    place; every other order (a multileg parent with its legs included) stands for itself."""
    tracked: list[Mapping[str, Any]] = []
    for order in orders:
        if is_conditional(order):
            tracked.extend(c for c in _as_list(order.get("leg")) if isinstance(c, Mapping))
        else:
            tracked.append(order)
    return tracked


def is_conditional(order: Mapping[str, Any]) -> bool:
    """Tell an OCO/OTO/OTOCO parent (see `tracked_orders`)."""
    return _text(order.get("class")) in CONDITIONAL_CLASSES


def parse_orders_list(payload: Any, account_id: str, source: str = "poll") -> list[OrderReport]:
    """Report every order of a list answer; one order that cannot be read is logged and left
    out, never allowed to stop the whole poll (its state stays as last seen)."""
    reports = []
    for order in tracked_orders(order_dicts(payload)):
        try:
            reports.append(parse_order_dict(order, account_id, source))
        except (TypeError, ValueError, ArithmeticError, AttributeError) as error:
            log.warning("Tradier order left out, unreadable (%s): %s", error, _excerpt(str(order)))
    return reports


def parse_order(payload: Any, account_id: str, source: str = "lookup") -> OrderReport:
    """Report the order of a `{"order": {...}}` answer."""
    order = payload.get("order") if isinstance(payload, Mapping) else None
    if not isinstance(order, Mapping) or "id" not in order:
        raise BrokerUnavailable(
            f"Tradier order answer has an unexpected shape: {_excerpt(str(payload))}",
            broker=BROKER,
        )
    return parse_order_dict(order, account_id, source)


def parse_order_dict(order: Mapping[str, Any], account_id: str, source: str) -> OrderReport:
    """Report one Tradier order object (a parent's legs become leg reports)."""
    filled = _first_decimal(order, "exec_quantity", "executed_quantity")
    broker_status = order.get("status")
    status = _working_with_fills(map_status(broker_status), filled)
    legs = tuple(parse_order_dict(leg, account_id, source) for leg in _as_list(order.get("leg")))
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=_text(order.get("id")),
        status=status,
        broker_status=broker_status if isinstance(broker_status, str) else None,
        client_order_id=_text(order.get("tag")),
        filled_quantity=filled,
        avg_fill_price=_average(order, filled),
        last_fill_price=_nonzero(parse_decimal(order.get("last_fill_price"))),
        last_fill_quantity=_nonzero(parse_decimal(order.get("last_fill_quantity"))),
        quantity=parse_decimal(order.get("quantity")),
        remaining_quantity=parse_decimal(order.get("remaining_quantity")),
        limit_price=parse_decimal(order.get("price")),
        instrument=parse_instrument(order),
        side=_text(order.get("side")),
        order_type=_text(order.get("type")),
        reason=_text(order.get("reason_description")),
        derives_fills=True,
        broker_ts=parse_timestamp(order.get("transaction_date")),
        source=source,
        legs=legs,
        raw=order,
    )


def parse_instrument(order: Mapping[str, Any]) -> Instrument | None:
    """Say what an order trades; None for sparse OCO/OTO parents that name nothing."""
    symbol = _text(order.get("symbol"))
    option_symbol = _text(order.get("option_symbol"))
    if _text(order.get("class")) in MULTILEG_CLASSES and symbol:
        return Instrument(symbol=symbol, sec_type=SecType.MULTILEG, multiplier=Decimal(100))
    if option_symbol:
        parsed = parse_occ(option_symbol)
        if parsed is not None:
            return parsed
        return Instrument(
            symbol=symbol or option_symbol,
            sec_type=SecType.OPTION,
            option_symbol=option_symbol,
            multiplier=Decimal(100),
        )
    return Instrument(symbol=symbol) if symbol else None


def needs_fill_data(report: OrderReport) -> bool:
    """Tell whether a report shows fills (or `filled`) before the numbers that price them."""
    raw = report.raw
    if not isinstance(raw, Mapping) or (
        "exec_quantity" not in raw and "executed_quantity" not in raw
    ):
        return False
    filled = report.filled_quantity or _ZERO
    if report.status is _S.FILLED:
        short = report.quantity is not None and filled < report.quantity
        return short or report.avg_fill_price is None
    return filled > _ZERO and report.avg_fill_price is None


def parse_order_event(event: Mapping[str, Any], account_id: str) -> OrderReport:
    """Report an account-stream order event on its own: sparse, and never a price source."""
    report = parse_order_dict(event, account_id, "stream")
    return replace(
        report,
        avg_fill_price=None,
        last_fill_price=None,
        last_fill_quantity=None,
        limit_price=_nonzero(report.limit_price),
    )


def parse_stream_message(frame: str | bytes) -> list[Mapping[str, Any]]:
    """Split one websocket frame into its JSON objects (one per line, or pretty-printed)."""
    text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
    messages: list[Mapping[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return messages
        try:
            message, position = _DECODER.raw_decode(text, position)
        except ValueError:
            rest = text[position:]
            if "session not found" in rest.lower():  # an expired or unknown session id
                raise BrokerUnavailable(
                    f"Tradier account stream refused the session: {_excerpt(rest)}",
                    broker=BROKER,
                ) from None
            log.warning("Tradier stream sent text that is not JSON: %s", _excerpt(rest))
            return messages
        if isinstance(message, Mapping):
            messages.append(message)


def parse_session(payload: Any) -> tuple[str, str]:
    """Read the websocket url and session id of a `POST /accounts/events/session` answer."""
    stream = payload.get("stream") if isinstance(payload, Mapping) else None
    if isinstance(stream, Mapping) and stream.get("url") and stream.get("sessionid"):
        return str(stream["url"]), str(stream["sessionid"])
    raise BrokerUnavailable("Tradier stream session answer has no url or session id", broker=BROKER)


def parse_place_answer(payload: Any) -> str:
    """Return the order id of a place answer; raise BrokerRejected for `errors` without an id."""
    order = payload.get("order") if isinstance(payload, Mapping) else None
    if isinstance(order, Mapping) and order.get("id") is not None:
        return str(order["id"])
    reasons = error_reasons(payload)
    if reasons:
        raise BrokerRejected(f"Tradier refused the order: {'; '.join(reasons)}", broker=BROKER)
    raise BrokerUnavailable(
        f"Tradier's answer to the order names no id: {_excerpt(str(payload))}", broker=BROKER
    )


def error_reasons(payload: Any) -> list[str]:
    """The texts of an `{"errors": {"error": str | [str]}}` body (empty when there are none)."""
    errors = payload.get("errors") if isinstance(payload, Mapping) else None
    if not isinstance(errors, Mapping):
        return []
    reasons = errors.get("error")
    if isinstance(reasons, list):
        return [str(reason) for reason in reasons if reason]
    return [str(reasons)] if reasons else []


def parse_error(status_code: int, body_text: str, *, now: datetime | None = None) -> BrokerError:
    """Turn a failed answer into the error it means (see the error table in BROKERS.md)."""
    text = body_text.strip()
    quota = _QUOTA.search(text)
    if quota:
        return _quota_error(int(quota[1]), status_code, now)
    finalized = _FINALIZED.search(text)
    if finalized:
        return OrderFinalized(text, status=finalized[1], status_code=status_code)
    if text.startswith("Unauthorized Account"):
        return UnauthorizedAccount(text, broker=BROKER, status_code=status_code)
    payload = _maybe_json(text)
    fault = payload.get("fault") if isinstance(payload, Mapping) else None
    if isinstance(fault, Mapping):
        return _fault_error(fault, status_code)
    message = f"Tradier answered HTTP {status_code}: {_excerpt(text) or 'no body'}"
    reasons = error_reasons(payload)
    if reasons:
        message = f"Tradier answered HTTP {status_code}: {'; '.join(reasons)}"
    if status_code in (401, 403):
        return BrokerAuthError(message, broker=BROKER, status_code=status_code)
    if status_code == 429:
        return RateLimited(message, broker=BROKER, status_code=status_code)
    if status_code >= 500 or status_code in (404, 408) or _is_html(text):
        return BrokerUnavailable(message, broker=BROKER, status_code=status_code)
    if 400 <= status_code < 500:
        return BrokerRejected(message, broker=BROKER, status_code=status_code)
    return BrokerUnavailable(message, broker=BROKER, status_code=status_code)


def quota_expiry(body_text: str) -> datetime | None:
    """The moment a `Quota Violation` body says the quota renews."""
    match = _QUOTA.search(body_text)
    return datetime.fromtimestamp(int(match[1]) / 1000, UTC) if match else None


def _quota_error(expires_ms: int, status_code: int, now: datetime | None) -> RateLimited:
    current = now or datetime.now(UTC)
    try:
        expires = datetime.fromtimestamp(expires_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # an absurd expiry: wait out one window
        expires = current + timedelta(seconds=60)
    wait = min(max((expires - current).total_seconds(), 0.0), 60.0)
    return RateLimited(
        f"Tradier quota spent until {expires:%H:%M:%S} UTC; nothing was done, retry after that",
        broker=BROKER,
        retry_after=wait,
        status_code=status_code,
    )


def _fault_error(fault: Mapping[str, Any], status_code: int) -> BrokerError:
    text = str(fault.get("faultstring") or "unknown fault")
    detail = fault.get("detail")
    code = str(detail.get("errorcode", "")) if isinstance(detail, Mapping) else ""
    if status_code == 401 or "access_token" in code or "Access Token" in text:
        return BrokerAuthError(
            f"Tradier does not accept the access token ({text}); set a valid token",
            broker=BROKER,
            status_code=status_code,
        )
    return BrokerUnavailable(
        f"Tradier backend fault: {text}", broker=BROKER, status_code=status_code
    )


def _working_with_fills(status: OrderStatus | None, filled: Decimal | None) -> OrderStatus | None:
    if status in _WORKING and filled is not None and filled > _ZERO:
        return _S.PARTIAL
    return status


def _average(order: Mapping[str, Any], filled: Decimal | None) -> Decimal | None:
    """The average fill price; None while it reads 0 (unfilled, or filled before its data)."""
    average = parse_decimal(order.get("avg_fill_price"))
    if average is None or average != _ZERO:
        return average
    if order.get("type") == "even" and _text(order.get("class")) in MULTILEG_CLASSES and filled:
        return average  # an even-priced spread really fills at 0
    return None


def _first_decimal(order: Mapping[str, Any], *keys: str) -> Decimal | None:
    for key in keys:
        if key in order:
            return parse_decimal(order[key])
    return None


def _nonzero(value: Decimal | None) -> Decimal | None:
    return None if value is None or value == _ZERO else value


def _as_list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        # `type is dict` first: decoded JSON is dicts, and the Mapping check is slow per item
        return [item for item in value if type(item) is dict or isinstance(item, Mapping)]
    return []


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return None


def _is_html(text: str) -> bool:
    head = text[:200].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head)


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"

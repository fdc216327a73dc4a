"""Every documented Tradier error shape becomes the error it means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ordertrail.brokers.tradier.parsing import (
    OrderFinalized,
    UnauthorizedAccount,
    parse_error,
    parse_place_answer,
)
from ordertrail.errors import (
    BrokerAuthError,
    BrokerRejected,
    BrokerUnavailable,
    RateLimited,
)
from tests.brokers.tradier.conftest import RESOURCES, load

COVERED = {
    "error_cancel_finalized_canceled_http400.txt",
    "error_errors_list.json",
    "error_errors_string_http400.json",
    "error_fault_token_expired_http401.json",
    "error_quota_violation_http400.txt",
    "error_tag_invalid_chars_http400.txt",
    "error_unauthorized_account_http401.txt",
}


def text(name: str) -> str:
    return (RESOURCES / name).read_text()


def test_errors_list_at_200_without_id_is_a_refusal_naming_every_reason() -> None:
    with pytest.raises(BrokerRejected) as caught:
        parse_place_answer(load("error_errors_list.json"))
    assert "Backoffice rejected override of the order." in str(caught.value)
    assert "DayTradingBuyingPowerExceeded" in str(caught.value)


def test_errors_list_at_400_is_a_refusal() -> None:
    error = parse_error(400, text("error_errors_list.json"))
    assert type(error) is BrokerRejected and error.status_code == 400
    assert "DayTradingBuyingPowerExceeded" in str(error)


def test_errors_string_at_400_is_a_refusal() -> None:
    error = parse_error(400, text("error_errors_string_http400.json"))
    assert type(error) is BrokerRejected
    assert "^TNX: symbol not found" in str(error)


def test_quota_violation_is_rate_limited_until_its_expiry() -> None:
    now = datetime.fromtimestamp(1769804340000 / 1000 - 12.5, UTC)
    error = parse_error(400, text("error_quota_violation_http400.txt"), now=now)
    assert isinstance(error, RateLimited) and isinstance(error, BrokerUnavailable)
    assert error.retry_after == pytest.approx(12.5)
    late = parse_error(400, text("error_quota_violation_http400.txt"), now=now.replace(year=2027))
    assert isinstance(late, RateLimited) and late.retry_after == 0


def test_tag_refusal_is_a_refusal() -> None:
    error = parse_error(400, text("error_tag_invalid_chars_http400.txt"))
    assert type(error) is BrokerRejected and "tag: contains invalid characters" in str(error)


def test_unauthorized_account_text_is_about_the_order_not_the_token() -> None:
    error = parse_error(401, text("error_unauthorized_account_http401.txt"))
    assert isinstance(error, UnauthorizedAccount)
    assert not isinstance(error, BrokerAuthError)


def test_fault_json_at_401_is_a_token_problem() -> None:
    error = parse_error(401, text("error_fault_token_expired_http401.json"))
    assert isinstance(error, BrokerAuthError)
    assert "Access Token expired" in str(error)


def test_finalized_cancel_names_the_final_state() -> None:
    error = parse_error(400, text("error_cancel_finalized_canceled_http400.txt"))
    assert isinstance(error, OrderFinalized) and error.status == "canceled"
    later = parse_error(200, "order already in finalized state: filled")
    assert isinstance(later, OrderFinalized) and later.status == "filled"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"fault":{"faultstring":"Datastore Error","detail":{"errorcode":"x.y"}}}'),
        (400, '{"fault":{"faultstring":"Datastore Error","detail":{"errorcode":"x.y"}}}'),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (504, "Gateway Timeout"),
        (503, ""),
        (404, "Not Found"),
        (400, "<!DOCTYPE html><html><body>docs</body></html>"),
    ],
)
def test_backend_trouble_is_transient(status: int, body: str) -> None:
    error = parse_error(status, body)
    assert type(error) is BrokerUnavailable and error.status_code == status


def test_429_is_rate_limited() -> None:
    assert isinstance(parse_error(429, "Too Many Requests"), RateLimited)


def test_plain_text_401_other_than_unauthorized_account_is_a_token_problem() -> None:
    assert type(parse_error(401, "Invalid Access Token")) is BrokerAuthError


def test_messages_are_short_even_for_long_bodies() -> None:
    error = parse_error(500, "x" * 10_000)
    assert len(str(error)) < 300

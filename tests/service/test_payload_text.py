"""A broker's payload is stored as the broker wrote its numbers: trailing zeros and negative
credit prices (BROKERS.md, Tradier quirk 5) survive the apply path digit for digit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ordertrail.brokers.tradier.parsing import load_json, parse_orders_list
from ordertrail.clock import FakeClock
from ordertrail.services.apply import apply_reports
from ordertrail.storage.uow import SqlUnitOfWork

FIXTURE = Path(__file__).parents[1] / "resources" / "tradier" / "list_single_order_object.json"


def _stored_payloads(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(text("SELECT payload FROM order_events ORDER BY id")).scalars()
        )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (None, ['"quantity":128.00000', '"avg_fill_price":115.83000', '"price":115.83']),
        (('"avg_fill_price": 115.83000', '"avg_fill_price": -2.40'), ['"avg_fill_price":-2.40']),
    ],
)
def test_tradier_numbers_are_stored_as_sent(
    engine: Engine, edit: tuple[str, str] | None, expected: list[str]
) -> None:
    body = FIXTURE.read_text()
    if edit is not None:
        assert edit[0] in body
        body = body.replace(*edit)
    reports = parse_orders_list(load_json(body), "VA000001")

    apply_reports(SqlUnitOfWork(engine), reports, FakeClock())

    payloads = _stored_payloads(engine)
    assert payloads, "the adopted order has events"
    for payload in payloads:
        for fragment in expected:
            assert fragment in payload

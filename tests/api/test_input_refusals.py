"""Bodies that would place something other than what was asked are refused, and a refusal
never repeats a refused value (a token sent in the wrong field stays out of the answer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ordertrail.api.app import create_app
from ordertrail.bootstrap import AccountSpec, bootstrap
from ordertrail.settings import Settings
from ordertrail.storage.accounts import AccountRepository
from tests.api.support import TestClient

SECRET = "tok-SECRET-9z9z"
SPY_ENTRY = {"kind": "ENTRY", "instrument": {"symbol": "SPY"}, "quantity": "1"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[TestClient]:
    """An app that reads its accounts from settings and from the database, as `serve` does."""
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/a.db", paper_account_id="P1"))
    with TestClient(create_app(app, run_watchers=False), raise_server_exceptions=False) as c:
        yield c
    app.applier.close()
    app.engine.dispose()


def test_a_misspelt_field_is_refused_not_dropped(sqlite_client: TestClient) -> None:
    # The API answers in camelCase: a client sending `limitPrice` back must not get a market
    # order.
    body = SPY_ENTRY | {"orderType": "limit", "limitPrice": "1.00"}
    answer = sqlite_client.post("/api/proposals", json=body)
    assert answer.status_code == 422
    assert {tuple(e["loc"]) for e in answer.json()["detail"]} == {
        ("body", "orderType"),
        ("body", "limitPrice"),
    }


@pytest.mark.parametrize(
    ("strike", "expiry"), [("95.0005", "2027-01-15"), ("95", "2101-01-15"), ("250000", None)]
)
def test_an_option_an_occ_symbol_cannot_name_is_refused(
    sqlite_client: TestClient, strike: str, expiry: str | None
) -> None:
    # OCC symbols hold a strike below 100,000 to 3 decimals and a two-digit year: 95.0005
    # would be placed as the 95 strike, 2101 as 2001.
    option = {"symbol": "TSLA", "strike": strike, "right": "C", "expiry": expiry}
    answer = sqlite_client.post("/api/proposals", json=SPY_ENTRY | {"instrument": option})
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    "body",
    [
        SPY_ENTRY | {"legs": [{"option_symbol": "SPY270115C00500000", "side": "x", "quantity": 1}]},
        SPY_ENTRY | {"instrument": {"symbol": "   "}},
    ],
)
def test_a_leg_side_or_symbol_that_names_nothing_is_refused(
    sqlite_client: TestClient, body: dict[str, object]
) -> None:
    assert sqlite_client.post("/api/proposals", json=body).status_code == 422


@pytest.mark.parametrize(
    "account",
    [
        {"broker": "tws", "account_id": "T1", "settings": {"port": 99999999}},
        {"broker": "ibkr", "account_id": "U1", "settings": {"base_url": "not a url"}},
        {"broker": "ibkr", "account_id": "U2", "settings": {"verify_ssl": "nope"}},
    ],
)
def test_an_unusable_account_setting_is_refused_and_stops_nothing(
    served: TestClient, account: dict[str, object]
) -> None:
    added = served.post("/api/accounts", json=account)
    body = SPY_ENTRY | {"broker": "paper", "account_id": "P1"}
    created = served.post("/api/proposals", json=body)
    assert (added.status_code, created.status_code) == (422, 201), (added.text, created.text)
    name = next(iter(account["settings"]))  # type: ignore[call-overload]
    assert name in added.json()["detail"]


@pytest.mark.parametrize(
    "account",
    [
        {"broker": "tradier", "account_id": "VA1", "access_token": SECRET},
        {"broker": "tradier", "account_id": "VA1", "token": [SECRET]},
    ],
)
def test_a_refused_account_never_repeats_its_token(
    served: TestClient, account: dict[str, object]
) -> None:
    answer = served.post("/api/accounts", json=account)
    assert answer.status_code == 422
    assert SECRET not in answer.text, answer.text


@pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")
def test_an_unusable_account_stored_earlier_is_left_out_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Stored before its settings were checked (or by hand): the app starts all the same,
    # the other accounts work, and the log says which account is left out and why.
    url = f"sqlite:///{tmp_path}/a.db"
    first = bootstrap(Settings(database_url=url, paper_account_id="P1"))
    with first.engine.begin() as connection:
        spec = AccountSpec("ibkr", "U9", None, {"verify_ssl": "nope"})
        AccountRepository(connection).upsert(spec, None, first.clock.now())
    first.applier.close()
    first.engine.dispose()
    app = bootstrap(Settings(database_url=url, paper_account_id="P1"))
    try:
        with TestClient(create_app(app, run_watchers=False)) as client:
            body = SPY_ENTRY | {"broker": "paper", "account_id": "P1"}
            assert client.post("/api/proposals", json=body).status_code == 201
        assert "ibkr:U9" in app.unusable and "ibkr:U9" not in app.brokers
        assert "stored account ibkr:U9 cannot be used" in caplog.text
    finally:
        app.applier.close()
        app.engine.dispose()


def test_a_limit_price_a_single_order_cannot_have_is_refused(client: TestClient) -> None:
    # A buy at a limit of -2 was placed and filled at -1.995; a market order kept a price it
    # would never use. A spread (legs) may be priced at a credit: its price may be below 0.
    for price in ("-2", "0"):
        body = {"kind": "ENTRY", "instrument": {"symbol": "TSLA"}, "quantity": "5"}
        answer = client.post(
            "/api/proposals", json=body | {"order_type": "limit", "limit_price": price}
        )
        assert answer.status_code == 422 and "is not above 0" in answer.json()["detail"]
    market = {
        "kind": "ENTRY",
        "instrument": {"symbol": "TSLA"},
        "quantity": "5",
        "limit_price": "2",
    }
    answer = client.post("/api/proposals", json=market)
    assert answer.status_code == 422 and "a market order takes no limit_price" in answer.text
    legs = [
        {"option_symbol": "SPY270115C00500000", "side": "buy_to_open", "quantity": 1},
        {"option_symbol": "SPY270115C00510000", "side": "sell_to_open", "quantity": 1},
    ]
    spread = {"kind": "ENTRY", "instrument": {"symbol": "SPY"}, "quantity": "1", "legs": legs}
    credit = spread | {"order_type": "limit", "limit_price": "-1.25"}
    assert client.post("/api/proposals", json=credit).status_code == 201

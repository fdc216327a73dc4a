"""The adapter over recorded answers served by an injected transport: errors, retries, chains."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import (
    BrokerAuthError,
    BrokerRejected,
    BrokerUnavailable,
    RateLimited,
)
from ordertrail.ports import PlaceRequest
from tests.brokers.ibkr.conftest import load

BASE = "https://gw.test/v1/api"
Answer = tuple[int, Any] | Exception


class Recorded:
    """Serve queued answers per (method, path); the last answer repeats."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = defaultdict(list)
        self.requests: list[httpx.Request] = []
        self.on("POST", "/tickle", 200, load("cp_tickle_ok_docs.json"))
        self.on("GET", "/iserver/accounts", 200, {"accounts": ["U1234567"]})

    def on(self, method: str, path: str, status: int | Exception, body: Any = None) -> Recorded:
        answer: Answer = status if isinstance(status, Exception) else (status, body)
        self.answers[(method, path)].append(answer)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path.removeprefix("/v1/api"))
        queue = self.answers.get(key)
        if not queue:
            return httpx.Response(404, json={"error": f"no answer for {key}"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, content=json.dumps(body, default=str).encode())

    def paths(self, method: str | None = None) -> list[str]:
        return [
            r.url.path.removeprefix("/v1/api") + (f"?{r.url.query.decode()}" if r.url.query else "")
            for r in self.requests
            if method is None or r.method == method
        ]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(recorded: Recorded, sleeps: Sleeps | None = None, **settings: Any) -> IbkrBroker:
    settings.setdefault("orders_min_interval_s", 0.0)
    config = IbkrConfig(
        account_id="U1234567", base_url=BASE, ws_enabled=False, retry_backoff_s=0.01, **settings
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorded.handler))
    return IbkrBroker(config, http=client, sleep=sleeps or Sleeps())


def stock_request(**fields: Any) -> PlaceRequest:
    values: dict[str, Any] = {
        "client_order_id": "ot-1-ENTRY-20260105T150000000Z",
        "instrument": Instrument("AAPL", contract_id="265598"),
        "side": "buy",
        "quantity": Decimal(5),
        "order_type": "limit",
        "limit_price": Decimal("192.5"),
    }
    values.update(fields)
    return PlaceRequest(**values)


SINCE = datetime(2026, 1, 5, tzinfo=UTC)


async def test_list_orders_forces_once_then_polls_plain_and_never_filters():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 200, load("cp_orders_empty_force_cleared.json"))
    recorded.on(
        "GET", "/iserver/account/orders", 200, load("cp_orders_filled_market_order_ref_docs.json")
    )
    recorded.on("GET", "/iserver/account/trades", 200, load("cp_trades_one_fill_docs.json"))
    broker = make(recorded)
    first = await broker.list_orders(SINCE)
    await broker.list_orders(SINCE)
    orders_calls = [p for p in recorded.paths() if p.startswith("/iserver/account/orders")]
    assert orders_calls == [
        "/iserver/account/orders?force=true",
        "/iserver/account/orders",
        "/iserver/account/orders",
    ]
    assert not any("filters" in p for p in recorded.paths())
    assert recorded.paths().index("/iserver/accounts") < recorded.paths().index(orders_calls[0])
    [filled, orphan] = first
    assert filled.status is OrderStatus.FILLED and filled.executions == ()
    assert orphan.broker_order_id == "17437897932" and orphan.status is None
    assert orphan.executions[0].execution_id == "0000e0d5.6576fd38.01.01"


async def test_trades_attach_to_their_live_order():
    recorded = Recorded()
    [trade] = load("cp_trades_one_fill_docs.json")
    trade["order_id"] = 1234568790
    rows = load("cp_orders_filled_market_order_ref_docs.json")
    recorded.on("GET", "/iserver/account/orders", 200, rows)
    recorded.on("GET", "/iserver/account/trades", 200, [trade, trade])
    [report] = await make(recorded).list_orders(SINCE)
    assert [e.execution_id for e in report.executions] == ["0000e0d5.6576fd38.01.01"]


async def test_failed_tickle_falls_back_to_auth_status():
    recorded = Recorded()
    recorded.answers[("POST", "/tickle")] = [(200, load("cp_tickle_failed.json"))]
    recorded.on("POST", "/iserver/auth/status", 200, load("cp_auth_status_ok.json"))
    recorded.on("GET", "/iserver/account/orders", 200, {"orders": [], "snapshot": True})
    recorded.on("GET", "/iserver/account/trades", 200, [])
    assert await make(recorded).list_orders(SINCE) == []
    assert "/iserver/auth/status" in recorded.paths()


async def test_unauthenticated_gateway_is_an_auth_error():
    recorded = Recorded()
    recorded.answers[("POST", "/tickle")] = [(200, load("cp_tickle_failed.json"))]
    status = {**load("cp_auth_status_ok.json"), "authenticated": False}
    recorded.on("POST", "/iserver/auth/status", 200, status)
    with pytest.raises(BrokerAuthError, match="log in"):
        await make(recorded).list_orders(SINCE)


async def test_a_competing_session_is_an_auth_error():
    # Another login (TWS, the web portal) holds the brokerage session: nothing reads until
    # the user logs out there; saying so beats retrying for ever.
    recorded = Recorded()
    recorded.answers[("POST", "/tickle")] = [(200, load("cp_tickle_failed.json"))]
    status = {**load("cp_auth_status_ok.json"), "competing": True}
    recorded.on("POST", "/iserver/auth/status", 200, status)
    with pytest.raises(BrokerAuthError, match="competes"):
        await make(recorded).list_orders(SINCE)
    assert "/iserver/account/orders" not in recorded.paths()


async def test_401_is_an_auth_error():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 401, {"error": "not authenticated"})
    with pytest.raises(BrokerAuthError):
        await make(recorded).list_orders(SINCE)


async def test_reads_are_retried_after_5xx_with_backoff():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 503, {"error": "Service Unavailable"})
    recorded.on("GET", "/iserver/account/orders", 200, {"orders": [], "snapshot": False})
    recorded.on("GET", "/iserver/account/trades", 502, "Bad Gateway")
    recorded.on("GET", "/iserver/account/trades", httpx.ConnectError("refused"))
    recorded.on("GET", "/iserver/account/trades", 200, [])
    sleeps = Sleeps()
    assert await make(recorded, sleeps).list_orders(SINCE) == []
    assert sleeps.calls == [0.01, 0.01, 0.02]  # exponential backoff per call


async def test_reads_give_up_as_unavailable():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 500, {"error": "Internal"})
    with pytest.raises(BrokerUnavailable, match="500"):
        await make(recorded, read_retries=1).list_orders(SINCE)


async def test_html_body_is_unavailable_not_empty():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 200, "<html>maintenance</html>")
    with pytest.raises(BrokerUnavailable, match="not JSON"):
        await make(recorded).list_orders(SINCE)


async def test_429_blocks_further_calls_without_hitting_the_gateway():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 429, {"error": "Too many requests"})
    broker = make(recorded)
    with pytest.raises(RateLimited) as first:
        await broker.list_orders(SINCE)
    assert first.value.retry_after == 60.0
    count = len(recorded.requests)
    with pytest.raises(RateLimited):
        await broker.list_orders(SINCE)
    assert len(recorded.requests) == count


async def test_orders_calls_are_paced():
    recorded = Recorded()
    recorded.on("GET", "/iserver/account/orders", 200, {"orders": [], "snapshot": True})
    recorded.on("GET", "/iserver/account/trades", 200, [])
    sleeps = Sleeps()
    await make(recorded, sleeps, orders_min_interval_s=5.0).list_orders(SINCE)
    assert len(sleeps.calls) == 1 and 4.5 < sleeps.calls[0] <= 5.0


async def test_old_order_id_503_not_found_is_none():
    recorded = Recorded()
    recorded.on(
        "GET",
        "/iserver/account/order/status/553617933",
        503,
        load("cp_order_status_not_found_http503.json"),
    )
    assert await make(recorded).get_order("553617933") is None
    assert len([p for p in recorded.paths() if "order/status" in p]) == 1  # not retried


async def test_get_order_adds_its_executions():
    recorded = Recorded()
    body = load("cp_order_status_filled_docs.json")
    recorded.on("GET", "/iserver/account/order/status/1799796559", 200, body)
    [trade] = load("cp_trades_one_fill_docs.json")
    recorded.on("GET", "/iserver/account/trades", 200, [{**trade, "order_id": 1799796559}])
    report = await make(recorded).get_order("1799796559")
    assert report is not None and report.status is OrderStatus.FILLED
    assert [e.quantity for e in report.executions] == [Decimal(5)]


async def test_place_confirms_questions_and_returns_the_order_id():
    recorded = Recorded()
    recorded.on(
        "POST", "/iserver/account/U1234567/orders", 200, load("cp_place_reply_required_o354.json")
    )
    reply = "/iserver/reply/99097238-9824-4830-84ef-46979aa22593"
    recorded.on("POST", reply, 200, load("cp_reply_confirmed_ok.json"))
    result = await make(recorded).place(stock_request())
    assert result.broker_order_id == "1370093239"
    assert result.report is not None and result.report.status is OrderStatus.PLACED
    assert result.report.client_order_id == "ot-1-ENTRY-20260105T150000000Z"
    [place, answer] = [
        r for r in recorded.requests if r.method == "POST" and "tickle" not in str(r.url)
    ]
    ticket = json.loads(place.content)["orders"][0]
    assert ticket == {
        "conid": 265598,
        "orderType": "LMT",
        "side": "BUY",
        "quantity": 5,
        "tif": "DAY",
        "cOID": "ot-1-ENTRY-20260105T150000000Z",
        "price": 192.5,
    }
    assert json.loads(answer.content) == {"confirmed": True}


async def test_question_outside_policy_is_declined_and_refused():
    recorded = Recorded()
    recorded.on(
        "POST", "/iserver/account/U1234567/orders", 200, load("cp_place_reply_required_o354.json")
    )
    reply = "/iserver/reply/99097238-9824-4830-84ef-46979aa22593"
    recorded.on("POST", reply, 200, load("cp_place_error_not_confirmed.json"))
    broker = make(recorded, confirm_message_ids=frozenset({"o163"}))
    with pytest.raises(BrokerRejected, match="o354"):
        await broker.place(stock_request())
    assert json.loads(recorded.requests[-1].content) == {"confirmed": False}


@pytest.mark.parametrize(
    "name", ["cp_place_error_not_confirmed.json", "cp_reply_id_not_found.json"]
)
async def test_error_answers_are_rejections(name):
    recorded = Recorded()
    recorded.on("POST", "/iserver/account/U1234567/orders", 200, load(name))
    with pytest.raises(BrokerRejected, match="IBKR refused"):
        await make(recorded).place(stock_request())


async def test_late_reply_503_is_unavailable_not_rejected():
    recorded = Recorded()
    recorded.on(
        "POST", "/iserver/account/U1234567/orders", 200, load("cp_place_reply_required_o354.json")
    )
    reply = "/iserver/reply/99097238-9824-4830-84ef-46979aa22593"
    recorded.on("POST", reply, 503, {"error": "Service Unavailable"})
    with pytest.raises(BrokerUnavailable):
        await make(recorded).place(stock_request())
    assert len([p for p in recorded.paths() if p.startswith("/iserver/reply")]) == 1


async def test_advanced_prompt_is_answered_with_the_configured_option():
    recorded = Recorded()
    prompt = load("cp_place_advanced_reject_prompt.json")
    recorded.on("POST", "/iserver/account/U1234567/orders", 200, prompt)
    recorded.on("POST", "/iserver/notification", 200, "Success")
    result = await make(recorded).place(stock_request())
    assert result.broker_order_id == "123456789"
    body = json.loads(recorded.requests[-1].content)
    assert body == {"orderId": 123456789, "reqId": "22170", "text": "Use on this order"}


async def test_advanced_prompt_outside_policy_is_refused():
    recorded = Recorded()
    prompt = load("cp_place_advanced_reject_prompt.json")
    recorded.on("POST", "/iserver/account/U1234567/orders", 200, prompt)
    with pytest.raises(BrokerRejected, match="prompt"):
        await make(recorded, confirm_message_ids=frozenset({"o354"})).place(stock_request())


async def test_place_timeout_is_unavailable_and_not_retried():
    recorded = Recorded()
    recorded.on("POST", "/iserver/account/U1234567/orders", httpx.ReadTimeout("slow"))
    with pytest.raises(BrokerUnavailable, match="unknown"):
        await make(recorded).place(stock_request())
    assert len([p for p in recorded.paths() if p.endswith("/orders")]) == 1


async def test_malformed_ticket_400_is_rejected():
    recorded = Recorded()
    recorded.on("POST", "/iserver/account/U1234567/orders", 400, {"error": "Bad Request"})
    with pytest.raises(BrokerRejected, match="400"):
        await make(recorded).place(stock_request())


@pytest.mark.parametrize("name", ["cp_cancel_ok_docs.json", "cp_cancel_ok_immediate.json"])
async def test_cancel_acknowledgements_are_accepted(name):
    recorded = Recorded()
    recorded.on("DELETE", "/iserver/account/U1234567/order/123456789", 200, load(name))
    await make(recorded).cancel("123456789")


@pytest.mark.parametrize("status", [200, 400])
async def test_cancel_of_unknown_order_is_rejected(status):
    recorded = Recorded()
    body = load("cp_cancel_unknown_order.json")
    recorded.on("DELETE", "/iserver/account/U1234567/order/1", status, body)
    with pytest.raises(BrokerRejected, match="doesn't exist"):
        await make(recorded).cancel("1")


@pytest.mark.parametrize("order_id", ["-1", "", "12; DROP", " -1 "])
async def test_cancel_everything_id_is_refused_in_code(order_id):
    recorded = Recorded()
    with pytest.raises(BrokerRejected, match="-1"):
        await make(recorded).cancel(order_id)
    assert recorded.paths("DELETE") == []


async def test_option_without_description_gets_terms_from_secdef_once():
    recorded = Recorded()
    row = {
        "acct": "U1234567",
        "orderId": 42,
        "conid": 568248351,
        "ticker": "VT",
        "secType": "OPT",
        "status": "Submitted",
        "totalSize": 1.0,
        "filledQuantity": 0.0,
    }
    recorded.on("GET", "/iserver/account/orders", 200, {"orders": [row], "snapshot": True})
    recorded.on("GET", "/iserver/account/trades", 200, [])
    recorded.on("GET", "/iserver/secdef/info", 200, load("cp_secdef_info_option_call_put.json"))
    broker = make(recorded)
    for _ in range(2):
        [report] = await broker.list_orders(SINCE)
        assert report.instrument == option_instrument(
            "VT", Decimal(88), "C", date(2023, 2, 17), "568248351"
        )
    assert len([p for p in recorded.paths() if "secdef/info" in p]) == 1


async def test_option_without_conid_is_resolved_before_placing():
    recorded = Recorded()
    recorded.on(
        "GET",
        "/iserver/secdef/search",
        200,
        [{"conid": "756733", "symbol": "VT", "sections": [{"secType": "STK"}]}],
    )
    recorded.on("GET", "/iserver/secdef/info", 200, load("cp_secdef_info_option_call_put.json"))
    recorded.on(
        "POST", "/iserver/account/U1234567/orders", 200, load("cp_place_ok_presubmitted.json")
    )
    put = option_instrument("VT", Decimal(88), "P", date(2023, 2, 17))
    result = await make(recorded).place(stock_request(instrument=put, side="buy_to_open"))
    ticket = json.loads(recorded.requests[-1].content)["orders"][0]
    assert ticket["conid"] == 568249644
    assert result.report is not None and result.report.instrument is not None
    assert result.report.instrument.contract_id == "568249644"
    info = next(r for r in recorded.requests if "secdef/info" in str(r.url))
    assert info.url.params["month"] == "FEB23" and info.url.params["right"] == "P"


@pytest.mark.parametrize(
    "fields",
    [
        {"side": "exercise"},
        {"order_type": "trailing"},
        {"order_type": "limit", "limit_price": None},
        {"order_type": "stop"},
    ],
)
async def test_requests_ibkr_cannot_take_are_refused_before_sending(fields):
    recorded = Recorded()
    with pytest.raises(BrokerRejected):
        await make(recorded).place(stock_request(**fields))
    assert not any("orders" in p for p in recorded.paths("POST"))


async def test_trades_without_order_id_attach_by_order_ref():
    recorded = Recorded()
    row = {**load("cp_orders_rows_four_presubmitted_limits.json")[0], "acct": "U1234567"}
    row.pop("account")
    [trade] = load("cp_trades_one_fill_docs.json")
    trade = {k: v for k, v in trade.items() if k != "order_id"} | {"order_ref": row["order_ref"]}
    stranger = {**trade, "execution_id": "0000e0d5.6576fd38.09.01", "order_ref": None}
    recorded.on("GET", "/iserver/account/orders", 200, {"orders": [row], "snapshot": True})
    recorded.on("GET", "/iserver/account/trades", 200, [trade, stranger])
    [report] = await make(recorded).list_orders(SINCE)  # the stranger names no order
    assert report.broker_order_id == "1210386759"
    assert [e.execution_id for e in report.executions] == ["0000e0d5.6576fd38.01.01"]

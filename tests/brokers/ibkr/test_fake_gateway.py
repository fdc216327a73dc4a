"""The fake gateway itself, spoken to raw: is it as odd as BROKERS.md §2.8 says IBKR is?"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.fakes.ibkr import FakeIbkrGateway
from tests.support.eventually import eventually, eventually_sync

ACCOUNT = "DU1234567"


@pytest.fixture
async def http(gateway: FakeIbkrGateway):
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        yield client


def ticket(**fields) -> dict:
    return {
        "conid": 265598,
        "orderType": "LMT",
        "side": "BUY",
        "quantity": 5,
        "tif": "DAY",
        "price": 190.5,
        **fields,
    }


@asynccontextmanager
async def socket(gateway: FakeIbkrGateway, *, cookie: bool = True):
    token = gateway.book.session_token
    headers = {"Cookie": f'api={{"session":"{token}"}}'} if cookie else None
    async with connect(gateway.ws_url, additional_headers=headers) as ws:
        yield ws


async def frames_until(ws, predicate, limit: float = 5.0) -> list[dict]:
    """Read frames until one satisfies `predicate` (the deadline stands in for a hang)."""
    seen: list[dict] = []
    async with asyncio.timeout(limit):
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame)
            if predicate(frame):
                return seen


async def test_force_answers_empty_then_plain_has_data_and_camel_filters_fail(gateway, http):
    gateway.create_order(symbol="AAPL", quantity=1, price="190")
    forced = (await http.get("/iserver/account/orders", params={"force": "true"})).json()
    plain = (await http.get("/iserver/account/orders")).json()
    assert forced == {"orders": [], "snapshot": False}
    assert len(plain["orders"]) == 1
    camel = await http.get("/iserver/account/orders", params={"filters": "Submitted"})
    lower = await http.get("/iserver/account/orders", params={"filters": "submitted,filled"})
    assert camel.status_code == 500 and lower.status_code == 200
    assert len(lower.json()["orders"]) == 1 and gateway.book.sor_muted


async def test_wire_types_match_the_gateway(gateway, http):
    gateway.create_order(symbol="AAPL", quantity=3, order_type="MKT")
    [row] = (await http.get("/iserver/account/orders")).json()["orders"]
    assert isinstance(row["orderId"], int) and isinstance(row["conid"], int)
    assert row["conidex"] == "265598" and row["price"] == "" and "avgPrice" not in row
    assert row["totalSize"] == 3.0 and row["filledQuantity"] == 0.0 and "order_ref" not in row
    status = (await http.get(f"/iserver/account/order/status/{row['orderId']}")).json()
    assert status["order_id"] == row["orderId"] and status["cum_fill"] == "0.0"
    assert status["side"] == "B" and status["order_ccp_status"] == "0"


async def test_optional_empty_first_call(gateway, http):
    gateway.set(empty_first_orders_call=True)
    gateway.create_order(symbol="AAPL", quantity=1, price="190")
    assert (await http.get("/iserver/account/orders")).json()["orders"] == []
    assert len((await http.get("/iserver/account/orders")).json()["orders"]) == 1


async def test_old_session_ids_get_503(gateway, http):
    order_id = gateway.create_order(symbol="AAPL", quantity=1, price="190")
    gateway.new_session()
    answer = await http.get(f"/iserver/account/order/status/{order_id}")
    assert answer.status_code == 503
    assert answer.json() == {"error": f"Order {order_id} is not found", "statusCode": 503}


async def test_trades_carry_execution_ids_and_order_refs(gateway, http):
    answer = await http.post(
        f"/iserver/account/{ACCOUNT}/orders", json={"orders": [ticket(cOID="ot-5")]}
    )
    [placed] = answer.json()
    assert placed["local_order_id"] == "ot-5" and isinstance(placed["order_id"], str)
    [execution_id] = gateway.fill(int(placed["order_id"]), 5, "190.25")
    [trade] = (await http.get("/iserver/account/trades", params={"days": 1})).json()
    assert trade["execution_id"] == execution_id and trade["order_ref"] == "ot-5"
    assert trade["price"] == "190.25" and trade["size"] == 5.0 and trade["side"] == "B"
    [row] = (await http.get("/iserver/account/orders")).json()["orders"]
    assert row["order_ref"] == "ot-5" and row["status"] == "Filled" and row["avgPrice"] == "190.25"


async def test_question_chain_late_reply_and_unknown_reply(gateway, http):
    gateway.ask_on_next_place("o354", "o163")
    [question] = (
        await http.post(f"/iserver/account/{ACCOUNT}/orders", json={"orders": [ticket()]})
    ).json()
    assert question["messageIds"] == ["o354"] and not question["isSuppressed"]
    [second] = (
        await http.post(f"/iserver/reply/{question['id']}", json={"confirmed": True})
    ).json()
    assert second["messageIds"] == ["o163"]
    await http.get("/iserver/account/orders")  # another request drops the pending order
    late = await http.post(f"/iserver/reply/{second['id']}", json={"confirmed": True})
    assert late.status_code == 503
    unknown = await http.post("/iserver/reply/nope", json={"confirmed": True})
    assert unknown.json() == {"error": "reply id not found: 'nope'"}
    assert gateway.book.orders == {}


async def test_refusals_prompts_brackets_and_bad_tickets(gateway, http):
    path = f"/iserver/account/{ACCOUNT}/orders"
    gateway.reject_next_place("No trading permissions")
    refused = await http.post(path, json={"orders": [ticket()]})
    assert refused.status_code == 200 and refused.json() == {"error": "No trading permissions"}
    gateway.prompt_next_place()
    prompt = (await http.post(path, json={"orders": [ticket()]})).json()
    assert prompt["prompt"] is True and prompt["messageId"] == "p12"
    gateway.fail_next_bracket_child("Stop price is above the market")
    bracket = (await http.post(path, json={"orders": [ticket(cOID="p"), ticket()]})).json()
    assert bracket[0] == {
        "order_id": "-1",
        "order_status": "Failed",
        "text": "Stop price is above the market",
    }
    assert bracket[1]["order_status"] == "Inactive"
    bad = await http.post(path, json={"orders": [{"conid": 265598}]})
    assert bad.status_code == 400 and "missing" in bad.json()["error"]


async def test_cancel_forms_unknown_ids_and_minus_one(gateway, http):
    first = gateway.create_order(symbol="AAPL", quantity=1, price="190")
    second = gateway.create_order(symbol="AAPL", quantity=1, price="191")
    ack = (await http.delete(f"/iserver/account/{ACCOUNT}/order/{first}")).json()
    assert ack == {
        "msg": "Request was submitted",
        "order_id": first,
        "conid": 265598,
        "account": ACCOUNT,
    }
    await eventually(lambda: gateway.order(first).status == "Cancelled")
    gateway.set(cancel_mode="immediate", unknown_cancel_status=400)
    unknown = await http.delete(f"/iserver/account/{ACCOUNT}/order/1")
    assert unknown.status_code == 400 and unknown.json() == {"error": "OrderID 1 doesn't exist"}
    everything = await http.delete(f"/iserver/account/{ACCOUNT}/order/-1")
    assert everything.status_code == 200 and gateway.order(second).status == "Cancelled"


async def test_websocket_greets_beats_answers_tic_and_pushes_sparse_deltas(gateway):
    gateway.create_order(symbol="AAPL", quantity=10, price="190")
    async with socket(gateway) as ws:
        greeting = await frames_until(ws, lambda f: f.get("topic") == "sts")
        assert greeting[0]["topic"] == "system" and greeting[0]["success"]
        await frames_until(ws, lambda f: "hb" in f)
        await ws.send("tic")
        await frames_until(ws, lambda f: f.get("topic") == "tic" and f["alive"] is True)
        await ws.send("sor+{}")
        [snapshot] = [f for f in await frames_until(ws, lambda f: f.get("topic") == "sor")]
        order_id = snapshot["args"][0]["orderId"]
        gateway.fill_many(order_id, [(3, "190"), (7, "190.1")])
        frames = await frames_until(ws, lambda f: f.get("topic") == "sor")
        deltas = frames[-1]["args"]
        assert [d["filledQuantity"] for d in deltas] == [3.0, 10.0]
        assert "ticker" not in deltas[0] and deltas[1]["status"] == "Filled"


async def test_websocket_frame_auth_and_waiting_for_session(gateway):
    async with socket(gateway, cookie=False) as ws:
        assert json.loads(await ws.recv()) == {"message": "waiting for session"}
        await ws.send(json.dumps({"session": gateway.book.session_token}))
        await frames_until(ws, lambda f: f.get("topic") == "sts")


async def test_str_history_replays_on_every_subscribe_but_sor_rows_only_once(gateway):
    order_id = gateway.create_order(symbol="AAPL", quantity=2, price="190")
    gateway.fill(order_id, 1, "190")
    for attempt in range(2):
        async with socket(gateway) as ws:
            await frames_until(ws, lambda f: f.get("topic") == "sts")
            await ws.send("str+{}")
            [*_, history] = await frames_until(ws, lambda f: f.get("topic") == "str")
            assert len(history["args"]) == 1 and isinstance(history["args"][0]["conid"], str)
            await ws.send("sor+{}")
            await ws.send("tic")
            frames = await frames_until(ws, lambda f: f.get("topic") == "tic")
            assert any(f.get("topic") == "sor" for f in frames) is (attempt == 0)


async def test_knobs_silence_drop_and_duplicate_frames(gateway):
    async with socket(gateway) as ws:
        await frames_until(ws, lambda f: f.get("topic") == "sts")
        await ws.send("sor+{}")
        await ws.send("tic")  # frames are handled in order: once tic answers, sor is on
        await frames_until(ws, lambda f: f.get("topic") == "tic")
        gateway.set(sor_silent=True)
        gateway.create_order(symbol="AAPL", quantity=1, price="190")
        gateway.set(sor_silent=False, drop_frames=1)
        gateway.create_order(symbol="AAPL", quantity=2, price="190")
        gateway.set(duplicate_frames=True)
        third = gateway.create_order(symbol="AAPL", quantity=3, price="190")
        frames = await frames_until(ws, lambda f: f.get("topic") == "sor")
        frames += await frames_until(ws, lambda f: f.get("topic") == "sor")
        sor = [f for f in frames if f.get("topic") == "sor"]
        assert [f["args"][0]["orderId"] for f in sor] == [third, third]


async def test_503_bursts_and_429_pacing(gateway, http):
    gateway.fail_next(2, 503, "/iserver/account/orders")
    statuses = [(await http.get("/iserver/account/orders")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    gateway.set(orders_min_interval_s=60)
    assert (await http.get("/iserver/account/orders")).status_code == 429


async def test_control_over_http(gateway, http):
    root = gateway.base_url.removesuffix("/v1/api")
    async with httpx.AsyncClient(base_url=root) as control:
        made = await control.post(
            "/_fake/orders",
            json={
                "symbol": "TSLA",
                "expiry": "2026-06-19",
                "strike": "250",
                "right": "C",
                "quantity": 10,
                "price": "3.10",
                "conid": 812345678,
            },
        )
        order_id = made.json()["order_id"]
        await control.post(f"/_fake/orders/{order_id}/fill", json={"quantity": 3, "price": 3.05})
        await control.post("/_fake/knobs", json={"cancel_delay_s": None})
        await control.post(f"/_fake/orders/{order_id}/cancel")
        assert (await control.post("/_fake/knobs", json={"nope": 1})).status_code == 400
        state = (await control.get("/_fake/state")).json()
    order = gateway.order(order_id)
    assert order.contract.description2 == "JUN 19 '26 250 Call"
    assert order.filled == Decimal(3) and order.status == "PendingCancel"
    assert state["orders"] == 1 and state["executions"] == 1


def test_thread_start_serves_non_async_callers():
    gateway = FakeIbkrGateway().start_in_thread()
    try:
        gateway.create_order(symbol="AAPL", quantity=1, price="190")
        rows = eventually_sync(
            lambda: httpx.get(f"{gateway.base_url}/iserver/account/orders").json()["orders"]
        )
        assert len(rows) == 1
    finally:
        gateway.stop_thread()


def test_runs_as_a_module():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ibkr", "--port", "0", "--hb", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split(" at ")[1].split(" ")[0]
        assert httpx.post(f"{base_url}/tickle").json()["iserver"]["authStatus"]["authenticated"]
    finally:
        process.terminate()
        process.wait(10)

"""Hypothesis strategies for broker payloads: any JSON, biased towards the fields parsers read."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Numbers stay inside what a broker could plausibly send. Out-of-range epochs, years and
# exponents hit known parser defects; tests/fuzz/test_parser_defects.py pins each of them.
BOUND = 2**40
# Examples per property; `ORDERTRAIL_FUZZ_EXAMPLES=5000 pytest tests/fuzz` for a long hunt.
EXAMPLES = int(os.environ.get("ORDERTRAIL_FUZZ_EXAMPLES", "150"))

TRADIER_KEYS = (
    "id",
    "status",
    "type",
    "class",
    "symbol",
    "side",
    "quantity",
    "exec_quantity",
    "executed_quantity",
    "avg_fill_price",
    "last_fill_price",
    "last_fill_quantity",
    "remaining_quantity",
    "price",
    "stop_price",
    "option_symbol",
    "create_date",
    "transaction_date",
    "tag",
    "reason_description",
    "num_legs",
    "strategy",
    "leg",
    "event",
    "account",
    "parent_id",
    "duration",
)
TRADIER_WORDS = (
    "pending",
    "open",
    "partially_filled",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "error",
    "pending_cancel",
    "submitted",
    "calculated",
    "ok",
    "order",
    "heartbeat",
    "multileg",
    "combo",
    "oco",
    "equity",
    "option",
    "even",
    "null",
    "SPY180720C00274000",
    "2018-06-01T12:02:29.682Z",
    "2024-01-02T15:04:05.123456789Z",
    "2019-05-13T15:17:51",
    "VA00000001",
)
IBKR_KEYS = (
    "orderId",
    "order_id",
    "acct",
    "account",
    "accountCode",
    "conid",
    "conidex",
    "conidEx",
    "ticker",
    "symbol",
    "description1",
    "description2",
    "contract_description_1",
    "contract_description_2",
    "secType",
    "sec_type",
    "side",
    "status",
    "order_status",
    "order_ccp_status",
    "totalSize",
    "total_size",
    "filledQuantity",
    "filled_quantity",
    "cum_fill",
    "remainingQuantity",
    "size",
    "avgPrice",
    "average_price",
    "avg_fill_price",
    "price",
    "limit_price",
    "orderType",
    "origOrderType",
    "order_type",
    "order_ref",
    "lastExecutionTime",
    "lastExecutionTime_r",
    "order_time",
    "order_cancellation_by_system_reason",
    "text",
    "execution_id",
    "trade_time",
    "trade_time_r",
    "topic",
    "args",
    "orders",
    "snapshot",
    "error",
    "id",
    "message",
    "messageIds",
    "messageId",
    "options",
    "prompt",
    "reqId",
    "local_order_id",
)
IBKR_WORDS = (
    "Inactive",
    "PendingSubmit",
    "PreSubmitted",
    "Submitted",
    "PendingCancel",
    "Filled",
    "Cancelled",
    "Failed",
    "WarnState",
    "STK",
    "OPT",
    "BAG",
    "BUY",
    "SELL",
    "B",
    "S",
    "BOT",
    "EXER",
    "LMT",
    "Limit",
    "MARKETONCLOSE",
    "sor",
    "str",
    "system",
    "sts",
    "ntf",
    "JUN 28 '24 192.5 Call",
    "FEB 17 '23 88 Put",
    "240105150000",
    "20240105-15:00:00",
    "DU1234567",
    "0000e0d5.6576fd38.01.01",
    "",
    "-1",
)


def scalars(words: Sequence[str]) -> st.SearchStrategy[Any]:
    """Leaf values: nulls, booleans, bounded numbers, numeric and broker words, any text."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-BOUND, BOUND),
        st.floats(-1e12, 1e12),
        st.sampled_from([float("nan"), float("inf"), float("-inf")]),
        st.decimals(min_value=-BOUND, max_value=BOUND, places=8).map(str),
        st.sampled_from(words),
        st.text(max_size=30),
    )


def json_values(
    keys: Sequence[str], words: Sequence[str], leaves: int = 20
) -> st.SearchStrategy[Any]:
    """Any JSON value, with objects keyed mostly by the names a parser looks for."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8))
    return st.recursive(
        scalars(words),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key, children, max_size=8),
        ),
        max_leaves=leaves,
    )


def objects(keys: Sequence[str], words: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object keyed by the parser's field names (the usual shape of one order)."""
    value = st.one_of(scalars(words), json_values(keys, words, leaves=6))
    return st.dictionaries(st.sampled_from(keys), value, max_size=12)


def as_wire(value: Any) -> Any:
    """Round-trip a value through JSON text the way the adapters decode it (exact decimals)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


tradier_json = json_values(TRADIER_KEYS, TRADIER_WORDS).map(as_wire)
tradier_order = objects(TRADIER_KEYS, TRADIER_WORDS).map(as_wire)
ibkr_json = json_values(IBKR_KEYS, IBKR_WORDS).map(as_wire)
ibkr_row = objects(IBKR_KEYS, IBKR_WORDS).map(as_wire)

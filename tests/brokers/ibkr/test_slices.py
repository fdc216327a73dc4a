"""A long JSON answer decoded in slices: what `json.loads` gives, the loop served meanwhile."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.brokers.ibkr.slices import CHECK_EVERY, loads, loads_in_slices

SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _decoded(text: str) -> Any:
    try:
        return asyncio.run(loads_in_slices(text, slice_s=0.0))
    except ValueError as error:
        return type(error)


def _expected(text: str) -> Any:
    try:
        return loads(text)
    except ValueError as error:
        return type(error)


@given(st.lists(VALUES, max_size=80), st.sampled_from([None, 1, "\t"]))
def test_a_list_decodes_as_json_loads_does(values: list[Any], indent: Any) -> None:
    text = json.dumps(values, default=str, indent=indent)
    assert repr(_decoded(text)) == repr(_expected(text))


@given(st.lists(VALUES, max_size=80), st.sampled_from([None, 1, "\t"]))
def test_an_object_with_a_list_member_decodes_as_json_loads_does(
    values: list[Any], indent: Any
) -> None:
    text = json.dumps({"orders": values, "snapshot": True, "n": [1]}, default=str, indent=indent)
    assert repr(_decoded(text)) == repr(_expected(text))


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        ' { "a" : [ 1 ] , "b" : {"c": [2]} } ',
        '{"a": 1, "a": 2}',
        '{"a": [1]',
        '{"a" [1]}',
        '{"a": [1],}',
        "{1: [1]}",
        '{"a": [1]} x',
        "[]",
        " [ ] ",
        '  [ 1 , {"a": 1.5} ]  ',
        '{"orders": [1, 2]}',
        "[1,2",
        "[1,,2]",
        "[1 2]",
        "[1] x",
        "[1,]",
        "[",
        "",
        "\n",
        '["a", "b\\"]", 3]',
    ],
)
def test_edge_cases_and_malformed_text_behave_as_json_loads(text: str) -> None:
    assert repr(_decoded(text)) == repr(_expected(text))


def test_numbers_with_a_point_are_decimals() -> None:
    assert asyncio.run(loads_in_slices('[{"price": 1.25, "size": 3}]')) == [
        {"price": Decimal("1.25"), "size": 3}
    ]


async def test_the_loop_runs_between_slices_of_a_list_in_an_object() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    rows = [{"orderId": n, "price": "1.25"} for n in range(CHECK_EVERY * 20)]
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    decoded = await loads_in_slices(json.dumps({"orders": rows, "snapshot": True}), slice_s=0.0)
    task.cancel()
    assert decoded == {"orders": rows, "snapshot": True}
    assert ticks - before >= 19


async def test_the_loop_runs_between_slices() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    rows = [{"execution_id": f"e{n}", "price": "1.25"} for n in range(CHECK_EVERY * 20)]
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    decoded = await loads_in_slices(json.dumps(rows), slice_s=0.0)
    task.cancel()
    assert decoded == rows
    assert ticks - before >= 19  # handed back once every CHECK_EVERY rows

"""Decoding a long JSON answer a slice at a time, so the event loop serves others in between."""

from __future__ import annotations

import asyncio
import json
import re
import time
from decimal import Decimal
from typing import Any

SLICE_S = 0.002  # decode for at most about this long before letting the loop run
_DECODER = json.JSONDecoder(parse_float=Decimal)
_SPACE = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
CHECK_EVERY = 32  # items decoded between looks at the clock


def loads(text: str) -> Any:
    """Decode at once, numbers with a point as Decimal."""
    return json.loads(text, parse_float=Decimal)


async def loads_in_slices(text: str, slice_s: float = SLICE_S) -> Any:
    """Decode as `loads` does; a top-level list (a day's trades: megabytes) is decoded item by
    item, handing the loop back every `slice_s` seconds. Malformed text raises ValueError."""
    position = _skip(text, 0)
    if not text.startswith("[", position):
        return loads(text)
    try:
        return await _list(text, position + 1, slice_s)
    except ValueError:
        return loads(text)  # raises json's own error, with its position and reason


async def _list(text: str, position: int, slice_s: float) -> list[Any]:
    items: list[Any] = []
    position = _skip(text, position)
    if text.startswith("]", position):
        return _end(text, position, items)
    decode, separator, clock = _DECODER.raw_decode, _SEPARATOR.match, time.perf_counter
    deadline = clock() + slice_s
    while True:
        for _ in range(CHECK_EVERY):
            item, position = decode(text, position)
            items.append(item)
            found = separator(text, position)
            if found is None:
                return _end(text, _skip(text, position), items)
            position = found.end()
        if clock() >= deadline:
            await asyncio.sleep(0)
            deadline = clock() + slice_s


def _end(text: str, position: int, items: list[Any]) -> list[Any]:
    if not text.startswith("]", position) or _skip(text, position + 1) != len(text):
        raise ValueError("extra data after the list")
    return items


def _skip(text: str, position: int) -> int:
    """The first position at or after `position` that is not white space."""
    match = _SPACE.match(text, position)
    return match.end() if match is not None else position

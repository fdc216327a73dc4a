"""Long work a slice at a time, so the event loop serves others in between: decoding a long
JSON answer, and going through its rows (`Pacer`)."""

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


class Pacer:
    """Hand the event loop back whenever `slice_s` seconds of work went by since it last ran."""

    def __init__(self, slice_s: float = SLICE_S) -> None:
        self.slice_s = slice_s
        self._deadline = time.perf_counter() + slice_s

    async def pause(self) -> None:
        """Let the loop run if this slice of work is used up (cheap to call per item)."""
        if time.perf_counter() >= self._deadline:
            await asyncio.sleep(0)
            self._deadline = time.perf_counter() + self.slice_s


def loads(text: str) -> Any:
    """Decode at once, numbers with a point as Decimal."""
    return json.loads(text, parse_float=Decimal)


async def loads_in_slices(text: str, slice_s: float = SLICE_S) -> Any:
    """Decode as `loads` does; a top-level list (a day's trades: megabytes), or a list that is
    a member of a top-level object (the live orders' `{"orders": [...]}`), is decoded item by
    item, handing the loop back every `slice_s` seconds. Malformed text raises ValueError."""
    position = _skip(text, 0)
    items: list[Any] | dict[str, Any]
    try:
        if text.startswith("[", position):
            items, position = await _list(text, position + 1, slice_s)
        elif text.startswith("{", position):
            items, position = await _object(text, position + 1, slice_s)
        else:
            return loads(text)
        if _skip(text, position) != len(text):
            raise ValueError("extra data after the value")
        return items
    except ValueError:
        return loads(text)  # raises json's own error, with its position and reason


async def _object(text: str, position: int, slice_s: float) -> tuple[dict[str, Any], int]:
    """Decode an object's members from just after its `{`: lists in slices, the rest at once;
    return it and the position after its `}`."""
    members: dict[str, Any] = {}
    position = _skip(text, position)
    if text.startswith("}", position):
        return members, position + 1
    decode = _DECODER.raw_decode
    while True:
        key, position = decode(text, position)
        if not isinstance(key, str):
            raise ValueError("object key is not a string")
        position = _skip(text, position)
        if not text.startswith(":", position):
            raise ValueError("expected ':' after an object key")
        position = _skip(text, position + 1)
        if text.startswith("[", position):
            members[key], position = await _list(text, position + 1, slice_s)
        else:
            members[key], position = decode(text, position)
        position = _skip(text, position)
        if text.startswith("}", position):
            return members, position + 1
        if not text.startswith(",", position):
            raise ValueError("expected ',' or '}' in an object")
        position = _skip(text, position + 1)


async def _list(text: str, position: int, slice_s: float) -> tuple[list[Any], int]:
    """Decode a list's items from just after its `[`; return it and the position after its
    `]`."""
    items: list[Any] = []
    position = _skip(text, position)
    if text.startswith("]", position):
        return items, position + 1
    decode, separator, clock = _DECODER.raw_decode, _SEPARATOR.match, time.perf_counter
    deadline = clock() + slice_s
    while True:
        for _ in range(CHECK_EVERY):
            item, position = decode(text, position)
            items.append(item)
            found = separator(text, position)
            if found is None:
                position = _skip(text, position)
                if not text.startswith("]", position):
                    raise ValueError("expected ',' or ']' in a list")
                return items, position + 1
            position = found.end()
        if clock() >= deadline:
            await asyncio.sleep(0)
            deadline = clock() + slice_s


def _skip(text: str, position: int) -> int:
    """The first position at or after `position` that is not white space."""
    match = _SPACE.match(text, position)
    return match.end() if match is not None else position

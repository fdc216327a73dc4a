"""`eventually`: wait for a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition never held",
) -> T:
    """Call `probe` until it returns a truthy value (or stops raising AssertionError)."""
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            result = probe()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result  # type: ignore[misc]
            if result:
                return result  # type: ignore[return-value]
        except AssertionError as error:
            last_error = error
        if time.monotonic() > deadline:
            if last_error is not None:
                raise AssertionError(f"{message}: {last_error}") from last_error
            raise AssertionError(f"{message} within {timeout}s")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, message: str = ""
) -> T:
    """Blocking twin of `eventually` for code outside an event loop."""
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except AssertionError as error:
            last_error = error
        if time.monotonic() > deadline:
            raise AssertionError(
                message or f"condition never held within {timeout}s"
            ) from last_error
        time.sleep(interval)

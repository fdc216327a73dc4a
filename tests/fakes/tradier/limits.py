"""Per-token, per-minute request budgets with Tradier's `X-Ratelimit-*` headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMITS = {"standard": 120, "trading": 60}


@dataclass
class Window:
    start: float
    used: int = 0


class RateLimits:
    """One window per (token, bucket), opened by its first call and `window_s` long."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        window_s: float = 60.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(limits or DEFAULT_LIMITS)
        self.window_s = window_s
        self._now = now
        self._windows: dict[tuple[str, str], Window] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def configure(self, window_s: float | None = None, **limits: int) -> None:
        """Change budgets (and the window length); open windows start afresh."""
        with self._lock:
            self.limits |= limits
            if window_s is not None:
                self.window_s = window_s
            self._windows.clear()

    def take(self, token: str, bucket: str) -> tuple[bool, dict[str, str]]:
        """Spend one call if the window allows it; return whether it did and the headers."""
        with self._lock:
            now = self._now()
            window = self._windows.get((token, bucket))
            if window is None or now >= window.start + self.window_s:
                window = self._windows[(token, bucket)] = Window(start=now)
            allowed = self.limits.get(bucket, 120)
            ok = window.used < allowed
            if ok:
                window.used += 1
            else:
                self.refused += 1
            headers = {
                "X-Ratelimit-Allowed": str(allowed),
                "X-Ratelimit-Used": str(window.used),
                "X-Ratelimit-Available": str(max(allowed - window.used, 0)),
                "X-Ratelimit-Expiry": str(self.expiry_ms(window)),
            }
            return ok, headers

    def expiry_ms_now(self, token: str, bucket: str) -> int:
        """The end of the current window (or of one opening now)."""
        with self._lock:
            window = self._windows.get((token, bucket)) or Window(start=self._now())
            return self.expiry_ms(window)

    def expiry_ms(self, window: Window) -> int:
        return int((window.start + self.window_s) * 1000)

    def reset(self) -> None:
        with self._lock:
            self.limits = dict(DEFAULT_LIMITS)
            self.window_s = 60.0
            self._windows.clear()
            self.refused = 0

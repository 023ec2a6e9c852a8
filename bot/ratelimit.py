"""Per-user token bucket for requests that reach the LLM (script-tier answers are not limited)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class UserRateLimiter:
    """`per_minute` tokens per user, refilled continuously, bursting up to `burst` (default: per_minute)."""

    def __init__(self, per_minute: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 10_000):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.burst = float(burst or per_minute)
        self._clock = clock
        self._max_users = max_users
        self._buckets: dict[str, tuple[float, float]] = {}    # user → (tokens, updated at)
        self._lock = threading.Lock()

    def take(self, user: str | None) -> float:
        """0.0 when a token was taken; otherwise the seconds until the next one."""
        key = user or "?"
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - updated) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
            if len(self._buckets) > self._max_users:   # forget the fullest (idle) buckets
                for stale in [u for u, (t, _) in self._buckets.items() if t >= self.burst - 1e-9][:1000]:
                    del self._buckets[stale]
        return 0.0 if allowed else (1.0 - tokens) / self.rate

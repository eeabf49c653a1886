"""The one token bucket of the laptop code: the emulator's images-per-minute limit, and
API Gateway's throttle in front of the local API (placard_local.serve uses this class)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Refilling adds float fractions: a bucket that should hold exactly n tokens may hold a hair
# less, and that hair must not turn a request away.
_EPSILON = 1e-9


class TokenBucket:
    """Tokens refill continuously at ``per_minute / 60`` a second, up to ``burst``.

    ``per_minute`` None means no limit at all; 0 means the burst and then nothing, and a
    burst of 0 admits nothing, as API Gateway's throttle does. ``burst`` None means a
    second's worth, at least one. Safe to share between threads."""

    def __init__(
        self,
        per_minute: float | None,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0 if per_minute else 0.0
        if per_minute is None:
            self.capacity = 0
        else:
            self.capacity = burst if burst is not None else max(1, int(per_minute // 60))
        self._clock = clock
        self._tokens = float(self.capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or take nothing and return the seconds to wait.

        A request for more than the bucket holds waits for a full bucket and then leaves it
        in debt, so the long-run rate still holds."""
        if self.per_minute is None:
            return 0.0
        with self._lock:
            now = self._clock()
            refill = (now - self._stamp) * self.rate
            self._tokens = min(float(self.capacity), self._tokens + refill)
            self._stamp = now
            need = min(n, self.capacity)
            if self.capacity and self._tokens + _EPSILON >= need:
                self._tokens -= n
                return 0.0
            if not (self.rate and self.capacity):
                return math.inf  # it holds nothing, or never refills: no wait will do
            return (need - self._tokens) / self.rate

    def refund(self, n: int) -> None:
        """Give back n tokens taken for work that was not done (never above the burst)."""
        if self.per_minute is not None:
            with self._lock:
                self._tokens = min(float(self.capacity), self._tokens + n)

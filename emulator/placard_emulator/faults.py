"""The faults the emulator injects, and which request gets which."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from typing import Final

FAULT_KINDS: Final[tuple[str, ...]] = ("5xx", "hang", "malformed", "refusal", "disconnect")
"""Every fault the emulator can inject into a generation or edit request."""

REFUSE_MARKER: Final = "[[refuse]]"
"""A prompt containing this text is always refused by the safety system."""

_SERVER_ERROR_STATUSES: Final = (500, 502, 503)


def check_fault_kind(kind: object) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")


class Faults:
    """Draws the fault of each admitted request: a script first, then ``fault_rate``.

    Draws come from ``random.Random(seed)`` so a run can be repeated. Not thread-safe by
    itself: the emulator calls it under its lock."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - fault draws, not secrets
        self._script: deque[str | None] = deque()

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311

    def script(self, faults: Iterable[str | None]) -> None:
        """The next requests get these faults, in order (None = behave); replaces any
        script not yet played out."""
        self._script = deque(faults)

    def clear_script(self) -> None:
        self._script.clear()

    def draw(self, rate: float, kinds: tuple[str, ...]) -> str | None:
        if self._script:
            return self._script.popleft()
        if rate > 0 and self._rng.random() < rate:
            return self._rng.choice(kinds)
        return None

    def server_error_status(self) -> int:
        """Which 5xx a "5xx" fault answers with."""
        return self._rng.choice(_SERVER_ERROR_STATUSES)

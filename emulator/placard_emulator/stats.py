"""What the emulator has seen and done: counters, and a log of each generation request."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from placard_emulator.faults import FAULT_KINDS


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator has seen and done since it was made (or last :meth:`reset`)."""

    requests: int
    """Generation/edit requests received (not downloads, not admin)."""
    billed_images: int
    """Images delivered in successful generation/edit responses."""
    throttled: int
    """429 responses sent."""
    faults: dict[str, int]
    """Faults injected, by kind (every kind present, zero when never injected)."""
    downloads: int
    """prospolabs output downloads served (200 only)."""


def _no_faults() -> dict[str, int]:
    return dict.fromkeys(FAULT_KINDS, 0)


@dataclass
class Tally:
    """The running counts and the request log. Not thread-safe by itself: the emulator
    reads and writes it under its lock (a log entry too: requests_log() copies entries)."""

    requests: int = 0
    billed: int = 0
    throttled: int = 0
    downloads: int = 0
    faults: dict[str, int] = field(default_factory=_no_faults)
    log: list[dict[str, object]] = field(default_factory=list)

    def snapshot(self) -> EmulatorStats:
        return EmulatorStats(
            requests=self.requests,
            billed_images=self.billed,
            throttled=self.throttled,
            faults=dict(self.faults),
            downloads=self.downloads,
        )

    def log_copy(self) -> list[dict[str, object]]:
        return copy.deepcopy(self.log)

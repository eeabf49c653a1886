"""What the emulator has seen and done: counters, a log of each generation request, a record
of each image it made (see :class:`ImageRecord`) and of each answer it billed
(:class:`BillRecord`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from placard_emulator.billing import Usage
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
    billed_usd: Decimal
    """The sum of every bill (:class:`BillRecord`): what a ledger of the same calls must say.
    Over HTTP, a decimal string such as "0.041136"."""


@dataclass(frozen=True)
class ImageRecord:
    """One image the emulator made, as ``GET /_emulator/images`` lists them (oldest first):

        {"sha256": "9f2c...", "misspelt": true, "kind": "digit",
         "how": "digit '5' changed to '8': '$4.50' drawn as '$4.80' in line 2",
         "asked": ["Summer Sale", "Now $4.50"], "drawn": ["Summer Sale", "Now $4.80"]}

    ``asked`` is the copy the prompt quoted, in order; ``drawn`` the copy set on the image
    (a line left out is missing from it). ``kind`` is "letter", "digit", "line" or
    "currency" when misspelt, else None, and ``how`` says what changed in words."""

    sha256: str
    """Of the image's bytes exactly as answered (decoded from b64_json, or downloaded)."""
    misspelt: bool
    kind: str | None
    how: str | None
    asked: tuple[str, ...]
    drawn: tuple[str, ...]


@dataclass(frozen=True)
class BillRecord:
    """One answer the emulator billed, as ``GET /_emulator/bills`` lists them (oldest first):

        {"api": "openai", "id": "req_5c1e...", "images": 1, "quality": "high",
         "size": "1024x1024", "usage": {"input_tokens": 12, ..., "output_tokens": 7024, ...},
         "cost_usd": "0.210780"}

    Only successful answers bill; a refused, failed or faulted one bills nothing."""

    api: str
    """"openai" or "prospolabs"."""
    id: str
    """prospolabs' ``generation_id``; for OpenAI, the answer's ``x-request-id`` header."""
    images: int
    quality: str
    """As billed: "auto" is billed as the quality it stands for (medium)."""
    size: str
    usage: Usage | None
    """The usage the OpenAI answer reported; None for prospolabs (flat per image)."""
    cost_usd: Decimal
    """To the micro-dollar: OpenAI's usage at the token prices, prospolabs' flat price x n."""


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
    bills: list[BillRecord] = field(default_factory=list)
    billed_usd: Decimal = Decimal(0)

    def bill(self, record: BillRecord) -> None:
        self.bills.append(record)
        self.billed += record.images
        self.billed_usd += record.cost_usd

    def snapshot(self) -> EmulatorStats:
        return EmulatorStats(
            requests=self.requests,
            billed_images=self.billed,
            throttled=self.throttled,
            faults=dict(self.faults),
            downloads=self.downloads,
            billed_usd=self.billed_usd,
        )

    def log_copy(self) -> list[dict[str, object]]:
        return copy.deepcopy(self.log)

"""An image's attempts read together: which one is delivered, what they cost in all.

The ledger keeps one item per attempt (docs/design.md §7). Re-rolls stop at the first attempt
that passes, and a person's re-roll makes one more, so the image delivered is always the latest
attempt that was charged. Reports, the API and the proof function all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Verdict


@dataclass(frozen=True)
class ImageAttempts:
    job_id: str
    index: int
    items: tuple[LedgerItem, ...]  # every attempt, first to last

    @property
    def delivered(self) -> LedgerItem | None:
        charged = [i for i in self.items if i.status is Status.CHARGED and not i.lost]
        return charged[-1] if charged else None

    @property
    def latest(self) -> LedgerItem:
        return self.items[-1]

    @property
    def attempts(self) -> int:
        """Attempts made at the provider, failed ones included."""
        return len(self.items)

    @property
    def cost_usd(self) -> Decimal:
        """What the image cost: every attempt charged, not only the one delivered, and every
        call of unknown outcome the provider's bill has since settled (no image)."""
        return sum((i.cost_usd for i in self.items if i.status is Status.CHARGED), Decimal(0))

    @property
    def verdict(self) -> Verdict | None:
        """The delivered attempt's verdict; None before it was read back."""
        delivered = self.delivered
        return Verdict(delivered.proof) if delivered and delivered.proof else None


def by_image(items: Iterable[LedgerItem]) -> list[ImageAttempts]:
    """Attempts grouped per (job, image), in ledger order, each image's by attempt number."""
    groups: dict[tuple[str, int], list[LedgerItem]] = {}
    for item in items:
        groups.setdefault((item.job_id, item.image_index), []).append(item)
    return [
        # A lost call sorts before its attempt's own item: the latest is an image's.
        ImageAttempts(job_id, index, tuple(sorted(found, key=lambda i: (i.attempt, not i.lost))))
        for (job_id, index), found in groups.items()
    ]

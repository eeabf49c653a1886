"""What charged attempts cost beside what placard estimated they would, and the drift (#15).

Every report reads money from here: results.csv per row, the contact sheet per row and in total,
`GET /v1/campaigns/{c}/costs` per quality, provider and day. Only charged attempts count, as
in every cost a report gives; an estimate of 0 is an item made before estimates were kept
(LedgerItem.estimate_usd), so it is left out of the estimate and of the drift, never read as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from placard.domain.ledger_items import LedgerItem, Status


class CostBasis(StrEnum):
    """Where a cost comes from, the least certain first."""

    ESTIMATE = "estimate"  # the answer reported no usage: charged at placard's estimate
    BILL = "bill"  # the provider's bill: the usage its answer reported, at the token prices
    FLAT = "flat"  # a flat price per image (the reseller; draft is flat and free)


def basis(item: LedgerItem) -> CostBasis:
    if item.estimated:
        return CostBasis.ESTIMATE
    return CostBasis.BILL if item.token_prices else CostBasis.FLAT


@dataclass(frozen=True)
class Spend:
    images_charged: int = 0
    cost_usd: Decimal = Decimal(0)
    images_with_estimate: int = 0  # charged attempts that carry an estimate
    estimate_usd: Decimal = Decimal(0)  # their estimates
    compared_usd: Decimal = Decimal(0)  # their costs: what the estimate is compared with
    images_estimated: int = 0  # charged at an estimate (no usage reported)
    overshoot_usd: Decimal = Decimal(0)  # billed above the reservation
    bases: frozenset[CostBasis] = frozenset()

    @classmethod
    def of(cls, items: Iterable[LedgerItem]) -> Spend:
        total = cls()
        for item in items:
            if item.status is Status.CHARGED:
                total += cls._one(item)
        return total

    @classmethod
    def _one(cls, item: LedgerItem) -> Spend:
        known = item.estimate_usd > 0
        return cls(
            images_charged=int(not item.lost),  # a call settled from the bill: no image
            cost_usd=item.cost_usd,
            images_with_estimate=int(known),
            estimate_usd=item.estimate_usd if known else Decimal(0),
            compared_usd=item.cost_usd if known else Decimal(0),
            images_estimated=int(item.estimated),
            overshoot_usd=item.overshoot_usd,
            bases=frozenset({basis(item)}),
        )

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.images_charged + other.images_charged,
            self.cost_usd + other.cost_usd,
            self.images_with_estimate + other.images_with_estimate,
            self.estimate_usd + other.estimate_usd,
            self.compared_usd + other.compared_usd,
            self.images_estimated + other.images_estimated,
            self.overshoot_usd + other.overshoot_usd,
            self.bases | other.bases,
        )

    def counters(self) -> dict[str, Decimal]:
        """The sums as numbers to add to a counter (#17: a campaign's progress keeps them as
        each item is charged, so its spend is read without reading its items); `bases` is a
        set, not a sum, and is not kept."""
        return {name: Decimal(getattr(self, name)) for name in COUNTED}

    @classmethod
    def from_counters(cls, values: Mapping[str, Decimal | int]) -> Spend:
        """The Spend whose counters these are (a missing one is 0)."""

        def get(name: str) -> Decimal:
            return Decimal(values.get(name, 0))

        return cls(
            images_charged=int(get("images_charged")),
            cost_usd=get("cost_usd"),
            images_with_estimate=int(get("images_with_estimate")),
            estimate_usd=get("estimate_usd"),
            compared_usd=get("compared_usd"),
            images_estimated=int(get("images_estimated")),
            overshoot_usd=get("overshoot_usd"),
        )

    @property
    def estimate(self) -> Decimal | None:
        """The estimate, or None when no charged attempt carries one (not 0: unknown)."""
        return self.estimate_usd if self.images_with_estimate else None

    @property
    def drift_usd(self) -> Decimal:
        """Actual minus estimate, over the attempts that carry an estimate: above 0, the
        bills came in over the estimates."""
        return self.compared_usd - self.estimate_usd

    @property
    def drift_percent(self) -> Decimal | None:
        """The drift as a share of the estimate, to one decimal place; None without one."""
        if not self.estimate_usd:
            return None
        share = self.drift_usd / self.estimate_usd * 100
        return share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def basis(self) -> CostBasis | None:
        """The least certain basis among the charges (an estimate taints the whole cost);
        None when nothing was charged."""
        return min(self.bases, key=list(CostBasis).index, default=None)


# The fields a counter keeps: Spend.counters and Spend.from_counters.
COUNTED = ("images_charged", "cost_usd", "images_with_estimate", "estimate_usd", "compared_usd",
           "images_estimated", "overshoot_usd")  # fmt: skip

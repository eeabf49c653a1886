"""Prices from `prices.json` to Decimal costs. Money never passes through float (docs/design.md,
invariant 3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Quality, Size

CENT_FRACTION = Decimal("0.000001")


@dataclass(frozen=True)
class ProviderPrices:
    provider: str
    model: str
    flat: bool
    per_image: Mapping[Quality, Decimal]
    reference_pixels: int = 1024 * 1024
    tokens_per_million: Mapping[str, Decimal] | None = None
    sizes: tuple[Size, ...] | None = None  # a provider's own list of sizes, where it has one

    def check_size(self, size: Size) -> None:
        if self.sizes is not None and size not in self.sizes:
            offered = ", ".join(str(s) for s in self.sizes)
            raise InvalidInput("size", f"{self.provider} offers only {offered}", str(size))

    def unit_price(self, quality: Quality, size: Size) -> Decimal:
        price = self.per_image[quality]
        if not self.flat:
            price = price * Decimal(size.width * size.height) / Decimal(self.reference_pixels)
        return price.quantize(CENT_FRACTION)

    def cost_from_usage(self, usage: Mapping[str, int]) -> Decimal | None:
        """Cost from the tokens a provider reported, when token prices are configured."""
        if not self.tokens_per_million:
            return None
        total = sum(
            (
                Decimal(usage.get(kind, 0)) * price
                for kind, price in self.tokens_per_million.items()
            ),
            Decimal(0),
        )
        return (total / Decimal(1_000_000)).quantize(CENT_FRACTION)


@dataclass(frozen=True)
class PriceTable:
    providers: Mapping[str, ProviderPrices]

    def __getitem__(self, provider: str) -> ProviderPrices:
        try:
            return self.providers[provider]
        except KeyError:
            raise InvalidInput(
                "provider", f"no prices for provider {provider!r}", provider
            ) from None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PriceTable:
        providers = {}
        for name, spec in data["providers"].items():
            reference = Size.parse(spec.get("reference_size", "1024x1024"))
            tokens = spec.get("tokens_per_million")
            providers[name] = ProviderPrices(
                provider=name,
                model=spec["model"],
                flat=bool(spec.get("flat", True)),
                per_image={Quality(q): Decimal(p) for q, p in spec["per_image"].items()},
                reference_pixels=reference.width * reference.height,
                tokens_per_million={k: Decimal(v) for k, v in tokens.items()} if tokens else None,
                sizes=tuple(Size.parse(s) for s in spec["sizes"]) if spec.get("sizes") else None,
            )
        return cls(providers)


@cache
def default_prices() -> PriceTable:
    path = Path(__file__).with_name("prices.json")
    return PriceTable.parse(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Estimate:
    by_quality: Mapping[Quality, Decimal]
    images_by_quality: Mapping[Quality, int]

    @property
    def total(self) -> Decimal:
        return sum(self.by_quality.values(), Decimal(0))

    @property
    def images(self) -> int:
        return sum(self.images_by_quality.values())


def estimate(prices: ProviderPrices, jobs: Iterable[tuple[Quality, Size, int]]) -> Estimate:
    """Cost by quality tier for (quality, size, n) requests, before anything runs."""
    cost = dict.fromkeys(Quality, Decimal(0))
    images = dict.fromkeys(Quality, 0)
    for quality, size, n in jobs:
        cost[quality] += prices.unit_price(quality, size) * n
        images[quality] += n
    return Estimate(cost, images)

"""Prices from `prices.json` to Decimal costs. Money never passes through float (docs/design.md,
invariant 3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import cache
from math import isqrt
from pathlib import Path
from typing import Any, NamedTuple

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Quality, Size

CENT_FRACTION = Decimal("0.000001")
_MILLION = Decimal(1_000_000)

# The kinds of tokens placard's OpenAI client reads from an answer's usage (the keys of
# `tokens_per_million`). `input_tokens`, their sum, is kept too but never priced: it would
# count the input twice.
TEXT_TOKENS = "input_text_tokens"
IMAGE_TOKENS = "input_image_tokens"
OUTPUT_TOKENS = "output_tokens"
_TOKEN_KINDS = frozenset({TEXT_TOKENS, IMAGE_TOKENS, OUTPUT_TOKENS})
_SQUARE = Size(1024, 1024)  # other sizes' output tokens scale from its count
_PATCH = 32  # px: OpenAI's published patch rule for vision inputs, one token a patch


@dataclass(frozen=True)
class Quote:
    """What placard expects a call to cost, before it is made."""

    usd: Decimal
    exact: bool  # a flat price: what will be charged
    approximate: bool  # the size is not in the output table: the square's tokens scaled by area


@dataclass(frozen=True)
class ProviderPrices:
    provider: str
    model: str
    flat: bool
    per_image: Mapping[Quality, Decimal]
    reference_pixels: int = 1024 * 1024
    tokens_per_million: Mapping[str, Decimal] | None = None
    sizes: tuple[Size, ...] | None = None  # a provider's own list of sizes, where it has one
    # Token pricing's bounds: output tokens per image by size and quality, and the most
    # tokens one input image can cost.
    output_token_table: Mapping[str, Mapping[Quality, int]] = field(default_factory=dict)
    max_input_image_tokens: int = 0

    def check_size(self, size: Size) -> None:
        if self.sizes is not None and size not in self.sizes:
            offered = ", ".join(str(s) for s in self.sizes)
            raise InvalidInput("size", f"{self.provider} offers only {offered}", str(size))

    def unit_price(self, quality: Quality, size: Size) -> Decimal:
        price = self.per_image[quality]
        if not self.flat:
            price = price * Decimal(size.pixels) / Decimal(self.reference_pixels)
        return price.quantize(CENT_FRACTION)

    def cost_from_usage(self, usage: Mapping[str, int]) -> Decimal | None:
        """An answer's cost from the tokens it reported: each kind at its price, summed, then
        rounded once to the micro-dollar, half up, as the bill is. None without token prices,
        or when the usage lacks a priced kind (charging part of it would undercharge)."""
        if not self.tokens_per_million or any(k not in usage for k in self.tokens_per_million):
            return None
        total = sum(
            (Decimal(usage[kind]) * price for kind, price in self.tokens_per_million.items()),
            Decimal(0),
        )
        return micro_dollars(total / _MILLION)

    def answer_bound(
        self, quality: Quality, size: Size, n: int, prompt: str, input_images: int
    ) -> Decimal | None:
        """The most an answer can bill, for reservations; None without token prices. Each image
        its output tokens, the prompt at one token per UTF-8 byte (no tokenizer gives more),
        each input image at the most tokens one can cost."""
        if not self.tokens_per_million:
            return None
        tokens = {
            OUTPUT_TOKENS: self.output_tokens(quality, size) * n,
            TEXT_TOKENS: len(prompt.encode("utf-8")),
            IMAGE_TOKENS: self.max_input_image_tokens * input_images,
        }
        return self.cost_from_usage(tokens)

    def quote(
        self,
        quality: Quality,
        size: Size,
        n: int,
        prompt: str = "",
        input_images: Sequence[Size] = (),
    ) -> Quote:
        """The point estimate of a call: flat prices are exact; token prices count the output
        table's tokens, the prompt at ceil(UTF-8 bytes / 4) and each input image's 32 px
        patches, priced as a bill is. Never above `answer_bound` (tests/unit/test_quotes.py)."""
        if not self.tokens_per_million:
            unit = self.unit_price(quality, size)
            scaled = not self.flat and size.pixels != self.reference_pixels
            return Quote(unit * n, exact=self.flat, approximate=scaled)
        tokens = {
            OUTPUT_TOKENS: self.output_tokens(quality, size) * n,
            TEXT_TOKENS: -(-len(prompt.encode("utf-8")) // 4),
            IMAGE_TOKENS: sum(self.input_image_tokens(image) for image in input_images),
        }
        usd = self.cost_from_usage(tokens)
        assert usd is not None  # every priced kind is counted above
        return Quote(usd, exact=False, approximate=str(size) not in self.output_token_table)

    def reservation(
        self, quality: Quality, size: Size, n: int, prompt: str, input_images: int
    ) -> Decimal:
        """What the worker holds against a budget for a call: the answer's bound with token
        prices, else the price of its images."""
        bound = self.answer_bound(quality, size, n, prompt, input_images)
        return self.unit_price(quality, size) * n if bound is None else bound

    def input_image_tokens(self, image: Size) -> int:
        """One input image's tokens by OpenAI's published rule for vision inputs: its 32 px
        patches; past the budget, the image scaled down to whole patches across that fit it.
        Integer arithmetic: floor(sqrt(budget x w / h)) patches across is the scaled width."""
        budget = self.max_input_image_tokens
        patches = -(-image.width // _PATCH) * -(-image.height // _PATCH)
        if patches <= budget:
            return patches
        across = isqrt(budget * image.width // image.height)
        down = -(-image.height * across // image.width)
        return min(across * down, budget)

    def output_tokens(self, quality: Quality, size: Size) -> int:
        """One image's output tokens: the listed count, else the square's scaled by area and
        rounded up (an approximation, so a bound only while OpenAI scales by area too)."""
        listed = self.output_token_table.get(str(size))
        if listed is not None:
            return listed[quality]
        square = self.output_token_table[str(_SQUARE)][quality]
        return -(-square * size.pixels // _SQUARE.pixels)


def micro_dollars(amount: Decimal) -> Decimal:
    return amount.quantize(CENT_FRACTION, rounding=ROUND_HALF_UP)


def shares(amount: Decimal, n: int) -> list[Decimal]:
    """`amount` over n images in micro-dollars that sum to it exactly: the remainder to the
    last."""
    each = (amount / n).quantize(CENT_FRACTION, rounding=ROUND_DOWN)
    return [each] * (n - 1) + [amount - each * (n - 1)]


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
            if tokens and (set(tokens) - _TOKEN_KINDS or str(_SQUARE) not in spec["output_tokens"]):
                # A reservation must bound every priced kind, from the square's count up.
                raise ValueError(
                    f"{name}: tokens_per_million prices only {sorted(_TOKEN_KINDS)}, "
                    f"and output_tokens needs {_SQUARE}"
                )
            providers[name] = ProviderPrices(
                provider=name,
                model=spec["model"],
                flat=bool(spec.get("flat", True)),
                per_image={Quality(q): Decimal(p) for q, p in spec["per_image"].items()},
                reference_pixels=reference.width * reference.height,
                tokens_per_million={k: Decimal(v) for k, v in tokens.items()} if tokens else None,
                sizes=tuple(Size.parse(s) for s in spec["sizes"]) if spec.get("sizes") else None,
                output_token_table={
                    size: {Quality(q): int(t) for q, t in by_quality.items()}
                    for size, by_quality in spec.get("output_tokens", {}).items()
                },
                max_input_image_tokens=int(spec.get("max_input_image_tokens", 0)),
            )
        return cls(providers)


@cache
def default_prices() -> PriceTable:
    path = Path(__file__).with_name("prices.json")
    return PriceTable.parse(json.loads(path.read_text(encoding="utf-8")))


class Billable(NamedTuple):
    """A call to price: its images, prompt and input images (an edit's source, as sent)."""

    quality: Quality
    size: Size
    n: int
    prompt: str = ""
    input_images: tuple[Size, ...] = ()

    @classmethod
    def of(cls, job: Job, size: Size, prompt: str) -> Billable:
        """A job's call at `size`: an edit sends its source photo at that size too
        (imaging/edits.py)."""
        sent = (size,) if job.mode is Mode.EDIT else ()
        return cls(job.quality, size, job.n, prompt, sent)


@dataclass(frozen=True)
class Estimate:
    by_quality: Mapping[Quality, Decimal]
    images_by_quality: Mapping[Quality, int]
    quotes: tuple[Quote, ...] = ()  # each call's, in the order given

    @property
    def total(self) -> Decimal:
        return sum(self.by_quality.values(), Decimal(0))

    @property
    def images(self) -> int:
        return sum(self.images_by_quality.values())

    @property
    def exact(self) -> bool:
        return all(quote.exact for quote in self.quotes)

    @property
    def approximate(self) -> bool:
        return any(quote.approximate for quote in self.quotes)


def estimate(
    prices: ProviderPrices, jobs: Iterable[Billable | tuple[Quality, Size, int]]
) -> Estimate:
    """Cost by quality tier of calls, before anything runs: the sum of their quotes."""
    cost = dict.fromkeys(Quality, Decimal(0))
    images = dict.fromkeys(Quality, 0)
    quotes = []
    for job in jobs:
        call = Billable(*job)
        quote = prices.quote(call.quality, call.size, call.n, call.prompt, call.input_images)
        cost[call.quality] += quote.usd
        images[call.quality] += call.n
        quotes.append(quote)
    return Estimate(cost, images, tuple(quotes))

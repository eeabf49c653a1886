"""The emulator's configuration: what it is, how it is checked, how JSON changes it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from placard_emulator.faults import check_fault_kind


@dataclass
class EmulatorConfig:
    """How the emulated providers behave. Change it while running with
    :meth:`ProviderEmulator.configure`."""

    latency: float = 0.0
    """Seconds from a generation's admission to its answer (making the image included)."""
    images_per_minute: int | None = None
    """Rate limit on images (a request for n images takes n tokens); None = unlimited."""
    burst: int | None = None
    """Token-bucket capacity; None = max(1, images_per_minute // 60)."""
    fault_rate: float = 0.0
    """Probability that a generation request gets a fault drawn from ``fault_kinds``."""
    fault_kinds: tuple[str, ...] = ("5xx",)
    """Faults to draw from: "5xx", "hang", "malformed", "refusal", "disconnect"."""
    hang_seconds: float = 30.0
    """How long a "hang" stalls before closing the connection."""
    seed: int = 0
    """Faults are drawn from ``random.Random(seed)``: reproducible runs."""
    api_key: str = "test-key"
    """The only accepted Bearer token (both APIs)."""
    url_ttl_seconds: float = 7 * 24 * 3600
    """How long a prospolabs ``output_url`` stays downloadable."""
    misspell: float = 0.0
    """Share of images (0..1) whose quoted copy is drawn with one slip: 1/3 misspells every
    third image with copy, counted from when the share or seed was set (lettering.py)."""
    # What answers bill (billing.py): OpenAI by tokens, USD per million (OpenAI's prices,
    # Oct 2026); prospolabs flat, USD per image.
    text_input_usd_per_million: Decimal = Decimal("5.00")
    image_input_usd_per_million: Decimal = Decimal("8.00")
    image_output_usd_per_million: Decimal = Decimal("30.00")
    prospolabs_low_usd: Decimal = Decimal("0.0072")
    prospolabs_medium_usd: Decimal = Decimal("0.028")
    prospolabs_high_usd: Decimal = Decimal("0.077")

    def flat_price(self, quality: str) -> Decimal:
        """prospolabs' price of one image of this quality."""
        prices = {
            "low": self.prospolabs_low_usd,
            "medium": self.prospolabs_medium_usd,
            "high": self.prospolabs_high_usd,
        }
        return prices[quality]


PRICE_FIELDS: Final = (
    "text_input_usd_per_million",
    "image_input_usd_per_million",
    "image_output_usd_per_million",
    "prospolabs_low_usd",
    "prospolabs_medium_usd",
    "prospolabs_high_usd",
)


def _number(name: str, value: object, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value!r}")


def _optional_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value!r}")


def check_config(config: EmulatorConfig) -> None:
    """Raise ValueError/TypeError unless every field of ``config`` is usable."""
    _number("latency", config.latency, 0.0)
    _optional_count("images_per_minute", config.images_per_minute)
    _optional_count("burst", config.burst)
    _number("fault_rate", config.fault_rate, 0.0, 1.0)
    if not isinstance(config.fault_kinds, tuple) or not config.fault_kinds:
        raise TypeError(f"fault_kinds must be a non-empty tuple, not {config.fault_kinds!r}")
    for kind in config.fault_kinds:
        check_fault_kind(kind)
    _number("hang_seconds", config.hang_seconds, 0.0)
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise TypeError(f"seed must be an int, not {config.seed!r}")
    if not isinstance(config.api_key, str) or not config.api_key:
        raise TypeError("api_key must be a non-empty string")
    _number("url_ttl_seconds", config.url_ttl_seconds, 0.0)
    _number("misspell", config.misspell, 0.0, 1.0)
    for name in PRICE_FIELDS:
        price = getattr(config, name)
        if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
            raise TypeError(f"{name} must be a Decimal of at least 0 (USD), not {price!r}")


def coerce_change(name: str, value: object) -> object:
    """Accept the JSON shapes of config values too (lists, comma strings; a price as a
    number or a decimal string, kept exact: 0.1 becomes Decimal("0.1"))."""
    money = isinstance(value, int | float | str) and not isinstance(value, bool)
    if name in PRICE_FIELDS and money:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{name} must be a price in USD, not {value!r}") from None
    if name == "fault_kinds":
        if isinstance(value, str):
            return tuple(kind.strip() for kind in value.split(",") if kind.strip())
        if isinstance(value, list):
            return tuple(value)
    if name in ("latency", "fault_rate", "hang_seconds", "url_ttl_seconds", "misspell") and (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return float(value)
    return value

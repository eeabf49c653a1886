"""What each answer bills: OpenAI's by the tokens it reports in ``usage``, prospolabs' flat
per image (SPEC §6). Money is Decimal, to the micro-dollar.

The token rules, and why they are what they are:

- Output tokens per image: OpenAI's guide for gpt-image-2 (the table below); any other size
  is the square's count scaled by its area over 1024x1024, rounded up. Times n.
- Text tokens: ceil(UTF-8 bytes of the prompt / 4), the usual "a token is about four
  characters" (the emulator cannot run OpenAI's tokenizer offline). It never exceeds one token
  per UTF-8 byte, the bound placard reserves.
- Image tokens (edits): OpenAI publishes no rule for gpt-image-2's input images. The emulator
  follows what users measured (community.openai.com, "OpenAI must document the input image
  pricing of gpt-image-2", June 2026): 32 px patches as in OpenAI's published patch rule for
  vision models, with inputs whose longest side is under 1024 px magnified toward 1024 (at most
  2x), the canvas held within 1:3..3:1, and the published 1536-patch budget; one token per
  patch. So an input image never costs more than 1536 tokens. Every ``image`` part counts; the
  mask does not (it is not an input image, only where to edit the first one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypedDict

MICRO_DOLLAR: Final = Decimal("0.000001")
_MILLION: Final = Decimal(1_000_000)

OUTPUT_TOKENS: Final[Mapping[tuple[int, int], Mapping[str, int]]] = {
    (1024, 1024): {"low": 196, "medium": 1756, "high": 7024},
    (1024, 1536): {"low": 158, "medium": 1372, "high": 5488},
    (1536, 1024): {"low": 158, "medium": 1372, "high": 5488},
}
"""Output tokens per image, from OpenAI's guide for gpt-image-2 (SPEC §6)."""


class InputTokens(TypedDict):
    text_tokens: int
    image_tokens: int


class Usage(TypedDict):
    """An OpenAI answer's ``usage``, as gpt-image models report it."""

    input_tokens: int
    input_tokens_details: InputTokens
    output_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class Charge:
    """What one successful answer bills."""

    cost_usd: Decimal
    usage: Usage | None = None
    """The usage the answer reported (OpenAI); None for flat prices (prospolabs)."""
    generation_id: str | None = None
    """The id the answer named (prospolabs); None where it names none (OpenAI)."""


_SQUARE: Final = (1024, 1024)
_PATCH: Final = 32
_PATCH_BUDGET: Final = 1536
_MAGNIFY_TO: Final = 1024
_MAX_MAGNIFY: Final = 2.0


def output_tokens(width: int, height: int, quality: str) -> int:
    """One image's output tokens: the table's, else the square's scaled by area, rounded up."""
    listed = OUTPUT_TOKENS.get((width, height))
    if listed is not None:
        return listed[quality]
    square = OUTPUT_TOKENS[_SQUARE][quality]
    return -(-square * width * height // (_SQUARE[0] * _SQUARE[1]))  # integer ceil


def text_tokens(prompt: str) -> int:
    """ceil(UTF-8 bytes / 4): at least 1 for any prompt, at most one per byte."""
    return -(-len(prompt.encode("utf-8")) // 4)


def image_tokens(width: int, height: int) -> int:
    """One input image's tokens: its 32 px patches after magnifying, capping the aspect ratio
    and fitting the patch budget (see the module's docstring)."""
    w, h = float(width), float(height)
    longest = max(w, h)
    if longest < _MAGNIFY_TO:
        scale = min(_MAX_MAGNIFY, _MAGNIFY_TO / longest)
        w, h = w * scale, h * scale
    w = max(w, h / 3)
    h = max(h, w / 3)
    patches = math.ceil(w / _PATCH) * math.ceil(h / _PATCH)
    if patches > _PATCH_BUDGET:
        shrink = math.sqrt(_PATCH * _PATCH * _PATCH_BUDGET / (w * h))
        w, h = w * shrink, h * shrink
        # Whole patches across, as OpenAI's published rule does.
        fit = math.floor(w / _PATCH) / (w / _PATCH)
        w, h = w * fit, h * fit
        patches = math.ceil(w / _PATCH) * math.ceil(h / _PATCH)
    return min(patches, _PATCH_BUDGET)


def usage(
    prompt: str, width: int, height: int, quality: str, n: int, sources: Iterable[tuple[int, int]]
) -> Usage:
    """What an OpenAI answer for these images (n of width x height, edited from ``sources``
    of these sizes) reports in ``usage``."""
    text = text_tokens(prompt)
    image = sum(image_tokens(w, h) for w, h in sources)
    output = output_tokens(width, height, quality) * n
    return {
        "input_tokens": text + image,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
        "output_tokens": output,
        "total_tokens": text + image + output,
    }


def token_cost(usage: Usage, text_usd: Decimal, image_usd: Decimal, output_usd: Decimal) -> Decimal:
    """An OpenAI answer's cost: its usage at these USD-per-million prices, summed and then
    rounded once to the micro-dollar (ROUND_HALF_UP)."""
    details = usage["input_tokens_details"]
    total = (
        details["text_tokens"] * text_usd
        + details["image_tokens"] * image_usd
        + usage["output_tokens"] * output_usd
    )
    return micro_dollars(total / _MILLION)


def micro_dollars(amount: Decimal) -> Decimal:
    return amount.quantize(MICRO_DOLLAR, rounding=ROUND_HALF_UP)

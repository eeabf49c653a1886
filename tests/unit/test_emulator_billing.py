"""The emulator's bill arithmetic (placard_emulator.billing): OpenAI's token counts and their
cost to the micro-dollar, without a server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from placard_emulator import billing

PRICES = (Decimal("5.00"), Decimal("8.00"), Decimal("30.00"))


@pytest.mark.parametrize(
    ("size", "quality", "tokens"),
    [
        ((1024, 1024), "low", 196),
        ((1024, 1024), "medium", 1756),
        ((1024, 1024), "high", 7024),
        ((1024, 1536), "low", 158),
        ((1024, 1536), "medium", 1372),
        ((1536, 1024), "high", 5488),
    ],
)
def test_listed_sizes_take_the_guides_output_tokens(
    size: tuple[int, int], quality: str, tokens: int
) -> None:
    # Given a size OpenAI's guide lists, When one image's output tokens are counted
    # Then they are the table's
    assert billing.output_tokens(*size, quality) == tokens


def test_other_sizes_scale_the_square_by_area_rounding_up() -> None:
    # Given sizes the guide does not list
    # When their output tokens are counted
    # Then a 2048x2048 is four squares exactly, and 1280x720 (0.879 of a square) rounds up
    assert billing.output_tokens(2048, 2048, "high") == 4 * 7024
    assert billing.output_tokens(1280, 720, "low") == 173  # 196 x 0.8789 = 172.27
    assert billing.output_tokens(3840, 2160, "medium") == 13891  # 1756 x 7.9102 = 13890.23


@pytest.mark.parametrize(
    ("prompt", "tokens"),
    [("a", 1), ("abcd", 1), ("abcde", 2), ("☔", 1), ("Café ☔ €5", 4)],
)
def test_text_tokens_are_a_quarter_of_the_utf8_bytes_rounded_up(prompt: str, tokens: int) -> None:
    # Given a prompt, When its tokens are counted
    counted = billing.text_tokens(prompt)
    # Then they are ceil(bytes / 4), never more than one per byte
    assert counted == tokens
    assert counted <= len(prompt.encode("utf-8"))


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((1024, 1024), 32 * 32),  # one token per 32 px patch
        ((512, 512), 32 * 32),  # magnified twofold to 1024 first
        ((256, 256), 16 * 16),  # magnified at most twofold
        ((1200, 900), 38 * 29),  # partial patches count whole
        ((1024, 1536), 32 * 48),  # exactly the budget
        ((3840, 2160), 1536),  # over the budget: shrunk to it
        ((2048, 2048), 39 * 39),  # shrunk to 1254 px, then to whole patches across: 1248
    ],
)
def test_input_images_cost_their_patches_within_the_budget(
    size: tuple[int, int], tokens: int
) -> None:
    # Given an input image of this size, When its tokens are counted
    # Then they are its 32 px patches after magnifying small images and fitting 1536 patches
    assert billing.image_tokens(*size) == tokens


def test_usage_adds_up_as_openai_reports_it() -> None:
    # Given an edit of two sources into two high 1536x1024 images
    # When its usage is made
    usage = billing.usage("merge them", 1536, 1024, "high", 2, [(1024, 1024), (1200, 900)])
    # Then input is text plus image tokens, output is per image times n, total is both
    assert usage == {
        "input_tokens": 3 + 1024 + 1102,
        "input_tokens_details": {"text_tokens": 3, "image_tokens": 1024 + 1102},
        "output_tokens": 2 * 5488,
        "total_tokens": 3 + 1024 + 1102 + 2 * 5488,
    }


def test_token_cost_is_the_usage_at_the_prices_to_the_micro_dollar() -> None:
    # Given a high square image from a 30-byte prompt (8 text tokens)
    usage = billing.usage("x" * 30, 1024, 1024, "high", 1, [])
    # When it is priced at 5.00 / 8.00 / 30.00 USD per million
    cost = billing.token_cost(usage, *PRICES)
    # Then it is (8 x 5 + 7024 x 30) / 1e6 exactly
    assert cost == Decimal("0.210760")
    assert cost.as_tuple().exponent == -6


def test_token_cost_rounds_half_up_once() -> None:
    # Given one text token at half a micro-dollar, and a second answer at 1.5 micro-dollars
    one = billing.usage("x", 1024, 1024, "low", 1, [])
    # When priced with no output price (so only the half remains)
    half = billing.token_cost(one, Decimal("0.5"), Decimal(0), Decimal(0))
    three_halves = billing.token_cost(one, Decimal("1.5"), Decimal(0), Decimal(0))
    # Then halves go up (ROUND_HALF_UP, not the banker's rounding that would give 0 and 2)
    assert (half, three_halves) == (Decimal("0.000001"), Decimal("0.000002"))

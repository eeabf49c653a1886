"""A call's quote (SPEC §6, #15): flat prices exact; token prices estimated from the output table,
the prompt's text and each input image's 32 px patches; never above the bound a reservation
holds; and the by-tier estimate built from quotes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from placard.domain.jobs import Quality, Size
from placard.domain.pricing import Billable, Quote, default_prices, estimate
from placard_emulator import billing

OPENAI = default_prices()["openai"]
PROSPOLABS = default_prices()["prospolabs"]
EMULATOR_PRICES = (Decimal("5.00"), Decimal("8.00"), Decimal("30.00"))
LISTED = [Size(1024, 1024), Size(1024, 1536), Size(1536, 1024)]


def test_a_flat_price_is_exact_whatever_the_prompt_and_inputs() -> None:
    # Given the reseller's flat prices
    # When three high images are quoted, with a prompt and an input image
    quote = PROSPOLABS.quote(Quality.HIGH, Size(1536, 1024), 3, "a sign", (Size(1536, 1024),))
    # Then the quote is three flat prices, exact, and its reservation is the same
    assert quote == Quote(Decimal("0.231"), exact=True, approximate=False)
    assert PROSPOLABS.reservation(Quality.HIGH, Size(1536, 1024), 3, "a sign", 1) == quote.usd


@pytest.mark.parametrize("size", LISTED)
@pytest.mark.parametrize("quality", list(Quality))
@pytest.mark.parametrize("edit", [False, True], ids=["generate", "edit"])
def test_a_token_quote_at_a_listed_size_is_what_the_emulator_bills(
    size: Size, quality: Quality, edit: bool
) -> None:
    # Given a prompt, and for an edit its source sent at the output's size
    prompt = "Storefront sign reading “Zoë's — Now open”"
    sources = [(size.width, size.height)] if edit else []
    # When the call is quoted
    quote = OPENAI.quote(quality, size, 2, prompt, [Size(*s) for s in sources])
    # Then it is the emulator's token bill to the micro-dollar, an estimate, not approximate
    usage = billing.usage(prompt, size.width, size.height, quality, 2, sources)
    assert quote == Quote(billing.token_cost(usage, *EMULATOR_PRICES), False, False)


def test_a_size_outside_the_table_is_quoted_from_the_square_by_area_marked_approximate() -> None:
    # Given 1280x720, which OpenAI's guide does not list
    # When a medium image is quoted with an empty prompt
    quote = OPENAI.quote(Quality.MEDIUM, Size(1280, 720), 1, "")
    # Then its output is the square's 1756 tokens x 0.8789, rounded up (1544), at 30 per million
    assert quote == Quote(Decimal("0.046320"), exact=False, approximate=True)


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        (Size(1024, 1024), 1024),  # 32 x 32 patches
        (Size(1024, 1536), 1536),  # 32 x 48: exactly the budget
        (Size(512, 512), 256),  # small inputs are not magnified by the published rule
        (Size(2048, 2048), 1521),  # scaled to 39 patches across, 39 down
        (Size(1200, 1600), 1452),  # 33 across (floor sqrt(1536 x 0.75)), 44 down
        (Size(3840, 2160), 1536),  # 52 across, 29.25 -> 30 down: 1560, capped at the budget
    ],
)
def test_an_input_image_costs_its_32px_patches_scaled_to_fit_the_budget(
    size: Size, tokens: int
) -> None:
    assert OPENAI.input_image_tokens(size) == tokens
    assert tokens <= OPENAI.max_input_image_tokens


sizes = st.builds(
    Size,
    st.integers(16, 240).map(lambda k: 16 * k),
    st.integers(16, 240).map(lambda k: 16 * k),
)


@given(
    size=sizes,
    quality=st.sampled_from(list(Quality)),
    n=st.integers(1, 10),
    prompt=st.text(max_size=400),
    inputs=st.lists(sizes, max_size=3),
)
def test_a_quote_never_exceeds_the_bound_a_reservation_holds(
    size: Size, quality: Quality, n: int, prompt: str, inputs: list[Size]
) -> None:
    for prices in (OPENAI, PROSPOLABS):
        quote = prices.quote(quality, size, n, prompt, inputs)
        assert quote.usd <= prices.reservation(quality, size, n, prompt, len(inputs))


def test_the_estimate_by_tier_is_the_sum_of_its_quotes_and_says_how_sure_it_is() -> None:
    # Given a low square, a high unlisted size and a medium edit of a tall photo
    calls = [
        Billable(Quality.LOW, Size(1024, 1024), 3, "a poster"),
        Billable(Quality.HIGH, Size(1280, 720), 1, "a banner"),
        Billable(Quality.MEDIUM, Size(1024, 1536), 1, "swap the price", (Size(1024, 1536),)),
    ]
    # When each provider estimates them
    tokens, flat = estimate(OPENAI, calls), estimate(PROSPOLABS, calls)
    # Then each tier is its calls' quotes, in order, and the total their sum
    quotes = [OPENAI.quote(*call) for call in calls]
    assert tokens.quotes == tuple(quotes)
    assert tokens.by_quality[Quality.LOW] == quotes[0].usd
    assert tokens.total == sum(q.usd for q in quotes) and tokens.images == 5
    # And the token estimate is neither exact nor free of approximation; the flat one is exact
    assert (tokens.exact, tokens.approximate) == (False, True)
    assert (flat.exact, flat.approximate) == (True, False)
    assert flat.total == Decimal("0.0216") + Decimal("0.077") + Decimal("0.028")

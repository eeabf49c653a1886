"""The emulator's lettering: which copy a prompt quotes, which images are misspelt, and that
every slip is one a reader can see."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from placard_emulator.lettering import KINDS, is_misspelt, misspell, quoted, share_of


def test_quoted_copy_is_every_straight_or_curly_quote_in_order() -> None:
    # Given a prompt quoting copy in straight and curly quotes, with an empty pair
    prompt = 'The headline reads exactly "Summer Sale", a badge “-30 %”, then "" and " $4.50 ".'
    # When its copy is taken
    # Then it is each non-empty quote, in order, trimmed
    assert quoted(prompt) == ["Summer Sale", "-30 %", "$4.50"]
    assert quoted("a poster with no words") == []


@pytest.mark.parametrize(
    ("misspell", "first_nine"),
    [
        (0.0, []),
        (1 / 3, [3, 6, 9]),
        (0.3333, [3, 6, 9]),
        (0.5, [2, 4, 6, 8]),
        (1.0, list(range(1, 10))),
    ],
)
def test_the_share_picks_every_nth_image(misspell: float, first_nine: list[int]) -> None:
    # Given a share
    share = share_of(misspell)
    # When the first nine images are counted
    picked = [k for k in range(1, 10) if is_misspelt(share, k)]
    # Then the misspelt ones are spread evenly, and N images hold floor(N x share)
    assert picked == first_nine
    assert sum(is_misspelt(share, k) for k in range(1, 301)) == int(300 * share)


def test_share_of_a_third_is_exactly_a_third() -> None:
    assert share_of(1 / 3) == Fraction(1, 3)


def test_every_kind_of_slip_is_made_and_changes_the_copy() -> None:
    # Given copy with words, a price and two lines
    copy = ["Summer Sale", "Now €4.50"]
    # When it is misspelt under many seeds
    slips = [misspell(copy, random.Random(seed)) for seed in range(200)]
    # Then each kind occurs, and each slip draws other copy than asked, saying how
    assert all(slip is not None for slip in slips)
    kinds = {slip.kind for slip in slips if slip is not None}
    assert kinds == set(KINDS)
    for slip in slips:
        assert slip is not None
        assert list(slip.drawn) != copy and slip.how


def test_a_digit_slip_keeps_the_price_a_price() -> None:
    # Given only a price to change
    copy = ["$4.50"]
    # When its digit slips are collected
    drawn = {
        slip.drawn
        for seed in range(100)
        if (slip := misspell(copy, random.Random(seed))) is not None and slip.kind == "digit"
    }
    # Then each keeps the sign and the point, with one digit changed
    assert drawn
    for (price,) in drawn:
        assert price[0] == "$" and price[2] == "." and len(price) == 5
        assert sum(a != b for a, b in zip(price, "$4.50", strict=True)) == 1


@pytest.mark.parametrize(
    "copy",
    [
        ["SALE", "SALE"],  # whatever changes in one line, the other still shows the word
        ["Draft"],  # the draft's "DRAFT" caption still shows it
    ],
)
def test_no_slip_is_made_where_a_reader_could_not_see_it(copy: list[str]) -> None:
    # Given copy whose every word also appears elsewhere on the image
    # When it is misspelt
    # Then no slip is made
    assert all(misspell(copy, random.Random(seed)) is None for seed in range(50))


def test_a_replaced_letter_is_never_one_a_reader_confuses() -> None:
    # Given a word of letters a reader confuses (l, I, 1, o, 0, rn, m)
    copy = ["Illmorno"]
    # When its letter replacements are collected
    replaced = [
        slip.how
        for seed in range(200)
        if (slip := misspell(copy, random.Random(seed))) is not None and "replaced" in slip.how
    ]
    # Then each replacement is one of the letters unlike any other
    assert replaced
    assert all(how.split("replaced by ")[1][1] in "xzqkXZQK" for how in replaced)

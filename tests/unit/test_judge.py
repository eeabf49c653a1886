"""Judging read words against the copy (docs/design.md §7), with hand-written reader lines."""

from __future__ import annotations

import pytest

from placard.domain.proofs import FieldProof, Proof, ReadLine, Verdict
from placard.proofing.judge import judge

CAPTION = "DRAFT·launch-poster"


def lines(*texts: str) -> list[ReadLine]:
    """Reader lines top to bottom, as a reader gives them."""
    return [ReadLine(text, 0.95, (10, 40 * i, 300, 30)) for i, text in enumerate(texts)]


def latin(text: str) -> bool:
    return not any("\u0600" <= c <= "\u06ff" for c in text)  # a reader without Arabic


def proof_of(copy: dict[str, str], *read: str) -> Proof:
    return judge(list(copy.items()), lines(*read), latin)


def field(proof: Proof, name: str) -> FieldProof:
    return next(f for f in proof.fields if f.name == name)


POSTER = {"headline": "Run Past Sunrise", "cta": "Pre-order now"}


def test_the_copy_read_back_as_written_passes() -> None:
    # Given a draft read back word for word, caption included
    proof = proof_of(POSTER, CAPTION, "Run Past Sunrise", "Pre-order now")
    # Then every field passes with what was read
    assert proof.verdict is Verdict.PASS
    assert [(f.verdict, f.read) for f in proof.fields] == [
        (Verdict.PASS, "Run Past Sunrise"),
        (Verdict.PASS, "Pre-order now"),
    ]


def test_a_misspelt_word_fails_and_says_which() -> None:
    # Given the headline read with an l where the i is
    proof = proof_of(POSTER, CAPTION, "Run Past Sunrlse", "Pre-order now")
    # Then the headline fails, naming the word as read and as written
    headline = field(proof, "headline")
    assert proof.verdict is Verdict.FAIL
    assert headline.verdict is Verdict.FAIL
    assert headline.read == "Run Past Sunrlse"
    assert headline.problems == ("'Sunrlse' where 'Sunrise'",)
    assert field(proof, "cta").verdict is Verdict.PASS


def test_a_missing_word_fails_and_is_named() -> None:
    proof = proof_of(POSTER, "Run Past", "Pre-order now")
    headline = field(proof, "headline")
    assert headline.verdict is Verdict.FAIL
    assert headline.problems == ("missing 'Sunrise'",)
    assert headline.read == "Run Past"


def test_a_missing_line_fails_with_nothing_read() -> None:
    # Given a poster whose tagline line is not in the image
    copy = {**POSTER, "tagline": "Grip that holds on wet rock"}
    proof = proof_of(copy, CAPTION, "Run Past Sunrise", "Pre-order now")
    tagline = field(proof, "tagline")
    # Then the tagline fails as missing, the other fields pass
    assert tagline.verdict is Verdict.FAIL
    assert tagline.read == ""
    assert tagline.problems == ("missing 'Grip that holds on wet rock'",)
    assert proof.verdict is Verdict.FAIL
    assert [f.verdict for f in proof.fields[:2]] == [Verdict.PASS, Verdict.PASS]


def test_an_extra_word_inside_a_field_fails() -> None:
    proof = proof_of({"headline": "Run Past Sunrise"}, "Run Past The Sunrise")
    assert field(proof, "headline").problems == ("extra 'The'",)


@pytest.mark.parametrize(
    ("copy", "read", "problem"),
    [
        ("$4.50", "$4.80", "$4.80 where $4.50"),
        ("$4.50", "$450", "$450 where $4.50"),
        ("$4.50", "$14.50", "$14.50 where $4.50"),
        ("12/05", "12/06", "12/06 where 12/05"),
        ("Sat 12 June 2026", "Sat 13 June 2026", "13 where 12"),
        ("2 for €5", "2 for 5", "missing '€'"),
        ("-30%", "-30", "missing '%'"),
        ("€4,50", "€4.50", "€4.50 where €4,50"),
    ],
)
def test_digits_signs_and_separators_must_match_exactly(copy: str, read: str, problem: str) -> None:
    # Given a price, date or offer read with one character off
    proof = proof_of({"price": copy}, "Fresh Milk", read)
    # Then the field fails and says what was read where the copy was
    price = field(proof, "price")
    assert price.verdict is Verdict.FAIL
    assert price.problems == (problem,)


def test_a_price_with_an_extra_currency_sign_fails() -> None:
    # A sign beside a number belongs to it: "4.50" is not "$4.50"
    assert proof_of({"price": "4.50"}, "$4.50").verdict is Verdict.FAIL


def test_a_date_in_the_copy_passes_however_its_dash_is_drawn() -> None:
    assert proof_of({"date": "12–14 June"}, "12-14 JUNE").verdict is Verdict.PASS


def test_a_field_wrapped_over_lines_passes() -> None:
    # Given a tagline the layout wrapped, and a word broken with a hyphen at the line end
    copy = {"tagline": "Grip that holds on wet rock", "headline": "Unbreakable"}
    proof = proof_of(copy, "Unbreak-", "able", "Grip that holds", "on wet rock")
    # Then both pass, and what was read joins the lines
    assert proof.verdict is Verdict.PASS
    assert field(proof, "tagline").read == "Grip that holds on wet rock"


def test_a_field_split_by_a_line_of_another_column_passes() -> None:
    # Given a banner whose reader listed the price (right column) between the headline's lines
    copy = {"headline": "Stay Dry Stay Bold", "price": "$89"}
    proof = proof_of(copy, "Stay Dry", "$89", "Stay Bold")
    assert proof.verdict is Verdict.PASS


def test_merged_and_added_spaces_pass() -> None:
    proof = proof_of(POSTER, "RunPast Sun rise", "Pre-ordernow")
    assert proof.verdict is Verdict.PASS


def test_case_unicode_forms_and_quiet_punctuation_pass() -> None:
    # Given copy with curly quotes, a middle dot and composed accents, read in capitals with
    # straight quotes and decomposed accents
    copy = {"headline": "Cold. Smooth. “Yours”!", "store": "Café · Lumière"}
    proof = proof_of(copy, 'COLD SMOOTH "YOURS"', "CAFE\u0301 LUMIE\u0300RE")
    assert proof.verdict is Verdict.PASS


def test_a_missing_accent_fails() -> None:
    proof = proof_of({"store": "Café Lumière"}, "Cafe Lumière")
    assert field(proof, "store").problems == ("'Cafe' where 'Café'",)


def test_arabic_is_unchecked_when_the_reader_cannot_read_it() -> None:
    # Given Arabic copy and a reader without Arabic, Then the field is unchecked, never failed
    copy = {"headline": "تخفيضات الصيف", "cta": "Shop now"}
    proof = proof_of(copy, "Shop now")
    assert field(proof, "headline").verdict is Verdict.UNCHECKED
    assert field(proof, "cta").verdict is Verdict.PASS
    assert proof.verdict is Verdict.UNCHECKED


def test_emoji_are_left_out_and_copy_of_emoji_alone_is_unchecked() -> None:
    copy = {"headline": "Weatherproof Weekends ☔", "badge": "🔥🔥"}
    proof = proof_of(copy, "Weatherproof Weekends")
    assert field(proof, "headline").verdict is Verdict.PASS
    assert field(proof, "badge").verdict is Verdict.UNCHECKED


def test_chinese_is_judged_without_spaces() -> None:
    copy = {"headline": "夏日特惠", "price": "¥39.90"}
    assert proof_of(copy, "夏日 特惠", "¥39.90").verdict is Verdict.PASS
    wrong = proof_of(copy, "夏日特价", "¥39.90")
    assert field(wrong, "headline").verdict is Verdict.FAIL
    assert field(wrong, "headline").problems == ("'夏日特价' where '夏日特惠'",)


def test_a_chinese_field_inside_a_longer_line_passes() -> None:
    # Unspaced scripts have no word edges to respect
    assert proof_of({"cta": "立即购买"}, "现在立即购买吧").verdict is Verdict.PASS


@pytest.mark.parametrize(
    ("copy", "read", "problem"),
    [
        ("SALE", "WHOLESALE PRICES", "'WHOLESALE' where 'SALE'"),
        ("Sun", "Sunrise", "'Sunrise' where 'Sun'"),
        ("$5", "$5.50", "'$5.50' where '$5'"),
    ],
)
def test_a_field_hidden_inside_another_word_fails(copy: str, read: str, problem: str) -> None:
    proof = proof_of({"offer": copy}, read)
    assert field(proof, "offer").verdict is Verdict.FAIL
    assert field(proof, "offer").problems == (problem,)


def test_a_short_field_does_not_take_the_words_of_a_longer_one() -> None:
    # Given a cta whose words are also the headline's, and no cta in the image
    copy = {"cta": "Summer Sale", "headline": "The Big Summer Sale"}
    proof = proof_of(copy, "The Big Summer Sale")
    # Then the headline passes and the cta, read nowhere else, fails
    assert field(proof, "headline").verdict is Verdict.PASS
    assert field(proof, "cta").verdict is Verdict.FAIL
    assert field(proof, "cta").problems == ("'Summer Sale' read only as part of another field",)


def test_nothing_read_fails_every_field_it_could_read() -> None:
    proof = proof_of(POSTER)
    assert proof.verdict is Verdict.FAIL
    assert [f.problems for f in proof.fields] == [
        ("missing 'Run Past Sunrise'",),
        ("missing 'Pre-order now'",),
    ]


@pytest.mark.parametrize("read", ["Mo-Sa 6:00-18:00", "MO - SA 6:00 - 18:00", "Mo–Sa 6:00 – 18:00"])
def test_a_range_passes_with_or_without_spaces_around_its_dash(read: str) -> None:
    assert proof_of({"hours": "Mo–Sa 6:00–18:00"}, read).verdict is Verdict.PASS


def test_a_range_without_its_dash_fails() -> None:
    proof = proof_of({"hours": "6:00–18:00"}, "6:00 18:00")
    assert field(proof, "hours").verdict is Verdict.FAIL


def test_two_letters_swapped_are_named_as_the_word_read() -> None:
    proof = proof_of({"venue": "Central Park Bandshell"}, "Central Pakr Bandshell")
    assert field(proof, "venue").problems == ("'Pakr' where 'Park'",)

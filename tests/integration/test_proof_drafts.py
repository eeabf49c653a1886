"""Drafts proofed by the real reader (PP-OCRv6 on onnxruntime) and the judge (docs/design.md §7):
a draft is a true layout proof, so every built-in template's draft passes its own proof, and
a draft drawn with wrong copy fails against the right copy. About a second or two per image
on one core; the reader is loaded once for the module."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from placard.domain.jobs import Mode
from placard.domain.proofs import Proof, Verdict
from placard.domain.templates import Catalogue, Template, default_catalogue
from placard.proofing.judge import judge
from placard.proofing.reader import OnnxReader
from placard.providers.draft_render import layout, render_generate

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "summer-campaign.csv"
# Copy for the templates the sample sheet leaves out, every optional field filled.
MORE_SAMPLES = {
    "event-poster": {
        "event_name": "Harbour Lights Festival",
        "date": "Sat 12 June 2026, 7pm",
        "venue": "Pier 4, Bristol",
        "cta": "Tickets from £15",
    },
    "storefront-sign": {
        "store_name": "The Green Grocer",
        "message": "Now open on Sundays",
        "hours": "Daily 10:00–22:00",
    },
    "shelf-price-sign": {
        "product": "Organic Whole Milk 1L",
        "price": "$4.50",
        "unit": "$1.13/qt",
        "promo": "Buy 2, save 10%",
    },
}
GENERATE = sorted(name for name, t in default_catalogue().items() if t.mode is Mode.GENERATE)


def sample_rows() -> dict[str, dict[str, str]]:
    """Each template's fullest row of the sample sheet, then the samples above."""
    rows: dict[str, dict[str, str]] = {}
    with SAMPLES.open(encoding="utf-8", newline="") as sheet:
        for row in csv.DictReader(sheet):
            filled = {k: v for k, v in row.items() if v}
            if len(filled) > len(rows.get(row["template"], {})):
                rows[row["template"]] = filled
    return rows | MORE_SAMPLES


@pytest.fixture(scope="module")
def reader() -> OnnxReader:
    loaded = OnnxReader()
    loaded.load()
    return loaded


def copy_of(template: Template, given: dict[str, str]) -> list[tuple[str, str]]:
    return template.texts(template.values(given))


def proof(
    reader: OnnxReader,
    template: Template,
    right: list[tuple[str, str]],
    drawn: list[tuple[str, str]],
    size: tuple[int, int] = (1024, 1024),
) -> Proof:
    """The draft of `drawn` read back and judged against `right`."""
    image = render_generate(*size, template.name, drawn, seed=f"proof-{template.name}")
    return judge(right, reader.read(image), reader.reads)


def verdicts(result: Proof) -> dict[str, Verdict]:
    return {f.name: f.verdict for f in result.fields}


@pytest.mark.parametrize("name", GENERATE)
def test_a_draft_of_every_built_in_template_passes_its_own_proof(
    reader: OnnxReader, catalogue: Catalogue, name: str
) -> None:
    # Given a template's sample copy, every optional field filled, drawn at its default size
    template = catalogue[name]
    copy = copy_of(template, sample_rows()[name])
    assert [field for field, _ in copy] == list(template.text)
    assert template.default_size is not None
    size = (template.default_size.width, template.default_size.height)
    # When the draft is read back and judged
    result = proof(reader, template, copy, copy, size)
    # Then every field passes, and what was read is the copy
    assert result.verdict is Verdict.PASS, result.detail
    assert all(f.read for f in result.fields)


@pytest.mark.parametrize(
    ("name", "field", "wrong", "problem"),
    [
        ("launch-poster", "headline", "Run Past Sunrlse", "'Sunrlse' where 'Sunrise'"),
        ("launch-poster", "tagline", None, "missing 'Grip that holds on wet rock'"),
        ("shelf-price-sign", "price", "$4.80", "$4.80 where $4.50"),
        ("event-poster", "date", "Sat 13 June 2026, 7pm", "13 where 12"),
        ("social-square", "offer", "2 for 5", "missing '€'"),
    ],
    ids=["misspelt-word", "missing-line", "wrong-price", "wrong-date", "missing-euro"],
)
def test_a_draft_drawn_with_wrong_copy_fails_against_the_right_copy(
    reader: OnnxReader,
    catalogue: Catalogue,
    name: str,
    field: str,
    wrong: str | None,
    problem: str,
) -> None:
    # Given the right copy, and a draft of it with one field wrong (None: the line left out)
    template = catalogue[name]
    right = copy_of(template, sample_rows()[name])
    drawn = [(f, v) for f, v in right if f != field]
    if wrong is not None:
        drawn.insert([f for f, _ in right].index(field), (field, wrong))
    # When the draft is judged against the right copy
    result = proof(reader, template, right, drawn)
    # Then that field fails, saying what is wrong, and the others pass
    assert result.verdict is Verdict.FAIL
    failed = {f.name: f.problems for f in result.fields if f.verdict is not Verdict.PASS}
    assert failed == {field: (problem,)}, result.detail


def test_german_umlauts_and_french_accents_pass(reader: OnnxReader, catalogue: Catalogue) -> None:
    template = catalogue["storefront-sign"]
    copy = copy_of(
        template,
        {
            "store_name": "Bäckerei Müller",
            "message": "Crème brûlée à volonté, déjà là",
            "hours": "Öffnungszeiten: Mo–Sa 6:00–18:00",
        },
    )
    result = proof(reader, template, copy, copy, (1536, 1024))
    assert result.verdict is Verdict.PASS, result.detail
    assert [f.read for f in result.fields][:2] == [
        "Bäckerei Müller",
        "Crème brûlée à volonté, déjà là",
    ]


def test_a_dropped_umlaut_fails(reader: OnnxReader, catalogue: Catalogue) -> None:
    template = catalogue["storefront-sign"]
    right = copy_of(template, {"store_name": "Bäckerei Müller", "message": "Frische Brötchen"})
    drawn = [("store_name", "Bäckerei Muller"), ("message", "Frische Brötchen")]
    result = proof(reader, template, right, drawn, (1536, 1024))
    assert verdicts(result) == {"store_name": Verdict.FAIL, "message": Verdict.PASS}
    assert result.fields[0].problems == ("'Muller' where 'Müller'",)


def test_arabic_copy_is_unchecked_never_failed(reader: OnnxReader, catalogue: Catalogue) -> None:
    # Given a banner whose headline is Arabic, a script the reader's models do not know
    template = catalogue["banner-wide"]
    copy = copy_of(
        template, {"product": "Nimbus rain jacket", "headline": "تخفيضات الصيف", "cta": "Shop now"}
    )
    # When its draft is proofed
    result = proof(reader, template, copy, copy, (1536, 1024))
    # Then the Arabic is unchecked, the Latin passes, and the image is unchecked, not failed
    assert verdicts(result) == {"headline": Verdict.UNCHECKED, "cta": Verdict.PASS}
    assert result.verdict is Verdict.UNCHECKED


def test_chinese_copy_is_judged(reader: OnnxReader, catalogue: Catalogue) -> None:
    # Given a Chinese shelf sign (the draft needs a CJK font: CI installs one)
    template = catalogue["shelf-price-sign"]
    copy = copy_of(template, {"product": "有机全脂牛奶", "price": "¥12.80", "promo": "第二件半价"})
    assert not any("no font" in line.text for line in layout(1024, 1024, template.name, copy))
    assert all(reader.reads(value) for _, value in copy)  # the recogniser knows Chinese
    # When its draft is proofed, right and with a wrong character
    right = proof(reader, template, copy, copy)
    wrong = proof(reader, template, copy, [("product", "有机全脂奶粉"), *copy[1:]])
    # Then the right draft passes and the wrong one fails on that field
    assert right.verdict is Verdict.PASS, right.detail
    assert verdicts(wrong) == {
        "product": Verdict.FAIL,
        "price": Verdict.PASS,
        "promo": Verdict.PASS,
    }

"""The offline draft renderer: sizes, determinism, copy that always fits, edits in a box."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from PIL import Image, ImageChops

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Mode
from placard.domain.templates import Catalogue, Template, default_catalogue
from placard.providers.draft_render import PlacedLine, layout, render_edit, render_generate

TEXTS = [
    ("headline", "Run Past Sunrise"),
    ("subhead", "The new Aurora trail shoe: light, grippy, ready for the long way home."),
    ("cta", "Pre-order now"),
]
UNICODE = "Straßenfest ☔ 3–5 octobre 日本語 🎉 שלום"
LONG_COPY = [
    ("headline", " ".join(["Unbelievable"] * 33)),  # ~430 characters
    ("code", "X" * 200),  # one word, far wider than any line
    ("cjk", "日本語のテキスト" * 40),  # no spaces at all
    *[
        (f"body{i}", ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18).strip())
        for i in range(7)
    ],
]  # 10 fields


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _png(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _recovers(full: str, lines: Sequence[str]) -> bool:
    """Lines rejoined, a space put back wherever the original had one at the wrap point."""
    position = 0
    for line in lines:
        if not full.startswith(line, position):
            return False
        position += len(line)
        if position < len(full) and full[position] == " ":
            position += 1
    return position == len(full)


def _overlap(a: PlacedLine, b: PlacedLine) -> bool:
    (al, at, ar, ab), (bl, bt, br, bb) = a.box, b.box
    return al < br and bl < ar and at < bb and bt < ab


def _assert_fits(
    width: int, height: int, lines: list[PlacedLine], texts: Sequence[tuple[str, str]]
) -> None:
    margin = round(min(width, height) * 0.06)
    for line in lines:
        left, top, right, bottom = line.box
        assert 0 <= left <= right <= width and 0 <= top <= bottom <= height, line
        assert margin <= left and right <= width - margin, line
        assert margin <= top and bottom <= height - margin, line
        assert line.font_size >= 4, line
    for index, line in enumerate(lines):
        for other in lines[index + 1 :]:
            assert not _overlap(line, other), (line, other)
    for field, value in texts:
        field_lines = [line.text for line in lines if line.field == field]
        assert _recovers(_normalised(value), field_lines), field


@pytest.mark.parametrize(
    ("width", "height"), [(1024, 1536), (1536, 1024), (1024, 1024), (3840, 2160), (64, 64)]
)
def test_given_a_size_when_rendering_then_the_png_has_exactly_that_size(
    width: int, height: int
) -> None:
    # Given a canvas size and ordinary copy
    # When a proof is rendered
    image = _decode(render_generate(width, height, "poster", TEXTS, seed="job-1#0"))
    # Then it is a PNG of exactly that size
    assert image.format == "PNG"
    assert image.size == (width, height)


def test_given_the_same_input_when_rendering_twice_then_the_bytes_are_identical() -> None:
    # Given one job's inputs / When rendered twice
    first = render_generate(1024, 1536, "poster", TEXTS, seed="job-1#0")
    second = render_generate(1024, 1536, "poster", TEXTS, seed="job-1#0")
    # Then byte for byte the same
    assert first == second


def test_given_another_seed_when_rendering_then_the_bytes_differ() -> None:
    # Given the same copy under two seeds / When rendered
    first = render_generate(1024, 1024, "poster", TEXTS, seed="job-1#0")
    second = render_generate(1024, 1024, "poster", TEXTS, seed="job-1#1")
    # Then the proofs differ (the background is drawn from the seed)
    assert first != second


def test_given_ordinary_copy_when_laid_out_then_it_fits_and_the_first_field_is_largest() -> None:
    # Given three fields / When laid out on a tall poster
    lines = layout(1024, 1536, "poster", TEXTS)
    # Then everything fits, and the headline is set larger than the rest
    _assert_fits(1024, 1536, lines, TEXTS)
    sizes = {line.field: line.font_size for line in lines}
    assert sizes["headline"] > sizes["subhead"] and sizes["headline"] > sizes["cta"]
    assert sizes["headline"] >= 60  # short copy is set large, not timidly


@pytest.mark.parametrize(("width", "height"), [(1024, 1536), (1536, 1024), (1024, 1024)])
def test_given_long_copy_when_laid_out_then_every_line_fits_without_overlap_or_loss(
    width: int, height: int
) -> None:
    # Given a 430-character headline, a 200-character word, CJK without spaces, 10 fields
    # When laid out
    lines = layout(width, height, "poster", LONG_COPY)
    # Then every box is inside canvas and margins, none overlap, no character is lost
    _assert_fits(width, height, lines, LONG_COPY)
    assert {line.field for line in lines} >= {field for field, _ in LONG_COPY}


def test_given_a_word_wider_than_the_line_when_laid_out_then_it_is_broken_by_characters() -> None:
    # Given a single 200-character word alone
    texts = [("code", "W" * 200)]
    # When laid out
    lines = layout(1024, 1024, "poster", texts)
    code = [line for line in lines if line.field == "code"]
    # Then it spans several lines that rejoin to the word
    assert len(code) > 1
    assert "".join(line.text for line in code) == "W" * 200
    _assert_fits(1024, 1024, lines, texts)


def test_given_a_template_name_when_laid_out_then_the_draft_caption_names_it() -> None:
    # Given a template name / When laid out
    lines = layout(1536, 1024, "summer-poster", TEXTS)
    # Then a caption line (field "") says it is a draft of that template
    captions = [line for line in lines if line.field == ""]
    assert [line.text for line in captions] == ["DRAFT · summer-poster"]
    _assert_fits(1536, 1024, lines, TEXTS)


def test_given_empty_values_when_laid_out_then_they_are_skipped() -> None:
    # Given an empty and a blank field / When laid out
    lines = layout(1024, 1024, "poster", [("headline", "Hello"), ("a", ""), ("b", " \n\t ")])
    # Then they produce no lines
    assert {line.field for line in lines} == {"", "headline"}


def test_given_unicode_copy_when_rendering_and_laying_out_then_nothing_raises() -> None:
    # Given accents, dashes, symbols, CJK, emoji, Hebrew, a combining mark, a lone surrogate
    texts = [("headline", UNICODE), ("cta", "€ 5,– Eintritt a\u0301 \ud800 \u200b")]
    # When laid out and rendered
    lines = layout(1536, 1024, "signage ☔", texts)
    image = _decode(render_generate(1536, 1024, "signage ☔", texts, seed="ü"))
    # Then the copy is all there and the canvas is intact
    assert image.size == (1536, 1024)
    assert _recovers(UNICODE, [line.text for line in lines if line.field == "headline"])


def _source(width: int = 600, height: int = 400) -> Image.Image:
    """A busy, deterministic picture: every pixel differs from its neighbours."""
    data = bytes(
        channel
        for y in range(height)
        for x in range(width)
        for channel in ((x * 7) % 256, (y * 5) % 256, (x + y) % 256)
    )
    return Image.frombytes("RGB", (width, height), data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_given_a_source_when_editing_a_box_then_only_the_box_changes(fmt: str) -> None:
    # Given a busy source image and a box
    encoded = _png(_source(), fmt)
    source = _decode(encoded).convert("RGB")
    box = (100, 150, 300, 120)  # x, y, w, h
    # When new copy is painted into the box
    copy = [("cta", "Jetzt vorbestellen"), ("small", "bis Freitag")]
    edited = _decode(render_edit(encoded, box, copy))
    # Then it is a PNG of the same size, unchanged outside the box, changed inside
    assert edited.format == "PNG" and edited.size == source.size
    edited = edited.convert("RGB")
    x, y, w, h = box
    outside = Image.new("L", source.size, 255)
    outside.paste(0, (x, y, x + w, y + h))
    difference = ImageChops.difference(source, edited)
    assert ImageChops.multiply(difference.convert("L"), outside).getbbox() is None
    inside = difference.crop((x, y, x + w, y + h)).convert("L")
    changed = w * h - inside.histogram()[0]
    assert changed > 0.5 * w * h


def test_given_a_box_when_editing_then_the_box_holds_sampled_fill_and_dark_or_light_ink() -> None:
    # Given a flat light source / When copy is painted into a box
    source = Image.new("RGB", (400, 300), (230, 220, 200))
    edited = _decode(render_edit(_png(source), (50, 50, 300, 100), [("h", "Hello")]))
    region = edited.convert("RGB").crop((50, 50, 350, 150))
    colours = {c for _, c in region.getcolors(300 * 100) or [] if isinstance(c, tuple)}
    # Then the box is filled with the surrounding colour, and the copy is in dark ink
    assert (230, 220, 200) in colours
    assert min(sum(colour) for colour in colours) < 150


def test_given_transparency_when_editing_then_alpha_outside_the_box_is_kept() -> None:
    # Given a half-transparent RGBA source
    source = Image.new("RGBA", (200, 200), (10, 200, 30, 128))
    # When a box is edited
    edited = _decode(render_edit(_png(source), (20, 20, 160, 60), [("h", "Neu")]))
    # Then the alpha channel survives outside the box
    assert edited.mode == "RGBA"
    assert edited.getpixel((5, 5)) == (10, 200, 30, 128)
    assert edited.getpixel((190, 190)) == (10, 200, 30, 128)


def test_given_long_copy_when_editing_a_small_box_then_nothing_raises() -> None:
    # Given a small box and long copy with a huge word
    source = _png(_source(300, 200))
    # When edited
    edited = _decode(render_edit(source, (10, 10, 200, 80), LONG_COPY[:2]))
    # Then a picture of the same size comes back
    assert edited.size == (300, 200)


def test_given_bytes_that_are_no_image_when_editing_then_the_error_names_the_source() -> None:
    # Given bytes that are not a picture / When edited / Then InvalidInput about "source"
    with pytest.raises(InvalidInput) as caught:
        render_edit(b"not an image", (0, 0, 10, 10), [("h", "x")])
    assert caught.value.field == "source"


def _longest_copy(template: Template) -> dict[str, str]:
    """Every free-text variable at its longest, in words of wide letters."""
    return {
        v.name: ("Wombat " * 20)[: (v.max_length or 40) - 1].rstrip() + "."
        for v in template.variables.values()
        if v.pattern is None
    }


GENERATE = sorted(name for name, t in default_catalogue().items() if t.mode is Mode.GENERATE)


@pytest.mark.parametrize("name", GENERATE)
def test_given_every_field_of_a_template_at_its_longest_then_each_is_set_legibly(
    catalogue: Catalogue, name: str
) -> None:
    # Given a built-in template with every text field filled to its maximum length
    template = catalogue[name]
    texts = template.texts(template.values(_longest_copy(template)))
    assert [field for field, _ in texts] == list(template.text)
    assert template.default_size is not None
    for width, height in {
        (template.default_size.width, template.default_size.height),
        (1024, 1024),
    }:
        # When laid out at its default size and at 1024x1024
        lines = layout(width, height, name, texts)
        # Then every field is set, fits, keeps its words whole, and none is set small
        _assert_fits(width, height, lines, texts)
        for field, value in texts:
            set_lines = [line for line in lines if line.field == field]
            assert " ".join(line.text for line in set_lines) == value, (name, field)
            assert min(line.font_size for line in set_lines) >= 30, (name, field, width, height)


def test_given_a_word_that_fits_a_smaller_size_when_laid_out_then_it_is_not_broken() -> None:
    # Given a headline word that would be broken at the largest size that fits the block
    texts = [("headline", "Weatherproof Weekends"), ("cta", "Shop now")]
    # When laid out on a square
    lines = layout(1024, 1024, "banner-wide", texts)
    # Then it is set smaller, whole
    assert [line.text for line in lines if line.field == "headline"] == [
        "Weatherproof",
        "Weekends",
    ]

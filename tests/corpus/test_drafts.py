"""Corpus: draft proofs of copy beyond Latin (right to left, emoji, marks, CJK, very long).

The draft provider sets the copy in real type. Right-to-left copy must read right to left
with Arabic letters joined (Pillow's RAQM layout), emoji must be drawn in colour (Noto Color
Emoji), and whatever cannot be drawn as it should here must be said, never drawn as boxes
without a word or dropped. Each test names the copy and the answer.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, features

from placard.providers import draft_render
from placard.providers.draft_render import PlacedLine, layout, render_edit, render_generate

WIDTH, HEIGHT = 1536, 1024  # banner-wide: a short headline set at full size fits one line
BOLD = draft_render.FONT_DIR / "DejaVuSans-Bold.ttf"
SAVE = os.environ.get("PLACARD_DRAFT_CORPUS_OUT")  # set to a directory to look at the PNGs

HEBREW = "שלום (עולם)"  # the parentheses mirror only when laid out right to left
ARABIC = "مرحبا بالعالم"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ ...
PARTY = "\U0001f389"


@pytest.fixture(autouse=True)
def fresh_typesetting() -> Iterator[None]:
    """Each test sees this machine's fonts and engine as found now (some monkeypatch them)."""
    draft_render.typesetting.cache_clear()
    yield
    draft_render.typesetting.cache_clear()


@pytest.fixture
def shaping() -> None:
    """The cases about shaping need RAQM; without it they fail with what to install."""
    if not features.check("raqm"):
        pytest.fail("Pillow has no RAQM layout here: install libfribidi0 (.ci/run does)")


@pytest.fixture
def emoji_font() -> None:
    if draft_render.typesetting().emoji is None:
        pytest.fail("no colour emoji font: install fonts-noto-color-emoji (.ci/run does)")


def _render(texts: list[tuple[str, str]], name: str) -> tuple[Image.Image, list[PlacedLine]]:
    data = render_generate(WIDTH, HEIGHT, "poster", texts, seed="corpus")
    if SAVE:
        Path(SAVE, f"{name}.png").write_bytes(data)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB"), layout(WIDTH, HEIGHT, "poster", texts)


def _copy_lines(lines: list[PlacedLine]) -> list[PlacedLine]:
    return [line for line in lines if line.field]


def _notes(lines: list[PlacedLine]) -> list[str]:
    """The caption lines after "DRAFT · poster": what the draft says it could not draw."""
    return [line.text for line in lines if not line.field][1:]


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Mask (L, 0/255) of what is drawn in box, cropped to its ink: pixels far from their
    row's background (a vertical gradient; column 1 is outside the frame, never inked)."""
    left, top, right, bottom = box
    background = Image.new("RGB", (right - left, bottom - top))
    for row in range(bottom - top):
        background.paste(image.getpixel((1, top + row)), (0, row, right - left, row + 1))
    difference = ImageChops.difference(image.crop(box), background).convert("L")
    mask = difference.point(lambda v: 255 if v > 60 else 0)
    return mask.crop(mask.getbbox())  # the font's box is a little larger than its ink


def _pillow_raqm(
    text: str, size: int, direction: str | None, shape: tuple[int, int]
) -> Image.Image:
    """Pillow's own drawing of text (DejaVu Sans Bold), cropped to its ink, scaled to shape."""
    engine = ImageFont.Layout.RAQM if direction else ImageFont.Layout.BASIC
    font = ImageFont.truetype(str(BOLD), size, layout_engine=engine)
    canvas = Image.new("L", (size * (len(text) + 2), size * 3))
    ImageDraw.Draw(canvas).text((size, size), text, font=font, fill=255, direction=direction)
    cropped = canvas.crop(canvas.getbbox())
    return cropped.resize(shape).point(lambda v: 255 if v > 128 else 0)


def _overlap(a: Image.Image, b: Image.Image) -> float:
    """Intersection over union of two masks of the same size."""
    both = ImageChops.logical_and(a.convert("1"), b.convert("1")).histogram()[-1]
    either = ImageChops.logical_or(a.convert("1"), b.convert("1")).histogram()[-1]
    return both / either


def _colourful(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Share of the box in vivid colour (max - min channel > 100): emoji, not ink or ground
    (the palettes' chroma stays below 60)."""
    region = image.crop(box)
    pixels = region.get_flattened_data()
    return sum(1 for p in pixels if max(p) - min(p) > 100) / max(1, len(pixels))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEBREW, id="hebrew-is-drawn-right-to-left-with-mirrored-parentheses"),
        pytest.param(ARABIC, id="arabic-is-drawn-right-to-left-with-joined-letters"),
    ],
)
@pytest.mark.usefixtures("shaping")
def test_right_to_left_copy_is_drawn_as_pillows_raqm_draws_it(text: str) -> None:
    # Given a headline in a right-to-left script
    # When a draft is rendered
    image, lines = _render([("headline", text)], f"rtl-{text[:2]}")
    (line,) = _copy_lines(lines)
    drawn = _ink(image, line.box)
    # Then its ink is Pillow's own RAQM drawing of the words right to left (joined, mirrored),
    # unlike what Pillow's BASIC engine draws (letters apart, left to right)
    assert _overlap(drawn, _pillow_raqm(text, line.font_size, "rtl", drawn.size)) > 0.8
    assert _overlap(drawn, _pillow_raqm(text, line.font_size, None, drawn.size)) < 0.6
    # and the draft has nothing to apologise for
    assert _notes(lines) == []


@pytest.mark.usefixtures("emoji_font")
def test_copy_of_only_emoji_is_drawn_in_colour() -> None:
    # Given copy that is nothing but emoji
    # When a draft is rendered
    image, lines = _render([("headline", PARTY * 3)], "only-emoji")
    (line,) = _copy_lines(lines)
    # Then the emoji's box is in colour (Noto Color Emoji), with no note of missing glyphs
    assert _colourful(image, line.box) > 0.15
    assert _notes(lines) == []


@pytest.mark.parametrize(
    ("text", "emoji_side"),
    [
        pytest.param(f"Sale שלום {PARTY}", "right", id="left-to-right-line-emoji-at-the-right"),
        pytest.param(f"שלום Sale {PARTY}", "left", id="right-to-left-line-emoji-at-the-left"),
    ],
)
@pytest.mark.usefixtures("shaping", "emoji_font")
def test_mixed_directions_and_emoji_are_ordered_by_the_line_direction(
    text: str, emoji_side: str
) -> None:
    # Given Latin, Hebrew and an emoji on one line, starting with one or the other script
    # When a draft is rendered
    image, lines = _render([("headline", text)], f"mixed-{emoji_side}")
    (line,) = _copy_lines(lines)
    left, top, right, bottom = line.box
    fifth = (right - left) // 5
    left_end = (left, top, left + fifth, bottom)
    right_end = (right - fifth, top, right, bottom)
    # Then the emoji (the only colour) ends the line on the side the first script reads
    # towards: right in a left-to-right line, left in a right-to-left one
    at_end, other = (right_end, left_end) if emoji_side == "right" else (left_end, right_end)
    assert _colourful(image, at_end) > 0.1
    assert _colourful(image, other) == 0


@pytest.mark.usefixtures("shaping", "emoji_font")
def test_a_zero_width_joiner_family_is_one_glyph_and_never_split_by_wrapping() -> None:
    # Given the family emoji (four people joined by ZWJ) alone, and thirty in a row
    single = layout(WIDTH, HEIGHT, "poster", [("headline", FAMILY)])
    one_person = layout(WIDTH, HEIGHT, "poster", [("headline", FAMILY[0])])
    _, lines = _render([("headline", FAMILY * 30)], "zwj-family")
    # Then the family is as wide as one person (one glyph, not four)
    (family_line,), (person_line,) = _copy_lines(single), _copy_lines(one_person)
    assert family_line.box[2] - family_line.box[0] == person_line.box[2] - person_line.box[0]
    # and the thirty are wrapped between families only, all in colour
    wrapped = _copy_lines(lines)
    assert len(wrapped) > 1
    assert "".join(line.text for line in wrapped) == FAMILY * 30
    assert all(line.text == FAMILY * (len(line.text) // len(FAMILY)) for line in wrapped)
    # drawn by the emoji font (Noto draws families as grey tiles: no saturation to check)
    assert _notes(lines) == []


def test_combining_accents_stay_on_their_letter_when_a_word_is_broken() -> None:
    # Given a word of 300 letters each with a combining accent (no precomposed form: q́)
    word = "q\u0301" * 300
    # When it is laid out and rendered (it is far wider than a line)
    _, lines = _render([("headline", word)], "combining")
    broken = _copy_lines(lines)
    # Then it is broken between letters, never between a letter and its accent
    assert len(broken) > 1
    assert "".join(line.text for line in broken) == word
    assert all(line.text.startswith("q") and line.text.endswith("\u0301") for line in broken)
    # and the accent is drawn above the letter: the line is taller than a bare q
    size = broken[0].font_size
    _, q_top, _, q_bottom = ImageFont.truetype(str(BOLD), size).getbbox("q")
    assert broken[0].box[3] - broken[0].box[1] > q_bottom - q_top + size * 0.15
    assert _notes(lines) == []


def test_cjk_without_a_cjk_font_is_drawn_as_boxes_and_the_draft_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a machine with no CJK font (DejaVu has no kanji) and Japanese copy
    monkeypatch.setattr(draft_render, "FALLBACK_FONT_PATHS", ())
    texts = [("headline", "日本語のセール"), ("cta", "Buy 今すぐ")]
    # When a draft is rendered
    with caplog.at_level(logging.WARNING, logger=draft_render.__name__):
        image, lines = _render(texts, "cjk-no-font")
    # Then the copy is all there (its place kept by the fonts' missing-glyph boxes), and a
    # second caption line and the log name the characters and what to install
    assert [line.text for line in _copy_lines(lines)] == ["日本語のセール", "Buy 今すぐ"]
    (note,) = _notes(lines)
    assert note == "no font for U+65E5 U+672C U+8A9E +7: drawn as boxes; install fonts-noto-cjk"
    assert note in caplog.text
    assert image.size == (WIDTH, HEIGHT)


def test_emoji_without_an_emoji_font_keep_their_place_and_the_draft_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a machine without a colour emoji font (Lambda's image has none)
    monkeypatch.setattr(draft_render, "EMOJI_FONT_PATHS", ())
    # When copy with emoji is rendered
    with caplog.at_level(logging.WARNING, logger=draft_render.__name__):
        image, lines = _render([("headline", f"Party {PARTY}{FAMILY}")], "emoji-no-font")
    # Then nothing is dropped: the emoji are boxes, and the draft says which and what to install
    (line,) = _copy_lines(lines)
    assert line.text == f"Party {PARTY}{FAMILY}"
    assert _colourful(image, line.box) == 0
    assert _notes(lines) == [
        "no font for U+1F389 U+1F468: drawn as boxes; install fonts-noto-color-emoji"
    ]
    assert "install fonts-noto-color-emoji" in caplog.text


@pytest.mark.parametrize(
    ("unit", "joiner"),
    [
        pytest.param(f"Sale 50% שלום {ARABIC} {PARTY} ", " ", id="words-in-three-scripts-fit"),
        pytest.param(f"a{PARTY}ש", "", id="one-word-of-letters-and-emoji-is-broken-and-fits"),
        pytest.param("🇫🇷", "", id="one-word-of-flags-is-broken-between-flags-and-fits"),
    ],
)
def test_a_line_of_2000_characters_fits_the_canvas(unit: str, joiner: str) -> None:
    # Given one field of 2,000 characters: Latin, Hebrew, Arabic, emoji and digits mixed,
    # with spaces or none at all (Pillow measures emoji one bitmap at a time: kept linear)
    text = (unit * (2000 // len(unit) + 1))[:2000].strip()
    # When it is laid out and rendered
    image, lines = _render([("headline", text)], f"long-2000-{len(unit)}")
    copy = _copy_lines(lines)
    # Then every line lies inside the margins, lines do not overlap, nothing is lost
    margin = round(min(WIDTH, HEIGHT) * 0.06)
    for line in copy:
        left, top, right, bottom = line.box
        assert (
            margin <= left <= right <= WIDTH - margin and margin <= top <= bottom <= HEIGHT - margin
        )
    assert all(a.box[3] <= b.box[1] for a, b in itertools.pairwise(copy))
    assert joiner.join(line.text for line in copy) == text
    assert all(not line.text.startswith("\U0001f1f7") for line in copy)  # no flag cut in two
    assert image.size == (WIDTH, HEIGHT)


def test_without_raqm_the_draft_still_renders_and_says_the_copy_is_unshaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a Pillow without RAQM (Lambda's python image may lack libfribidi)
    real_check = features.check
    monkeypatch.setattr(features, "check", lambda name: name != "raqm" and real_check(name))
    texts = [("headline", ARABIC), ("cta", f"{HEBREW} {FAMILY}")]
    # When a draft is rendered
    image, lines = _render(texts, "no-raqm")
    # Then the BASIC engine draws it, all the copy is there, and the draft says it is unshaped
    assert draft_render.typesetting().engine == ImageFont.Layout.BASIC
    assert image.size == (WIDTH, HEIGHT)
    assert [line.text for line in _copy_lines(lines)] == [ARABIC, f"{HEBREW} {FAMILY}"]
    assert _notes(lines) == ["copy not shaped (Pillow lacks libraqm): Arabic unjoined, emoji apart"]


@pytest.mark.usefixtures("shaping", "emoji_font")
def test_an_edit_box_gets_right_to_left_copy_and_emoji_and_nothing_outside_changes() -> None:
    # Given a flat photo and a box
    source = Image.new("RGB", (600, 400), (235, 235, 230))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    box = (50, 100, 500, 200)
    # When Arabic copy with an emoji is painted into it
    edited = Image.open(
        io.BytesIO(render_edit(buffer.getvalue(), box, [("h", f"{ARABIC} {PARTY}")]))
    )
    edited = edited.convert("RGB")
    if SAVE:
        edited.save(Path(SAVE, "edit-rtl-emoji.png"))
    # Then the box holds dark ink and a coloured emoji, and outside it the photo is untouched
    x, y, w, h = box
    assert _colourful(edited, (x, y, x + w, y + h)) > 0.01
    outside = ImageChops.difference(source, edited)
    outside.paste((0, 0, 0), (x, y, x + w, y + h))
    assert outside.getbbox() is None

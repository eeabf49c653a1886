"""The offline "draft" renderer: a layout proof of the copy, set in real type.

Nothing here talks to a network. `layout` decides where every line of every text field
goes; `render_generate` paints that onto a calm background with a frame and a
"DRAFT · <template>" caption; `render_edit` paints new copy into a box of an existing
image. Same inputs give byte-identical PNGs: the bundled DejaVu fonts are used with
Pillow's BASIC layout engine (no dependence on libraqm), and PNGs are written without
metadata.

Guarantees of the layout (as long as the copy fits at all at the 4 px minimum size, which
is true for any realistic copy on a canvas of 1024 px or more): every line box lies inside
the margins, no two line boxes overlap, and a field's lines, rejoined, give back the
field's whitespace-normalised text. Words wider than a line are broken between characters.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageStat, UnidentifiedImageError

from placard.errors import InvalidInput

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
_BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"
_REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"

MIN_FONT_SIZE = 4
MAX_CANVAS_SIDE = 16384
_MARGIN_RATIO = 0.06  # of the shorter side
_CAPTION_RATIO = 0.018  # caption type size, of the shorter side
_HEADLINE_RATIO = 0.16  # largest headline size, of the shorter side
_FIELD_SCALE = (1.0, 0.5, 0.4)  # type size of field i relative to the first; last repeats
_DRAFT = "DRAFT"
_SEPARATOR = " · "


@dataclass(frozen=True)
class PlacedLine:
    """One line of text on the canvas."""

    field: str  # the text field this line belongs to ("" for the template-name caption)
    text: str  # the line's text as drawn
    box: tuple[int, int, int, int]  # left, top, right, bottom in canvas pixels (ink box)
    font_size: int


@dataclass(frozen=True)
class _Line:
    """A placed line plus what is needed to draw it."""

    placed: PlacedLine
    bold: bool
    origin: tuple[int, int]  # where to draw with anchor "la"


@dataclass(frozen=True)
class _SetLine:
    """A wrapped line before placement: its text and ink box relative to its origin."""

    text: str
    bbox: Box


@dataclass(frozen=True)
class _SetField:
    field: str
    size: int
    bold: bool
    lines: tuple[_SetLine, ...]


# ---------------------------------------------------------------------------------------
# fonts and measuring


@functools.lru_cache(maxsize=256)
def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    path = _BOLD_FONT if bold else _REGULAR_FONT
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=8192)
def _bbox(bold: bool, size: int, text: str) -> Box:
    left, top, right, bottom = _font(bold, size).getbbox(text, anchor="la")
    return int(left), int(top), int(right), int(bottom)


def _ink_width(bold: bool, size: int, text: str) -> int:
    left, _, right, _ = _bbox(bold, size, text)
    return right - left


@functools.lru_cache(maxsize=8192)
def _advance(bold: bool, size: int, text: str) -> float:
    return float(_font(bold, size).getlength(text))


# ---------------------------------------------------------------------------------------
# text normalisation and wrapping


def _normalise(value: str) -> str:
    """Whitespace collapsed to single spaces; lone surrogates become U+FFFD."""
    clean = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return " ".join(clean.split())


def _break_word(word: str, bold: bool, size: int, max_width: int) -> list[str]:
    """Split a word that is wider than a line into pieces that each fit (at least 1 char)."""
    pieces: list[str] = []
    rest = word
    while rest:
        if _ink_width(bold, size, rest) <= max_width:
            pieces.append(rest)
            break
        lo, hi = 1, len(rest) - 1  # the longest prefix that fits is in [1, hi]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _ink_width(bold, size, rest[:mid]) <= max_width:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        # keep combining marks with their base character
        while cut > 1 and unicodedata.combining(rest[cut]):
            cut -= 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces


def _tokens(text: str, bold: bool, size: int, max_width: int) -> list[tuple[str, str]]:
    """(piece, joiner before it): words joined by " ", pieces of a broken word by ""."""
    tokens: list[tuple[str, str]] = []
    for word in text.split(" "):
        if _ink_width(bold, size, word) <= max_width:
            tokens.append((word, " "))
            continue
        for index, piece in enumerate(_break_word(word, bold, size, max_width)):
            tokens.append((piece, " " if index == 0 else ""))
    return tokens


def _join(tokens: Sequence[tuple[str, str]]) -> str:
    return tokens[0][0] + "".join(joiner + piece for piece, joiner in tokens[1:])


def _wrap_exact(
    tokens: Sequence[tuple[str, str]], bold: bool, size: int, max_width: int
) -> list[str]:
    """Greedy wrap measuring every candidate line exactly (the slow, sure path)."""
    lines: list[str] = []
    current = ""
    for piece, joiner in tokens:
        candidate = current + joiner + piece if current else piece
        if current and _ink_width(bold, size, candidate) > max_width:
            lines.append(current)
            current = piece
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _wrap(text: str, bold: bool, size: int, max_width: int) -> list[str]:
    """Greedy word wrap of normalised text; every returned line's ink fits max_width.

    Candidate lines are judged by summed advances (cheap); a line near the limit is measured
    exactly, and a finished line whose ink turns out too wide is re-wrapped exactly.
    """
    space = _advance(bold, size, " ")
    lines: list[str] = []
    current: list[tuple[str, str]] = []
    estimate = 0.0

    def finish() -> None:
        line = _join(current)
        if len(current) == 1 or _ink_width(bold, size, line) <= max_width:
            lines.append(line)
        else:
            lines.extend(_wrap_exact(current, bold, size, max_width))

    for piece, joiner in _tokens(text, bold, size, max_width):
        width = _advance(bold, size, piece)
        if not current:
            current, estimate = [(piece, joiner)], width
            continue
        candidate_estimate = estimate + (space if joiner else 0.0) + width
        if candidate_estimate <= max_width * 0.9 or (
            candidate_estimate <= max_width * 1.05
            and _ink_width(bold, size, _join([*current, (piece, joiner)])) <= max_width
        ):
            current.append((piece, joiner))
            estimate = candidate_estimate
        else:
            finish()
            current, estimate = [(piece, joiner)], width
    if current:
        finish()
    return lines


# ---------------------------------------------------------------------------------------
# setting fields into an area


def _field_size(main_size: int, index: int) -> int:
    scale = _FIELD_SCALE[min(index, len(_FIELD_SCALE) - 1)]
    return max(MIN_FONT_SIZE, round(main_size * scale))


def _pitch(size: int, bold: bool) -> int:
    """Baseline-to-baseline distance; tighter for the bold display line."""
    return max(1, round(size * (1.1 if bold else 1.25)))


def _field_gap(size_before: int, size_after: int) -> int:
    return round(0.45 * size_before + 0.35 * size_after)


def _set_fields(
    fields: Sequence[tuple[str, str]], main_size: int, max_width: int
) -> list[_SetField]:
    out: list[_SetField] = []
    for index, (name, text) in enumerate(fields):
        size = _field_size(main_size, index)
        bold = index == 0
        lines = tuple(
            _SetLine(line, _bbox(bold, size, line)) for line in _wrap(text, bold, size, max_width)
        )
        out.append(_SetField(name, size, bold, lines))
    return out


def _stack(set_fields: Sequence[_SetField]) -> list[tuple[_SetField, _SetLine, int]]:
    """Vertical origins (relative) of every line so that no two ink boxes overlap."""
    placed: list[tuple[_SetField, _SetLine, int]] = []
    previous: tuple[_SetField, int, int] | None = None  # field, origin, lowest ink so far
    for set_field in set_fields:
        for line_index, line in enumerate(set_field.lines):
            top, bottom = line.bbox[1], line.bbox[3]
            if previous is None:
                origin = -top
                lowest = origin + bottom
            else:
                before, before_origin, lowest = previous
                nominal = before_origin + _pitch(before.size, before.bold)
                if line_index == 0:
                    nominal += _field_gap(before.size, set_field.size)
                origin = max(nominal, lowest - top)
            placed.append((set_field, line, origin))
            previous = (set_field, origin, max(lowest, origin + bottom))
    return placed


def _block_height(stacked: Sequence[tuple[_SetField, _SetLine, int]]) -> int:
    if not stacked:
        return 0
    top = min(origin + line.bbox[1] for _, line, origin in stacked)
    bottom = max(origin + line.bbox[3] for _, line, origin in stacked)
    return bottom - top


def _fits(
    fields: Sequence[tuple[str, str]], main_size: int, width: int, height: int
) -> tuple[bool, list[tuple[_SetField, _SetLine, int]]]:
    stacked = _stack(_set_fields(fields, main_size, width))
    ok = _block_height(stacked) <= height and all(
        line.bbox[2] - line.bbox[0] <= width for _, line, _ in stacked
    )
    return ok, stacked


def _place_block(fields: Sequence[tuple[str, str]], area: Box, max_size: int) -> list[_Line]:
    """Set the fields at the largest main type size (binary search) that fits the area.

    Centred horizontally, a touch above centre vertically. If the copy does not fit even at
    MIN_FONT_SIZE it is set top-aligned at that size (and runs past the area's bottom).
    """
    left, top, right, bottom = area
    width, height = right - left, bottom - top
    if not fields or width <= 0 or height <= 0:
        return []
    tried: dict[int, tuple[bool, list[tuple[_SetField, _SetLine, int]]]] = {}

    def attempt(size: int) -> bool:
        if size not in tried:
            tried[size] = _fits(fields, size, width, height)
        return tried[size][0]

    lo, hi = MIN_FONT_SIZE, max(MIN_FONT_SIZE, max_size)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if attempt(mid):
            lo = mid
        else:
            hi = mid - 1
    attempt(lo)
    stacked = tried[lo][1]
    if not stacked:
        return []
    block_top = min(origin + line.bbox[1] for _, line, origin in stacked)
    slack = max(0, height - _block_height(stacked))
    shift = top + round(slack * 0.45) - block_top
    return [
        _centre(set_field, line, origin + shift, left, width) for set_field, line, origin in stacked
    ]


def _centre(set_field: _SetField, line: _SetLine, y: int, left: int, width: int) -> _Line:
    l_off, t_off, r_off, b_off = line.bbox
    x = left + (width - (r_off - l_off)) // 2 - l_off
    box = (x + l_off, y + t_off, x + r_off, y + b_off)
    return _Line(
        PlacedLine(set_field.field, line.text, box, set_field.size), set_field.bold, (x, y)
    )


def _clean_fields(texts: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    cleaned = [(str(name), _normalise(str(value))) for name, value in texts]
    return [(name, value) for name, value in cleaned if value]


# ---------------------------------------------------------------------------------------
# the proof layout


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or not 1 <= value <= MAX_CANVAS_SIDE:
            raise InvalidInput(name, f"must be a whole number of pixels, 1..{MAX_CANVAS_SIDE}")


def _margin(width: int, height: int) -> int:
    return max(1, round(min(width, height) * _MARGIN_RATIO))


def _caption_text(template_name: str, size: int, max_width: int) -> str | None:
    """ "DRAFT · <name>" on one line, the name shortened with "…" if it is too wide."""
    name = _normalise(template_name)
    text = f"{_DRAFT}{_SEPARATOR}{name}" if name else _DRAFT
    if _ink_width(False, size, text) <= max_width:
        return text
    if _ink_width(False, size, _DRAFT) > max_width:
        return None
    lo, hi = 0, len(name)  # the longest prefix of the name that fits with an ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _ink_width(False, size, f"{_DRAFT}{_SEPARATOR}{name[:mid]}…") <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return f"{_DRAFT}{_SEPARATOR}{name[:lo]}…" if lo else _DRAFT


def _caption(width: int, height: int, template_name: str) -> tuple[list[_Line], int]:
    """The one-line caption at the top of the usable area, and the y where copy may start.

    The caption is left out on canvases too small to hold it.
    """
    margin = _margin(width, height)
    usable_w, usable_h = width - 2 * margin, height - 2 * margin
    size = max(MIN_FONT_SIZE, round(min(width, height) * _CAPTION_RATIO))
    text = _caption_text(template_name, size, usable_w)
    if text is None:
        return [], margin
    line = _SetLine(text, _bbox(False, size, text))
    if line.bbox[3] - line.bbox[1] > usable_h // 5:
        return [], margin
    set_field = _SetField("", size, False, (line,))
    placed = _centre(set_field, line, margin - line.bbox[1], margin, usable_w)
    return [placed], placed.placed.box[3] + round(size * 1.5)


def _layout_lines(
    width: int, height: int, template_name: str, texts: Sequence[tuple[str, str]]
) -> tuple[list[_Line], list[_Line]]:
    """(caption lines, copy lines)."""
    _check_size(width, height)
    margin = _margin(width, height)
    caption, copy_top = _caption(width, height, template_name)
    breathing = round((height - margin - copy_top) * 0.04)  # keep copy off caption and frame
    area = (margin, copy_top + breathing, width - margin, height - margin - breathing)
    max_size = round(min(width, height) * _HEADLINE_RATIO)
    return caption, _place_block(_clean_fields(texts), area, max_size)


def layout(
    width: int, height: int, template_name: str, texts: Sequence[tuple[str, str]]
) -> list[PlacedLine]:
    """Pure layout: where every line of every text field goes (no pixels drawn).

    The first line is the "DRAFT · <template_name>" caption (field ""; a very long name
    is shortened with "…"), then the lines of each non-empty field in order.
    """
    caption, copy = _layout_lines(width, height, template_name, texts)
    return [line.placed for line in caption + copy]


# ---------------------------------------------------------------------------------------
# colours


def _luminance(colour: Sequence[int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _hls(hue: float, lightness: float, saturation: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True)
class _Palette:
    top: RGB
    bottom: RGB
    ink: RGB
    muted: RGB


def _palette(seed: str) -> _Palette:
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    hue = int.from_bytes(digest[0:2], "big") / 65536
    saturation = 0.18 + digest[2] / 255 * 0.2
    dark = digest[3] < 77  # about three proofs in ten are dark
    if dark:
        top = _hls(hue, 0.17 + digest[4] / 255 * 0.04, saturation)
        bottom = _hls(hue + 0.03, 0.23 + digest[4] / 255 * 0.04, saturation)
        ink = _hls(hue, 0.96, 0.3)
    else:
        top = _hls(hue, 0.93 + digest[4] / 255 * 0.02, saturation + 0.1)
        bottom = _hls(hue + 0.03, 0.86 + digest[4] / 255 * 0.02, saturation + 0.1)
        ink = _hls(hue, 0.13, 0.4)
    middle = _mix(top, bottom, 0.5)
    return _Palette(top, bottom, ink, _mix(ink, middle, 0.45))


def _ink_for(background: Sequence[int]) -> RGB:
    return (24, 24, 28) if _luminance(background) > 0.22 else (246, 246, 242)


# ---------------------------------------------------------------------------------------
# rendering


def _encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _draw_lines(draw: ImageDraw.ImageDraw, lines: Sequence[_Line], fill: tuple[int, ...]) -> None:
    for line in lines:
        draw.text(
            line.origin,
            line.placed.text,
            font=_font(line.bold, line.placed.font_size),
            fill=fill,
            anchor="la",
        )


def _background(width: int, height: int, palette: _Palette) -> Image.Image:
    column = bytearray()
    span = max(1, height - 1)
    for row in range(height):
        column.extend(_mix(palette.top, palette.bottom, row / span))
    strip = Image.frombytes("RGB", (1, height), bytes(column))
    return strip.resize((width, height), Image.Resampling.NEAREST)


def render_generate(
    width: int,
    height: int,
    template_name: str,
    texts: Sequence[tuple[str, str]],
    *,
    seed: str,
) -> bytes:
    """PNG bytes of a layout proof: background, every text field set in real type, the
    template name."""
    caption, copy = _layout_lines(width, height, template_name, texts)
    palette = _palette(seed)
    image = _background(width, height, palette)
    draw = ImageDraw.Draw(image)
    inset = _margin(width, height) // 2
    stroke = max(1, round(min(width, height) / 900))
    if width > 2 * (inset + stroke) and height > 2 * (inset + stroke):
        frame = (inset, inset, width - 1 - inset, height - 1 - inset)
        draw.rectangle(frame, outline=palette.muted, width=stroke)
    _draw_lines(draw, caption, palette.muted)
    _draw_lines(draw, copy, palette.ink)
    return _encode_png(image)


def _decode(source_png: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(source_png), formats=["PNG", "JPEG", "WEBP"])
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput("source", f"not a readable PNG, JPEG or WebP image ({exc})") from exc
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _sample_fill(image: Image.Image, box: Box) -> tuple[int, ...]:
    """The median colour of a thin ring just outside the box (inside it if there is none)."""
    left, top, right, bottom = box
    ring = max(2, round(min(image.size) * 0.01))
    outer = (
        max(0, left - ring),
        max(0, top - ring),
        min(image.width, right + ring),
        min(image.height, bottom + ring),
    )
    region = image.crop(outer)
    ring_mask = Image.new("L", region.size, 255)
    ring_mask.paste(0, (left - outer[0], top - outer[1], right - outer[0], bottom - outer[1]))
    # the box covers the whole image: sample the box itself
    mask = ring_mask if ring_mask.getbbox() is not None else None
    median = ImageStat.Stat(region, mask).median
    return tuple(int(v) for v in median)


def render_edit(
    source_png: bytes, mask_box: tuple[int, int, int, int], texts: Sequence[tuple[str, str]]
) -> bytes:
    """The source image (PNG/JPEG/WebP bytes) with the new copy painted into mask_box (x, y, w, h).

    The box is filled with a flat colour sampled from the source around the box, the copy set
    inside it, wrapped and shrunk to fit; returns PNG bytes of the same size as the source;
    pixels outside the box are unchanged. A box reaching past the image edge is clipped.
    """
    image = _decode(source_png)
    try:
        x, y, w, h = (int(v) for v in mask_box)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("mask_box", "must be four whole numbers: x, y, w, h") from exc
    if w <= 0 or h <= 0:
        raise InvalidInput("mask_box", "width and height must be positive", mask_box)
    box = (max(0, x), max(0, y), min(image.width, x + w), min(image.height, y + h))
    if box[0] >= box[2] or box[1] >= box[3]:
        raise InvalidInput("mask_box", "lies outside the image", mask_box)
    fill = _sample_fill(image, box)
    rgb: RGB = (fill[0], fill[1], fill[2])
    ink = _ink_for(rgb)
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    patch = Image.new(image.mode, (box_w, box_h), fill)
    pad = round(min(box_w, box_h) * _MARGIN_RATIO)
    area = (pad, pad, box_w - pad, box_h - pad)
    lines = _place_block(_clean_fields(texts), area, box_h - 2 * pad)
    _draw_lines(ImageDraw.Draw(patch), lines, (*ink, 255) if image.mode == "RGBA" else ink)
    image.paste(patch, (box[0], box[1]))
    return _encode_png(image)

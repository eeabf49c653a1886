"""The offline "draft" renderer: a layout proof of the copy, set in real type.

Nothing here talks to a network. `layout` decides where every line of every text field
goes; `render_generate` paints that onto a calm background with a frame and a
"DRAFT · <template>" caption; `render_edit` paints new copy into a box of an existing
image. Same inputs on the same machine give byte-identical PNGs (PNGs are written without
metadata).

Type: the bundled DejaVu fonts, with Pillow's RAQM layout where it is available (Arabic
joined, right-to-left copy ordered right to left) and BASIC where it is not. Characters
DejaVu lacks are set in a fallback font found on the machine (CJK), emoji in colour with
NotoColorEmoji when installed. Whatever cannot be drawn as it should (no font has the
character, or right-to-left copy without RAQM) is drawn as a box or unshaped, said in a
second caption line on the draft and logged: never dropped. Lines are measured with the
very fonts and engine they are drawn with.

Guarantees of the layout (as long as the copy fits at all at the 4 px minimum size, which
is true for any realistic copy on a canvas of 1024 px or more): every line box lies inside
the margins, no two line boxes overlap, and a field's lines, rejoined, give back the
field's whitespace-normalised text. Words wider than a line are broken between characters.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import logging
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageStat, features

from placard.domain.errors import InvalidInput
from placard.imaging.decoding import decode, png_bytes

log = logging.getLogger(__name__)

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
    shaped: _Shaped
    origin: tuple[int, int]  # where its ink box's (0, 0) lies (the main font's "la" anchor)


@dataclass(frozen=True)
class _SetLine:
    """A wrapped line before placement: its text and how it is drawn."""

    text: str
    shaped: _Shaped

    @property
    def bbox(self) -> Box:  # ink box relative to its origin
        return self.shaped.bbox


@dataclass(frozen=True)
class _SetField:
    field: str
    size: int
    bold: bool
    lines: tuple[_SetLine, ...]


# ---------------------------------------------------------------------------------------
# fonts: the bundled DejaVu, then what this machine has for other scripts and for emoji

# Colour emoji (CBDT bitmaps, only at 109 px: drawn at that size and scaled) and fonts for
# scripts DejaVu lacks (CJK above all). None is bundled (NotoColorEmoji alone is 10 MB):
# Debian's fonts-noto-color-emoji / fonts-noto-cjk put them here, Fedora and Amazon Linux there.
EMOJI_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
    Path("/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf"),
)
FALLBACK_FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
_EMOJI_SIZE = 109
_MISSING = "\U0010ffff"  # a noncharacter: every font draws its missing-glyph box for it
_ZWJ = "\u200d"
_MAX_CLUSTER = 32  # code points; Unicode's stream-safe text allows 30 marks in a row


@dataclass(frozen=True)
class _Face:
    path: str
    emoji: bool = False


@dataclass(frozen=True)
class Typesetting:
    """What this machine can set type with: the layout engine and the fonts found."""

    engine: ImageFont.Layout
    emoji: _Face | None
    fallbacks: tuple[_Face, ...]

    @property
    def shapes(self) -> bool:
        return self.engine == ImageFont.Layout.RAQM


@functools.cache
def typesetting() -> Typesetting:
    """RAQM (HarfBuzz shaping, FriBiDi ordering) when Pillow has it, else BASIC: Lambda's
    python image may lack libfribidi, and a draft must render anyway."""
    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    emoji = next((_Face(str(p), emoji=True) for p in EMOJI_FONT_PATHS if p.is_file()), None)
    fallbacks = tuple(_Face(str(p)) for p in FALLBACK_FONT_PATHS if p.is_file())
    return Typesetting(engine, emoji, fallbacks)


def _main_face(bold: bool) -> _Face:
    return _Face(str(_BOLD_FONT if bold else _REGULAR_FONT))


@functools.lru_cache(maxsize=256)
def _load(face: _Face, size: int, engine: ImageFont.Layout) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, _EMOJI_SIZE if face.emoji else size, layout_engine=engine)


def _glyph_print(face: _Face, char: str) -> tuple[Box, bytes]:
    font = _load(face, 16, ImageFont.Layout.BASIC)
    box = font.getbbox(char, anchor="ls")
    left, top, right, bottom = (int(v) for v in box)
    canvas = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(canvas).text((-left, -top), char, font=font, anchor="ls", embedded_color=True)
    return (left, top, right, bottom), canvas.tobytes()


@functools.lru_cache(maxsize=8192)
def _covers(face: _Face, char: str) -> bool:
    """Whether the font has a glyph for char: it draws it unlike its missing-glyph box."""
    return _glyph_print(face, char) != _glyph_print(face, _MISSING)


# ---------------------------------------------------------------------------------------
# clusters, fonts per cluster, right-to-left order


def _extends(char: str) -> bool:
    """Joins the cluster before it: marks, ZWJ, variation selectors, skin tones, tags."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _clusters(text: str) -> list[str]:
    """What a reader sees as one character (near enough to Unicode's grapheme clusters for
    drawing): never split between fonts, lines or directions."""
    if text.isascii():  # the common case, and the hot one: wrapping measures many prefixes
        return list(text)
    out: list[str] = []
    for char in text:
        if (
            out
            and len(out[-1]) < _MAX_CLUSTER
            and (
                _extends(char)
                or out[-1].endswith(_ZWJ)
                or (len(out[-1]) == 1 and _regional(out[-1]) and _regional(char))
            )
        ):
            out[-1] += char
        else:
            out.append(char)
    return out


def _wants_emoji(cluster: str) -> bool:
    """Emoji presentation: VS16, keycaps, ZWJ sequences, skin tones, flags, pictographs."""
    if "\ufe0e" in cluster:  # text presentation asked for
        return False
    first = cluster[0]
    return (
        any(c in cluster for c in ("\ufe0f", "\u20e3", _ZWJ))
        or any(0x1F3FB <= ord(c) <= 0x1F3FF for c in cluster)
        or _regional(first)
        or (unicodedata.category(first) == "So" and ord(first) >= 0x1F000)
    )


@functools.lru_cache(maxsize=8192)
def _face_for(cluster: str, main: _Face, setting: Typesetting) -> _Face | None:
    """The first font that has the cluster's base character; None when no font has it."""
    base = cluster[0]
    if unicodedata.category(base)[0] in "ZC":  # spaces, joiners, controls: nothing to draw
        return main
    emoji = (setting.emoji,) if setting.emoji else ()
    texts = (main, *setting.fallbacks)
    order = (*emoji, *texts) if _wants_emoji(cluster) else (*texts, *emoji)
    return next((face for face in order if _covers(face, base)), None)


def _strength(cluster: str) -> str:
    """The bidi class that matters here: L, R, N (a digit), S (a separator inside numbers),
    T (a currency or percent sign) or O (neutral)."""
    kind = unicodedata.bidirectional(cluster[0])
    if kind in ("R", "AL"):
        return "R"
    return {"L": "L", "EN": "N", "AN": "N", "CS": "S", "ES": "S", "ET": "T"}.get(kind, "O")


def _right_to_left(text: str) -> bool:
    """Whether the paragraph reads right to left: its first strong letter's direction (P2)."""
    return next((k == "R" for k in map(_strength, _clusters(text)) if k in ("L", "R")), False)


def _levels(clusters: Sequence[str], rtl: bool) -> list[int]:
    """Embedding levels of the Unicode bidi algorithm, simplified to one line without
    explicit marks: the base from the first strong letter (P2), numbers after L read as L
    (W7), neutrals between two of a kind take it, else the base (N1, N2; numbers count as
    R), then I1/I2. Needed because each font's run is drawn by its own call, so FriBiDi
    (which does the full algorithm inside a run) cannot order runs of different fonts."""
    kinds = [_strength(c) for c in clusters]
    for index in range(1, len(kinds) - 1):  # W4: 1,000.5 is one number
        if kinds[index] == "S" and kinds[index - 1] == kinds[index + 1] == "N":
            kinds[index] = "N"
    for indices in (range(len(kinds)), range(len(kinds) - 1, -1, -1)):  # W5: 50% and $5 too
        previous = "O"
        for index in indices:
            if kinds[index] == "T" and previous == "N":
                kinds[index] = "N"
            previous = kinds[index]
    kinds = [k if k in ("L", "R", "N") else "O" for k in kinds]
    base = "R" if rtl else "L"
    resolved: list[str] = []
    last = base
    for kind in kinds:
        if kind == "N":
            kind = "L" if last == "L" else "N"
        elif kind in ("L", "R"):
            last = kind
        resolved.append(kind)
    for start, kind in enumerate(resolved):
        if kind != "O":
            continue
        end = start
        while end < len(resolved) and resolved[end] == "O":
            end += 1
        before = resolved[start - 1] if start else base
        after = resolved[end] if end < len(resolved) else base
        side = {"N": "R"}
        before, after = side.get(before, before), side.get(after, after)
        for index in range(start, end):
            resolved[index] = before if before == after else base
    if base == "L":
        return [{"L": 0, "R": 1, "N": 2}[k] for k in resolved]
    return [{"L": 2, "R": 1, "N": 2}[k] for k in resolved]


def _visual_order(levels: Sequence[int]) -> list[int]:
    """Rule L2: from the highest level down to 1, reverse every run at that level or higher."""
    order = list(range(len(levels)))
    for level in range(max(levels, default=0), 0, -1):
        index = 0
        while index < len(order):
            if levels[order[index]] < level:
                index += 1
                continue
            end = index
            while end < len(order) and levels[order[end]] >= level:
                end += 1
            order[index:end] = order[index:end][::-1]
            index = end
    return order


# ---------------------------------------------------------------------------------------
# measuring and drawing a line of mixed fonts and directions


@dataclass(frozen=True)
class _Run:
    """Clusters of one font and one direction, in visual order along the line."""

    text: str
    face: _Face
    rtl: bool
    x: float  # pen position from the line's origin


@dataclass(frozen=True)
class _Shaped:
    runs: tuple[_Run, ...]
    bbox: Box  # ink box relative to the origin (the main font's ascender line, "la")
    advance: float
    ascent: int  # origin to baseline


@functools.lru_cache(maxsize=8192)  # lines of mixed scripts repeat their short runs
def _run_metrics(
    run_text: str, face: _Face, rtl: bool, size: int, setting: Typesetting
) -> tuple[tuple[float, float, float, float], float]:
    """(ink box relative to the pen on the baseline, advance) at the given size."""
    if face.emoji:
        return _emoji_run_metrics(run_text, face, size, setting.engine)
    font = _load(face, size, setting.engine)
    direction = ("rtl" if rtl else "ltr") if setting.shapes else None
    left, top, right, bottom = font.getbbox(run_text, anchor="ls", direction=direction)
    return (left, top, right, bottom), font.getlength(run_text, direction=direction)


@functools.lru_cache(maxsize=1024)
def _emoji_metrics(face: _Face, cluster: str, engine: ImageFont.Layout) -> tuple[Box, float]:
    font = _load(face, _EMOJI_SIZE, engine)
    left, top, right, bottom = font.getbbox(cluster, anchor="ls")
    return (int(left), int(top), int(right), int(bottom)), font.getlength(cluster)


def _emoji_run_metrics(
    run_text: str, face: _Face, size: int, engine: ImageFont.Layout
) -> tuple[tuple[float, float, float, float], float]:
    """An emoji run measured cluster by cluster: Pillow loads every glyph's bitmap to measure
    a run (40 ms for 500 emoji, again for every candidate line), and emoji do not kern."""
    scale = size / _EMOJI_SIZE
    pen, lefts, tops, rights, bottoms = 0.0, [0.0], [0.0], [0.0], [0.0]
    for cluster in _clusters(run_text):
        (left, top, right, bottom), advance = _emoji_metrics(face, cluster, engine)
        if right > left:
            lefts.append(pen + left)
            rights.append(pen + right)
            tops.append(top)
            bottoms.append(bottom)
        pen += advance
    box = (min(lefts) * scale, min(tops) * scale, max(rights) * scale, max(bottoms) * scale)
    return box, pen * scale


def _runs(text: str, bold: bool, rtl: bool, setting: Typesetting) -> list[tuple[str, _Face, bool]]:
    """(text, font, right to left) runs in visual order."""
    main = _main_face(bold)
    if text.isascii() and not rtl:  # DejaVu has all of ASCII, all of it left to right
        return [(text, main, False)]
    clusters = _clusters(text)
    faces = [_face_for(c, main, setting) or main for c in clusters]
    levels = _levels(clusters, rtl)
    logical: list[tuple[list[str], _Face, int]] = []
    for cluster, face, level in zip(clusters, faces, levels, strict=True):
        if logical and logical[-1][1] == face and logical[-1][2] == level:
            logical[-1][0].append(cluster)
        else:
            logical.append(([cluster], face, level))
    runs = []
    for index in _visual_order([level for _, _, level in logical]):
        parts, face, level = logical[index]
        rtl = level % 2 == 1
        if rtl and not setting.shapes:  # BASIC draws left to right: give it visual order
            parts = parts[::-1]
        runs.append(("".join(parts), face, rtl))
    return runs


@functools.lru_cache(maxsize=8192)
def _shape_in(setting: Typesetting, bold: bool, size: int, text: str, rtl: bool | None) -> _Shaped:
    if rtl is None:
        rtl = _right_to_left(text)
    ascent = _load(_main_face(bold), size, setting.engine).getmetrics()[0]
    runs: list[_Run] = []
    pen = 0.0
    lefts, tops, rights, bottoms = [0.0], [0.0], [0.0], [0.0]
    for run_text, face, run_rtl in _runs(text, bold, rtl, setting):
        (left, top, right, bottom), advance = _run_metrics(run_text, face, run_rtl, size, setting)
        if right > left:
            lefts.append(pen + left)
            rights.append(pen + right)
            tops.append(ascent + top)
            bottoms.append(ascent + bottom)
        runs.append(_Run(run_text, face, run_rtl, pen))
        pen += advance
    box = (
        math.floor(min(lefts)),
        math.floor(min(tops)),
        math.ceil(max(rights)),
        math.ceil(max(bottoms)),
    )
    return _Shaped(tuple(runs), box, pen, ascent)


def _shape(bold: bool, size: int, text: str, rtl: bool | None = None) -> _Shaped:
    """The line drawn in a paragraph of the given direction (None: the line's own)."""
    return _shape_in(typesetting(), bold, size, text, rtl)


def _bbox(bold: bool, size: int, text: str) -> Box:
    return _shape(bold, size, text).bbox


def _ink_width(bold: bool, size: int, text: str) -> int:
    left, _, right, _ = _bbox(bold, size, text)
    return right - left


def _advance(bold: bool, size: int, text: str) -> float:
    return _shape(bold, size, text).advance


@functools.lru_cache(maxsize=256)
def _emoji_bitmap(
    face: _Face, cluster: str, size: int, engine: ImageFont.Layout
) -> tuple[Image.Image, tuple[int, int]] | None:
    """One emoji drawn at the font's 109 px and scaled to size, and its offset from the pen on
    the baseline (None: nothing to draw). Cached: a sheet repeats its emoji."""
    (left, top, right, bottom), _ = _emoji_metrics(face, cluster, engine)
    if right <= left or bottom <= top:
        return None
    bitmap = Image.new("RGBA", (right - left, bottom - top))
    font = _load(face, _EMOJI_SIZE, engine)
    ImageDraw.Draw(bitmap).text((-left, -top), cluster, font=font, anchor="ls", embedded_color=True)
    scale = size / _EMOJI_SIZE
    scaled = bitmap.resize(
        (max(1, round(bitmap.width * scale)), max(1, round(bitmap.height * scale))),
        Image.Resampling.LANCZOS,
    )
    return scaled, (round(left * scale), round(top * scale))


def _draw_shaped(
    image: Image.Image,
    origin: tuple[int, int],
    shaped: _Shaped,
    size: int,
    fill: tuple[int, ...],
) -> None:
    """Each run with its own font on the common baseline; emoji in colour, one by one, as
    they were measured."""
    setting = typesetting()
    draw = ImageDraw.Draw(image)
    baseline = origin[1] + shaped.ascent
    for run in shaped.runs:
        x = origin[0] + run.x
        if not run.face.emoji:
            font = _load(run.face, size, setting.engine)
            direction = ("rtl" if run.rtl else "ltr") if setting.shapes else None
            draw.text(
                (x, baseline), run.text, font=font, fill=fill, anchor="ls", direction=direction
            )
            continue
        clusters = _clusters(run.text)
        for cluster in clusters[::-1] if run.rtl and setting.shapes else clusters:
            drawn = _emoji_bitmap(run.face, cluster, size, setting.engine)
            if drawn is not None:
                bitmap, (left, top) = drawn
                image.paste(bitmap, (round(x) + left, baseline + top), bitmap)
            x += _emoji_metrics(run.face, cluster, setting.engine)[1] * size / _EMOJI_SIZE


def _package_for(cluster: str) -> str:
    """The Debian package whose font draws the cluster (the hint in the draft's note)."""
    if _wants_emoji(cluster):
        return "fonts-noto-color-emoji"
    name = unicodedata.name(cluster[0], "")
    if "CJK" in name or name.startswith(("HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO")):
        return "fonts-noto-cjk"
    return "a font that has them"


def _unset(texts: Iterable[str]) -> str | None:
    """What the draft cannot show as it should, said on the draft and in the log: clusters no
    font here has (drawn as the missing-glyph box, which keeps their place in the layout) and,
    without RAQM, copy that needs shaping (right-to-left letters, emoji sequences)."""
    setting = typesetting()
    missing: dict[str, None] = {}  # ordered set
    needs_shaping = False
    for text in texts:
        for cluster in _clusters(text):
            needs_shaping = needs_shaping or _strength(cluster) == "R" or len(cluster) > 1
            if _face_for(cluster, _main_face(False), setting) is None:
                missing[cluster] = None
    notes = []
    if missing:
        names = " ".join(f"U+{ord(c[0]):04X}" for c in list(missing)[:3])
        more = f" +{len(missing) - 3}" if len(missing) > 3 else ""
        wanted = " or ".join(sorted({_package_for(c) for c in missing}))
        notes.append(f"no font for {names}{more}: drawn as boxes; install {wanted}")
    if needs_shaping and not setting.shapes:
        notes.append("copy not shaped (Pillow lacks libraqm): Arabic unjoined, emoji apart")
    return "; ".join(notes) or None


# ---------------------------------------------------------------------------------------
# text normalisation and wrapping


def _normalise(value: str) -> str:
    """Whitespace collapsed to single spaces; lone surrogates become U+FFFD."""
    clean = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return " ".join(clean.split())


def _break_word(word: str, bold: bool, size: int, max_width: int) -> list[str]:
    """Split a word that is wider than a line into pieces that each fit (at least one
    cluster: a letter keeps its marks, an emoji sequence stays whole)."""
    pieces: list[str] = []
    clusters = _clusters(word)

    def fits(count: int) -> bool:
        return _ink_width(bold, size, "".join(clusters[:count])) <= max_width

    while clusters:
        # gallop (1, 2, 4, ... clusters) then bisect: no prefix measured is much longer than
        # a line, so a word of thousands of emoji or Arabic letters costs linear time
        lo, probe = 1, 2
        while probe <= len(clusters) and fits(probe):
            lo, probe = probe, probe * 2
        hi = min(probe - 1, len(clusters))  # the longest prefix that fits is in [lo, hi]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        pieces.append("".join(clusters[:lo]))
        clusters = clusters[lo:]
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
        rtl = _right_to_left(text)  # every line of a field reads in the field's direction
        lines = tuple(
            _SetLine(line, _shape(bold, size, line, rtl))
            for line in _wrap(text, bold, size, max_width)
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


def _breaks_anywhere(word: str) -> bool:
    """Copy that is read without spaces (CJK, a row of emoji) breaks between any clusters."""
    return not word.isascii() and any(
        _wants_emoji(c) or unicodedata.name(c[0], "").startswith(("CJK", "HIRAGANA", "KATAKANA"))
        for c in _clusters(word)
    )


def _words_whole(fields: Sequence[tuple[str, str]], main_size: int, width: int) -> bool:
    """Whether every word of every field fits a line at its size: none needs breaking."""
    return all(
        _ink_width(index == 0, _field_size(main_size, index), word) <= width
        for index, (_, text) in enumerate(fields)
        for word in text.split(" ")
        if not _breaks_anywhere(word)
    )


def _fits(
    fields: Sequence[tuple[str, str]], main_size: int, width: int, height: int
) -> tuple[bool, list[tuple[_SetField, _SetLine, int]]]:
    stacked = _stack(_set_fields(fields, main_size, width))
    ok = _block_height(stacked) <= height and all(
        line.bbox[2] - line.bbox[0] <= width for _, line, _ in stacked
    )
    return ok, stacked


def _place_block(fields: Sequence[tuple[str, str]], area: Box, max_size: int) -> list[_Line]:
    """Set the fields at the largest main type size (binary search) that fits the area,
    keeping words whole when any size can ("Weatherpr / oof" reads as two words, to people
    and to the proof's reader); a word too long for any line is broken between characters.

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

    def attempt_whole(size: int) -> bool:
        return _words_whole(fields, size, width) and attempt(size)

    # whole words while the copy is set at a sixth of the largest size or more; below that
    # the copy is too long for it and breaking a word costs less than shrinking it all
    floor = max(MIN_FONT_SIZE, max_size // 6)
    whole = floor <= max_size and attempt_whole(floor)
    fits = attempt_whole if whole else attempt
    lo, hi = (floor if whole else MIN_FONT_SIZE), max(MIN_FONT_SIZE, max_size)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
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
    return _Line(PlacedLine(set_field.field, line.text, box, set_field.size), line.shaped, (x, y))


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


def _one_line(head: str, tail: str, size: int, max_width: int) -> str | None:
    """head and as much of tail as fits on one line, cut with "…" (None: head is too wide)."""
    if _ink_width(False, size, head + tail) <= max_width:
        return head + tail
    if _ink_width(False, size, head) > max_width:
        return None
    clusters = _clusters(tail)
    lo, hi = 0, len(clusters)  # the longest prefix of tail that fits with an ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _ink_width(False, size, head + "".join(clusters[:mid]) + "…") <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return head + "".join(clusters[:lo]) + "…" if lo else head.rstrip(_SEPARATOR) or None


def _caption(
    width: int, height: int, template_name: str, note: str | None
) -> tuple[list[_Line], int]:
    """The caption lines at the top of the usable area ("DRAFT · <name>", then the note of
    what could not be drawn as it should), and the y where copy may start.

    Captions are left out on canvases too small to hold them.
    """
    margin = _margin(width, height)
    usable_w, usable_h = width - 2 * margin, height - 2 * margin
    size = max(MIN_FONT_SIZE, round(min(width, height) * _CAPTION_RATIO))
    name = _normalise(template_name)
    texts = [_one_line(f"{_DRAFT}{_SEPARATOR}" if name else _DRAFT, name, size, usable_w)]
    if note:
        texts.append(_one_line("", note, size, usable_w))
    placed: list[_Line] = []
    y = margin
    for text in texts:
        if text is None:
            continue
        line = _SetLine(text, _shape(False, size, text))
        if y + line.bbox[3] - line.bbox[1] > margin + usable_h // 5:
            break
        set_field = _SetField("", size, False, (line,))
        placed.append(_centre(set_field, line, y - line.bbox[1], margin, usable_w))
        y = placed[-1].placed.box[3] + round(size * 0.5)
    if not placed:
        return [], margin
    return placed, placed[-1].placed.box[3] + round(size * 1.5)


def _layout_lines(
    width: int, height: int, template_name: str, texts: Sequence[tuple[str, str]]
) -> tuple[list[_Line], list[_Line], str | None]:
    """(caption lines, copy lines, the note of what cannot be drawn as it should)."""
    _check_size(width, height)
    fields = _clean_fields(texts)
    note = _unset([template_name, *(value for _, value in fields)])
    margin = _margin(width, height)
    caption, copy_top = _caption(width, height, template_name, note)
    breathing = round((height - margin - copy_top) * 0.04)  # keep copy off caption and frame
    area = (margin, copy_top + breathing, width - margin, height - margin - breathing)
    max_size = round(min(width, height) * _HEADLINE_RATIO)
    return caption, _place_block(fields, area, max_size), note


def layout(
    width: int, height: int, template_name: str, texts: Sequence[tuple[str, str]]
) -> list[PlacedLine]:
    """Pure layout: where every line of every text field goes (no pixels drawn).

    First the caption lines (field ""): "DRAFT · <template_name>" (a very long name is
    shortened with "…"), and a note when some copy cannot be drawn as it should here; then
    the lines of each non-empty field in order.
    """
    caption, copy, _ = _layout_lines(width, height, template_name, texts)
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


_PNG_LEVEL = 6  # zlib's default: a draft is small, and its bytes stay as they always were


def _draw_lines(image: Image.Image, lines: Sequence[_Line], fill: tuple[int, ...]) -> None:
    for line in lines:
        _draw_shaped(image, line.origin, line.shaped, line.placed.font_size, fill)


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
    caption, copy, note = _layout_lines(width, height, template_name, texts)
    if note:
        log.warning("draft of %s: %s", template_name, note)
    palette = _palette(seed)
    image = _background(width, height, palette)
    draw = ImageDraw.Draw(image)
    inset = _margin(width, height) // 2
    stroke = max(1, round(min(width, height) / 900))
    if width > 2 * (inset + stroke) and height > 2 * (inset + stroke):
        frame = (inset, inset, width - 1 - inset, height - 1 - inset)
        draw.rectangle(frame, outline=palette.muted, width=stroke)
    _draw_lines(image, caption, palette.muted)
    _draw_lines(image, copy, palette.ink)
    return png_bytes(image, _PNG_LEVEL)


def _decode(source: bytes) -> Image.Image:
    """The source through the guarded decoder every image takes, as RGB or RGBA."""
    image = decode(source, "source")
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
    fields = _clean_fields(texts)
    note = _unset(value for _, value in fields)
    if note:  # said in the log only: the pixels outside the box stay the source's
        log.warning("draft edit: %s", note)
    lines = _place_block(fields, area, box_h - 2 * pad)
    _draw_lines(patch, lines, (*ink, 255) if image.mode == "RGBA" else ink)
    image.paste(patch, (box[0], box[1]))
    return png_bytes(image, _PNG_LEVEL)

"""Edit inputs: probing uploads safely, masks in every form, normalising, compositing back."""

from __future__ import annotations

import math
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFilter, ImageOps

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Size, parse_box
from placard.imaging import decoding
from placard.imaging.decoding import MAX_INPUT_BYTES, probe
from placard.imaging.edits import (
    composite,
    edit_size,
    finish_edit,
    openai_mask_png,
    prepare_edit,
)
from placard.providers.base import ProviderError
from tests.pictures import decode, encode

PORTRAIT = Size(1024, 1536)
RED = (255, 0, 0)


# --------------------------------------------------------------------------- helpers


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A deterministic stand-in for a photo: smooth gradients and a few hard-edged shapes."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.linear_gradient("L").rotate(90 + 37 * seed).resize((width, height))
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x, y = (97 * (i + seed)) % width, (151 * (i + 2 * seed)) % height
        draw.rectangle((x, y, x + width // 8, y + height // 12), fill=(40 * i, 200 - 30 * i, 90))
    return image


def rect_mask(
    size: tuple[int, int], rect: tuple[int, int, int, int], edit: int = 255
) -> Image.Image:
    """An "L" image of `size`, `edit` inside rect (x, y, w, h) and 255 - edit outside."""
    x, y, w, h = rect
    image = Image.new("L", size, 255 - edit)
    image.paste(edit, (x, y, x + w, y + h))
    return image


def box_of(mask: Image.Image) -> tuple[int, int, int, int] | None:
    bbox = mask.getbbox()
    if bbox is None:
        return None
    return bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]


def png_chunks(data: bytes) -> list[bytes]:
    kinds, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kinds.append(data[i + 4 : i + 8])
        i += 12 + length
    return kinds


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def refused(call: Callable[[], object], field: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.field == field, caught.value
    return caught.value


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def source() -> Image.Image:
    return photo(1024, 1536)


@pytest.fixture(scope="module")
def source_png(source: Image.Image) -> bytes:
    return encode(source)


# --------------------------------------------------------------------------- probe


@pytest.mark.parametrize(("fmt", "expected"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("WEBP", "WEBP")])
def test_probe_reports_format_and_size_of_png_jpeg_and_webp(fmt: str, expected: str) -> None:
    # Given an image of 300x200 in each accepted format
    data = encode(photo(300, 200), fmt)
    # When it is probed, Then its format and size come back
    assert probe(data, "source_image") == (expected, 300, 200)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"Hello, this is the price list for Monday", "is a text file, not an image"),
        (encode(Image.new("P", (64, 64)), "GIF"), "GIF"),
        (encode(Image.new("RGB", (64, 64)), "PDF"), "PDF"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIC"),
        (b"https://example.com/shop-sign.jpg", "web address"),
    ],
    ids=["empty", "text", "gif", "pdf", "heic", "url"],
)
def test_probe_refuses_what_is_not_a_png_jpeg_or_webp_naming_the_field(
    data: bytes, says: str
) -> None:
    error = refused(lambda: probe(data, "mask"), "mask")
    assert says in error.reason


def test_probe_refuses_data_over_the_byte_limit() -> None:
    # Given a PNG header padded to one byte over the limit
    data = encode(Image.new("L", (16, 16))) + bytes(MAX_INPUT_BYTES)
    # Then it is refused for its size in bytes
    assert "MB" in refused(lambda: probe(data, "source_image"), "source_image").reason


def _png_bomb() -> bytes:
    """A complete, valid 1-bit 20000x20000 PNG of ~50 KB: 400 megapixels once decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 20000 // 8)
    idat = b"".join(compressor.compress(row) for _ in range(20000)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def _jpeg_bomb() -> bytes:
    sof = struct.pack(">HBHHB", 11, 8, 20000, 20000, 1) + b"\x01\x11\x00"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + b"\xff\xc0" + sof + b"\xff\xd9"


def _webp_bomb() -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    body += (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.parametrize("make", [_png_bomb, _jpeg_bomb, _webp_bomb], ids=["png", "jpeg", "webp"])
def test_probe_refuses_a_decompression_bomb_from_its_header_alone(
    make: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an image whose header claims hundreds of megapixels, Pillow's own bomb limit
    # switched off, and Pillow forbidden to even open anything
    data = make()
    assert len(data) < 100_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def no_opening(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("Pillow was asked to open the bomb")

    monkeypatch.setattr(Image, "open", no_opening)
    # When it is probed, and when it is given as a source and as a mask
    started = time.perf_counter()
    error = refused(lambda: probe(data, "source_image"), "source_image")
    refused(lambda: prepare_edit(data), "source_image")
    monkeypatch.undo()
    refused(lambda: prepare_edit(encode(photo(64, 64)), mask=data), "mask")
    # Then each is refused quickly, naming the megapixels
    assert time.perf_counter() - started < 0.5
    assert "megapixels" in error.reason


def test_an_image_over_the_pixel_limit_is_refused_even_when_pillow_would_allow_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the pixel limit lowered to 10,000 and Pillow's own limit off
    monkeypatch.setattr(decoding, "MAX_INPUT_PIXELS", 10_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    # Then a 101x100 image is refused and a 100x100 one is not
    refused(lambda: probe(encode(Image.new("RGB", (101, 100))), "source_image"), "source_image")
    assert probe(encode(Image.new("RGB", (100, 100))), "source_image") == ("PNG", 100, 100)


def test_pillows_own_bomb_limit_surfaces_only_as_invalid_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Pillow configured with a limit below placard's (it warns above it, fails above 2x)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping would fail the test
        for side in (80, 120):  # 6,400 px: warning territory; 14,400 px: error territory
            data = encode(photo(side, side))
            refused(partial(probe, data, "source_image"), "source_image")
            refused(partial(prepare_edit, data), "source_image")


@pytest.mark.parametrize("raised", [Image.DecompressionBombError, Image.DecompressionBombWarning])
def test_a_bomb_error_or_warning_from_inside_pillow_becomes_invalid_input(
    raised: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Pillow raising (or warning) about a bomb that the header did not reveal
    real_open = Image.open

    def bomb_open(*args: Any, **kwargs: Any) -> Image.Image:
        if raised is Image.DecompressionBombWarning:
            warnings.warn("could be decompression bomb DOS attack", raised, stacklevel=2)
        else:
            raise raised("could be decompression bomb DOS attack")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", bomb_open)
    # Then it is refused as the user's input, never as Pillow's exception or warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(lambda: probe(encode(photo(64, 64)), "mask"), "mask")


def test_a_damaged_source_is_refused_when_decoded() -> None:
    # Given a JPEG cut off halfway: its header is fine
    data = encode(photo(640, 960), "JPEG")
    cut = data[: len(data) // 2]
    assert probe(cut, "source_image") == ("JPEG", 640, 960)
    # Then preparing an edit refuses it as damaged
    assert "damaged" in refused(lambda: prepare_edit(cut), "source_image").reason


# --------------------------------------------------------------------------- parse_box


@pytest.mark.parametrize("text", ["10,20,300,40", " 10 , 20 ,300,  40 ", "+10,20,300,40"])
def test_parse_box_reads_four_whole_numbers(text: str) -> None:
    assert parse_box(text) == (10, 20, 300, 40)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10,20,30",
        "10,20,30,40,50",
        "a,b,c,d",
        "10;20;30;40",
        "1.5,0,10,10",
        "-1,0,10,10",
        "0,-5,10,10",
        "0,0,0,10",
        "0,0,10,0",
        "0,0,-10,10",
    ],
)
def test_parse_box_refuses_malformed_negative_or_empty_boxes(text: str) -> None:
    refused(lambda: parse_box(text), "mask_box")


# --------------------------------------------------------------------------- edit_size


@pytest.mark.parametrize(
    "dims",
    [
        (100, 100),
        (5000, 5000),
        (4000, 1000),
        (1000, 4000),
        (1023, 767),
        (1920, 1080),
        (4032, 3024),
        (1, 40000),
        (40000, 1),
        (810, 810),
        (3850, 2170),
    ],
)
def test_edit_size_passes_the_size_rules_and_keeps_the_proportions(dims: tuple[int, int]) -> None:
    width, height = dims
    size = edit_size(width, height)
    size.check()
    wanted = min(max(width / height, 1 / 3), 3)
    assert abs(math.log(size.width / size.height / wanted)) < 0.03


def test_edit_size_passes_the_rules_across_a_grid_of_sources() -> None:
    for width in range(16, 9000, 293):
        for height in range(16, 9000, 307):
            edit_size(width, height).check()


def test_edit_size_only_pads_a_source_already_within_the_rules() -> None:
    assert edit_size(1920, 1080) == Size(1920, 1088)
    assert edit_size(1024, 1536) == Size(1024, 1536)
    assert edit_size(1023, 767) == Size(1024, 768)
    assert edit_size(1200, 900) == Size(1200, 912)


# --------------------------------------------------------------------------- masks


def test_an_alpha_mask_marks_its_transparent_hole_for_editing(source_png: bytes) -> None:
    # Given an opaque mask with a fully transparent hole and a half-transparent one
    # (alpha 100, counts) and a faint one (alpha 200, does not)
    mask = Image.new("RGBA", (1024, 1536), (255, 255, 255, 255))
    mask.paste((0, 0, 0, 0), (200, 300, 500, 400))
    mask.paste((0, 0, 0, 100), (200, 400, 500, 450))
    mask.paste((0, 0, 0, 200), (600, 900, 700, 1000))
    # When the edit is prepared at the source's own size
    edit = prepare_edit(source_png, size=PORTRAIT, mask=encode(mask))
    # Then exactly the hole is marked 255, and the box is its bounding box
    assert edit.mask.mode == "L" and edit.mask.size == (1024, 1536)
    assert same_pixels(edit.mask, rect_mask((1024, 1536), (200, 300, 300, 150)))
    assert edit.box == (200, 300, 300, 150)


def test_a_black_and_white_mask_marks_white_for_editing(source_png: bytes) -> None:
    mask = rect_mask((1024, 1536), (40, 1200, 600, 200)).convert("1")
    edit = prepare_edit(source_png, size=PORTRAIT, mask=encode(mask))
    assert same_pixels(edit.mask, rect_mask((1024, 1536), (40, 1200, 600, 200)))
    assert edit.box == (40, 1200, 600, 200)


def test_an_rgb_mask_with_an_opaque_alpha_channel_is_read_by_brightness(
    source_png: bytes,
) -> None:
    mask = rect_mask((1024, 1536), (40, 1200, 600, 200)).convert("RGBA")
    edit = prepare_edit(source_png, size=PORTRAIT, mask=encode(mask))
    assert edit.box == (40, 1200, 600, 200)


def test_a_greyscale_jpeg_mask_marks_its_light_area_despite_artefacts(source_png: bytes) -> None:
    # Given a white rectangle on black, saved as a lossy JPEG
    drawn = rect_mask((1024, 1536), (300, 500, 400, 120))
    data = encode(drawn, "JPEG", quality=60)
    # When the edit is prepared
    edit = prepare_edit(source_png, size=PORTRAIT, mask=data)
    # Then the box is the rectangle give or take a pixel, and nearly every pixel agrees
    x, y, w, h = edit.box
    assert abs(x - 300) <= 1 and abs(y - 500) <= 1 and abs(w - 400) <= 2 and abs(h - 120) <= 2
    wrong = ImageChops.difference(edit.mask, drawn).histogram()[255]
    assert wrong < 0.01 * 400 * 120
    assert set(edit.mask.histogram()[1:255]) == {0}  # binary


def test_a_sixteen_bit_greyscale_mask_is_scaled_not_clipped(source_png: bytes) -> None:
    # Given a 16-bit mask: white (65535) in one rectangle, dark grey (10000) in another;
    # Pillow's plain conversion to 8 bits would clip the grey to white
    mask = Image.new("I;16", (1024, 1536), 0)
    mask.paste(65535, (100, 100, 300, 200))
    mask.paste(10000, (500, 500, 600, 600))
    data = encode(mask)
    assert decode(data).mode.startswith("I")
    # Then only the white rectangle is marked
    assert prepare_edit(source_png, size=PORTRAIT, mask=data).box == (100, 100, 200, 100)


def test_a_box_marks_its_rectangle_for_editing(source_png: bytes) -> None:
    edit = prepare_edit(source_png, size=PORTRAIT, box=(200, 300, 300, 100))
    assert same_pixels(edit.mask, rect_mask((1024, 1536), (200, 300, 300, 100)))
    assert edit.box == (200, 300, 300, 100)


def test_without_mask_or_box_the_whole_image_is_editable(source_png: bytes) -> None:
    edit = prepare_edit(source_png, size=PORTRAIT)
    assert edit.box == (0, 0, 1024, 1536)
    assert edit.mask.histogram()[255] == 1024 * 1536


def test_a_mask_and_a_box_together_are_refused(source_png: bytes) -> None:
    mask = encode(rect_mask((1024, 1536), (0, 0, 10, 10)))
    refused(lambda: prepare_edit(source_png, mask=mask, box=(0, 0, 10, 10)), "mask_box")


@pytest.mark.parametrize("box", [(900, 100, 125, 50), (0, 1500, 10, 37), (2000, 2000, 5, 5)])
def test_a_box_reaching_outside_the_source_is_refused(
    source_png: bytes, box: tuple[int, int, int, int]
) -> None:
    error = refused(lambda: prepare_edit(source_png, box=box), "mask_box")
    assert "1024x1536" in error.reason


@pytest.mark.parametrize("box", [(0, 0, 0, 10), (10, 10, 10, 0), (-1, 0, 5, 5)])
def test_a_box_without_area_or_with_negative_corner_is_refused(
    source_png: bytes, box: tuple[int, int, int, int]
) -> None:
    refused(lambda: prepare_edit(source_png, box=box), "mask_box")


def test_a_mask_of_the_same_proportions_is_scaled_onto_the_source(source_png: bytes) -> None:
    # Given a 512x768 mask (half size) for a 1024x1536 source
    mask = rect_mask((512, 768), (100, 150, 150, 50))
    # Then it is scaled: the rectangle doubles
    edit = prepare_edit(source_png, size=PORTRAIT, mask=encode(mask))
    assert edit.box == (200, 300, 300, 100)
    assert same_pixels(edit.mask, rect_mask((1024, 1536), (200, 300, 300, 100)))


@pytest.mark.parametrize(("width", "accepted"), [(1010, True), (1000, False), (800, False)])
def test_a_mask_of_other_proportions_is_refused_naming_both_sizes(
    source_png: bytes, width: int, accepted: bool
) -> None:
    # Given masks 1.4 %, 2.3 % and 22 % narrower than the source
    mask = encode(rect_mask((width, 1536 if width != 800 else 800), (10, 10, 100, 100)))
    if accepted:
        assert prepare_edit(source_png, size=PORTRAIT, mask=mask).box[2] in range(99, 104)
        return
    error = refused(lambda: prepare_edit(source_png, size=PORTRAIT, mask=mask), "mask")
    assert f"{width}x" in error.reason and "1024x1536" in error.reason


@pytest.mark.parametrize(
    "mask",
    [
        Image.new("RGBA", (1024, 1536), (0, 0, 0, 255)),  # alpha, fully opaque, black
        Image.new("RGBA", (1024, 1536), (255, 255, 255, 200)),  # only faintly transparent
        Image.new("L", (1024, 1536), 0),  # black and white, all black
        Image.new("RGB", (1024, 1536), (30, 30, 30)),  # near black
    ],
    ids=["opaque-alpha", "faint-alpha", "all-black", "near-black"],
)
def test_a_mask_marking_nothing_is_refused(source_png: bytes, mask: Image.Image) -> None:
    error = refused(lambda: prepare_edit(source_png, mask=encode(mask)), "mask")
    assert "marks no pixel to edit" in error.reason


def test_a_photo_given_as_mask_is_refused(source_png: bytes, source: Image.Image) -> None:
    # Given the photo itself (opaque, all mid-tones) uploaded as the mask by mistake
    error = refused(lambda: prepare_edit(source_png, mask=source_png), "mask")
    assert "does not look like a mask" in error.reason


def test_a_mask_whose_area_is_cropped_away_is_refused() -> None:
    # Given a wide source cropped to a square: its left quarter is cut off
    wide = encode(photo(2048, 1024))
    square = Size(1024, 1024)
    # Then a box entirely in the cut-off part is refused, one in the kept part is not
    error = refused(lambda: prepare_edit(wide, size=square, box=(0, 0, 400, 400)), "mask_box")
    assert "cropped away" in error.reason
    assert prepare_edit(wide, size=square, box=(600, 0, 400, 400)).box == (88, 0, 400, 400)


# --------------------------------------------------------------------------- the source


def test_an_exif_rotated_jpeg_is_turned_upright_and_sized_exactly() -> None:
    # Given a 1000x1500 JPEG with a red corner at its stored top left, and EXIF orientation 6
    # (display rotated 90 degrees clockwise: 1500x1000, the red corner at the top right)
    stored = photo(1000, 1500)
    stored.paste(RED, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    # When prepared at 1536x1024 with a box around the red corner, in upright pixels
    edit = prepare_edit(data, size=Size(1536, 1024), box=(1300, 0, 200, 200))
    # Then the PNG is exactly 1536x1024, upright, and the box follows the 1.024 scale
    image = decode(edit.source_png)
    assert image.size == (1536, 1024) and image.format == "PNG"
    assert image.getpixel((1500, 30)) == pytest.approx(RED, abs=30)
    assert image.getpixel((30, 30)) != pytest.approx(RED, abs=30)
    assert edit.size == Size(1536, 1024)
    assert edit.box == (1331, 0, 205, 205)  # 1300 * 1.024 = 1331.2; 200 * 1.024 = 204.8


def test_without_a_size_the_source_is_sent_padded_to_its_edit_size_not_cropped() -> None:
    # Given a 1000x1500 PNG
    image = photo(1000, 1500)
    # When prepared without a size
    edit = prepare_edit(encode(image), box=(100, 100, 50, 50))
    # Then the size sent is edit_size's, reached by centred padding: every pixel sent as is
    assert edit.size == edit_size(1000, 1500) == Size(1008, 1504)
    assert edit.placement == (4, 2, 1000, 1500)
    assert same_pixels(decode(edit.source_png).crop((4, 2, 1004, 1502)), image)
    assert edit.box == (104, 102, 50, 50)
    # And the padding is never marked for editing; the photo itself is kept at its size
    assert edit.mask.getbbox() == (104, 102, 154, 152)
    assert edit.base.size == (1000, 1500) and edit.base_mask.getbbox() == (100, 100, 150, 150)


def test_box_coordinates_follow_the_scale_and_crop() -> None:
    # Given a 2048x3200 source made 1024x1536: scaled by 1/2, 64 source rows cut top and bottom
    data = encode(photo(2048, 3200))
    # Then a box in source pixels lands halved and shifted up by 32 output rows
    edit = prepare_edit(data, size=PORTRAIT, box=(200, 464, 600, 200))
    assert edit.box == (100, 200, 300, 100)
    assert same_pixels(edit.mask, rect_mask((1024, 1536), (100, 200, 300, 100)))


def test_a_box_scaled_by_an_odd_factor_lands_where_the_scale_puts_it() -> None:
    # Given a 1500x2250 source made 1024x1536 (scale 0.6827)
    data = encode(photo(1500, 2250))
    edit = prepare_edit(data, size=PORTRAIT, box=(333, 777, 150, 90))
    # Then the box is where the scale puts it, give or take a pixel
    scale = 1024 / 1500
    x, y, w, h = edit.box
    assert abs(x - 333 * scale) <= 1 and abs(y - 777 * scale) <= 1
    assert abs(w - 150 * scale) <= 1.5 and abs(h - 90 * scale) <= 1.5


def test_a_thin_line_survives_a_large_reduction(source_png: bytes) -> None:
    # Given a source shrunk to a third, and a mask shrunk to a quarter, each marking a
    # line one pixel high
    big = encode(Image.new("RGB", (3072, 4608), (120, 130, 140)))
    by_box = prepare_edit(big, size=PORTRAIT, box=(333, 777, 150, 1))
    line = encode(rect_mask((4096, 6144), (400, 800, 400, 1)))
    by_mask = prepare_edit(source_png, size=PORTRAIT, mask=line)
    # Then the line is still there, one output pixel high
    assert by_box.box == (111, 259, 50, 1)
    assert by_mask.box == (100, 200, 100, 1)


def test_a_mask_follows_the_same_scale_and_crop_as_its_source() -> None:
    # Given a 2048x3200 source and a mask image of the same size marking the same box
    data = encode(photo(2048, 3200))
    mask = encode(rect_mask((2048, 3200), (200, 464, 600, 200)))
    # Then the mask lands where the box does
    edit = prepare_edit(data, size=PORTRAIT, mask=mask)
    assert edit.box == (100, 200, 300, 100)


def test_transparency_is_kept_only_when_the_source_has_some() -> None:
    opaque = photo(1024, 1536).convert("RGBA")
    holed = opaque.copy()
    holed.paste((0, 0, 0, 0), (0, 0, 100, 100))
    assert decode(prepare_edit(encode(opaque)).source_png).mode == "RGB"
    assert decode(prepare_edit(encode(holed)).source_png).mode == "RGBA"
    assert decode(prepare_edit(encode(opaque.convert("L"))).source_png).mode == "RGB"
    assert decode(prepare_edit(encode(opaque.convert("P"))).source_png).mode == "RGB"


def test_the_pngs_carry_no_metadata() -> None:
    # Given a JPEG carrying an ICC profile, EXIF and a DPI
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(
        photo(1024, 1536), "JPEG", icc_profile=profile, exif=exif.tobytes(), dpi=(300, 300)
    )
    # Then the prepared source, the OpenAI mask and the composite hold only pixels
    edit = prepare_edit(data, box=(0, 0, 10, 10))
    for png in (
        edit.source_png,
        openai_mask_png(edit.mask),
        composite(edit.source_png, edit.source_png, edit.mask),
    ):
        assert set(png_chunks(png)) == {b"IHDR", b"IDAT", b"IEND"}


def test_a_broken_colour_profile_does_not_stop_an_edit() -> None:
    data = encode(photo(1024, 1536), "JPEG", icc_profile=b"not a profile at all")
    assert prepare_edit(data).size == PORTRAIT


def test_prepare_edit_is_deterministic(source_png: bytes) -> None:
    mask = encode(rect_mask((512, 768), (10, 10, 100, 30)), "JPEG")
    first = prepare_edit(source_png, size=Size(768, 1152), mask=mask)
    second = prepare_edit(source_png, size=Size(768, 1152), mask=mask)
    assert first.source_png == second.source_png
    assert same_pixels(first.mask, second.mask) and first.box == second.box


# --------------------------------------------------------------------------- openai_mask_png


def test_the_openai_mask_is_transparent_exactly_where_the_edit_is() -> None:
    mask = rect_mask((1024, 1536), (200, 300, 300, 100))
    image = decode(openai_mask_png(mask))
    assert image.mode == "RGBA" and image.size == (1024, 1536)
    assert same_pixels(image.getchannel("A"), ImageOps.invert(mask))
    assert set(image.getchannel("A").histogram()[1:255]) == {0}


def test_the_openai_mask_wants_an_l_mask() -> None:
    with pytest.raises(ValueError, match="'L'"):
        openai_mask_png(Image.new("1", (16, 16)))


# --------------------------------------------------------------------------- composite

RECT = (300, 400, 400, 200)


def _far_outside(
    rect: tuple[int, int, int, int], distance: int, size: tuple[int, int]
) -> Image.Image:
    """255 where a pixel is farther than `distance` from rect, 0 elsewhere (as RGB)."""
    x, y, w, h = rect
    grown = (x - distance, y - distance, w + 2 * distance, h + 2 * distance)
    return rect_mask(size, grown, edit=0).convert("RGB")


@pytest.mark.parametrize("feather", [None, 1, 2, 5, 12])
def test_composite_keeps_the_source_outside_and_the_result_inside(
    source: Image.Image, source_png: bytes, feather: int | None
) -> None:
    # Given a result that differs from the source in every pixel and channel
    result = ImageOps.invert(source)
    mask = rect_mask(source.size, RECT)
    # When composited
    out = decode(composite(source_png, encode(result), mask, feather=feather))
    # Then beyond 3 * feather outside the mask the source is untouched, byte for byte
    radius = feather if feather is not None else 5  # 0.5 % of 1024
    assert out.size == source.size and out.mode == "RGB"
    outside = _far_outside(RECT, 3 * radius, source.size)
    assert ImageChops.multiply(ImageChops.difference(out, source), outside).getbbox() is None
    # And deeper than 3 * feather inside it is the result
    x, y, w, h = RECT
    d = 3 * radius
    inner = (x + d, y + d, x + w - d, y + h - d)
    assert same_pixels(out.crop(inner), result.crop(inner))
    # And the edge is blended: just outside the mask, neither source nor result
    edge = (x - 1, y + h // 2)
    assert out.getpixel(edge) not in (source.getpixel(edge), result.getpixel(edge))


def test_composite_equals_blending_through_the_blurred_mask(
    source: Image.Image, source_png: bytes
) -> None:
    # Given a mask touching the image edge and a feather of 7
    result = ImageOps.invert(source)
    mask = rect_mask(source.size, (0, 1300, 500, 236))
    out = decode(composite(source_png, encode(result), mask, feather=7))
    # Then it is exactly the textbook composite through the Gaussian-blurred mask
    expected = Image.composite(result, source, mask.filter(ImageFilter.GaussianBlur(7)))
    assert same_pixels(out, expected)


def test_a_zero_feather_gives_a_hard_edge(source: Image.Image, source_png: bytes) -> None:
    result = ImageOps.invert(source)
    mask = rect_mask(source.size, RECT)
    out = decode(composite(source_png, encode(result), mask, feather=0))
    assert same_pixels(out, Image.composite(result, source, mask))


def test_a_result_of_another_size_is_resized_to_the_source(
    source: Image.Image, source_png: bytes
) -> None:
    # Given the provider answered 512x768 (and in RGBA) for a 1024x1536 source
    result = Image.new("RGBA", (512, 768), (*RED, 255))
    out = decode(composite(source_png, encode(result), rect_mask(source.size, RECT)))
    # Then the output is the source's size and mode, red inside the mask
    assert out.size == (1024, 1536) and out.mode == "RGB"
    assert out.getpixel((RECT[0] + 200, RECT[1] + 100)) == RED
    assert out.getpixel((10, 10)) == source.getpixel((10, 10))


def test_an_unreadable_result_is_the_providers_fault(source_png: bytes) -> None:
    mask = rect_mask((1024, 1536), RECT)
    with pytest.raises(ProviderError, match="unusable image"):
        composite(source_png, b"<html>rate limited</html>", mask)


def test_a_mask_of_the_wrong_size_is_a_programming_error(source_png: bytes) -> None:
    with pytest.raises(ValueError, match="mask"):
        composite(source_png, source_png, Image.new("L", (100, 100), 255))


def test_composite_is_deterministic(source: Image.Image, source_png: bytes) -> None:
    result = encode(ImageOps.invert(source))
    mask = rect_mask(source.size, RECT)
    assert composite(source_png, result, mask) == composite(source_png, result, mask)


def test_an_rgba_source_keeps_its_transparency_outside_the_edit() -> None:
    image = photo(1024, 1536).convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 100, 100))
    edit = prepare_edit(encode(image), box=RECT)
    out = decode(composite(edit.source_png, encode(Image.new("RGB", (1024, 1536), RED)), edit.mask))
    assert out.mode == "RGBA"
    assert out.getpixel((50, 50)) == (0, 0, 0, 0)
    assert out.getpixel((RECT[0] + 200, RECT[1] + 100)) == (*RED, 255)


# --------------------------------------------------------------------------- end to end


# ------------------------------------------------------------------ back at the photo's size


@pytest.mark.parametrize(
    ("width", "height"),
    [(4096, 1024), (1200, 900), (300, 200), (1000, 4000), (1024, 1536)],
    ids=["panorama-4to1", "photo-1200x900", "tiny-300x200", "tall-1to4", "already-valid"],
)
def test_an_edit_comes_back_at_the_photos_own_size_unchanged_outside_the_mask(
    width: int, height: int
) -> None:
    # Given a photo of any proportions and a box in it
    image = photo(width, height)
    rect = (width // 3, height // 3, width // 4, height // 4)
    edit = prepare_edit(encode(image), box=rect)
    # Then what is sent keeps the provider's size rules
    edit.size.check()
    assert decode(edit.source_png).size == (edit.size.width, edit.size.height)
    assert edit.mask.size == decode(edit.source_png).size
    # When the provider answers in solid red, at the size sent, and the answer is put back
    answer = encode(Image.new("RGB", (edit.size.width, edit.size.height), RED))
    out = decode(finish_edit(edit, answer))
    # Then the edit has exactly the photo's size
    assert out.size == (width, height) and out.mode == "RGB"
    # And beyond 3 * feather outside the box every pixel is the photo's own, byte for byte
    feather = max(2, round(0.005 * min(width, height)))
    outside = _far_outside(rect, 3 * feather, image.size)
    assert ImageChops.multiply(ImageChops.difference(out, image), outside).getbbox() is None
    # And inside the box is the provider's answer
    x, y, w, h = rect
    assert out.getpixel((x + w // 2, y + h // 2)) == RED


def test_a_provider_answer_of_another_size_is_scaled_to_what_was_sent_first() -> None:
    # Given a 1200x900 photo sent at 1200x912, and an answer at half that size
    image = photo(1200, 900)
    edit = prepare_edit(encode(image), box=(100, 100, 300, 200))
    answer = encode(Image.new("RGB", (600, 456), RED))
    # When it is put back, Then the photo's size and pixels away from the box are kept
    out = decode(finish_edit(edit, answer))
    assert out.size == (1200, 900)
    assert same_pixels(out.crop((600, 500, 1200, 900)), image.crop((600, 500, 1200, 900)))
    assert out.getpixel((250, 200)) == RED


def test_an_explicit_size_is_the_output_size_as_before() -> None:
    # Given a 1200x900 photo and a size the user chose
    edit = prepare_edit(encode(photo(1200, 900)), size=Size(1024, 1024), box=(500, 400, 100, 50))
    # When the answer is put back, Then it is at that size (scaled to cover, centre-cropped)
    out = decode(finish_edit(edit, encode(Image.new("RGB", (1024, 1024), RED))))
    assert out.size == (1024, 1024) and edit.placement == (0, 0, 1024, 1024)


def test_an_unreadable_answer_is_the_providers_fault() -> None:
    edit = prepare_edit(encode(photo(1024, 1024)), box=(0, 0, 10, 10))
    with pytest.raises(ProviderError, match="unusable image"):
        finish_edit(edit, b"<html>oops</html>")

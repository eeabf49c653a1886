"""Derivatives: a web-sized WebP and a thumbnail of every generated image."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from placard.domain.errors import InvalidInput
from placard.imaging.derivatives import THUMB_EDGE, WEB_EDGE, Derivative, derivatives
from tests.pictures import encode


def poster(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A stand-in for a generated poster: a gradient and a block of colour, in `mode`."""
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.new("L", (width, height), 90),
        ),
    )
    ImageDraw.Draw(base).rectangle((width // 4, height // 4, width // 2, height // 2), "#FF5A1F")
    return base if mode == "RGB" else base.convert(mode)


def opened(derivative: Derivative) -> Image.Image:
    image = Image.open(io.BytesIO(derivative.data))
    image.load()
    return image


def by_kind(data: bytes) -> dict[str, Derivative]:
    return {d.kind: d for d in derivatives(data)}


@pytest.mark.parametrize(
    ("size", "web", "thumb"),
    [
        ((1024, 1536), (853, 1280), (213, 320)),  # launch-poster, portrait 2:3
        ((1536, 1024), (1280, 853), (320, 213)),  # banner-wide, landscape 3:2
        ((1024, 1024), (1024, 1024), (320, 320)),  # social-square: already web-sized
        ((3840, 2160), (1280, 720), (320, 180)),  # the largest size the rules allow
        ((2880, 960), (1280, 427), (320, 107)),  # 3:1, the widest aspect allowed
    ],
)
def test_sizes_keep_the_aspect_ratio(
    size: tuple[int, int], web: tuple[int, int], thumb: tuple[int, int]
) -> None:
    # Given a generated image of one of the sizes placard makes
    data = encode(poster(*size))
    # When its derivatives are made
    made = by_kind(data)
    # Then the web copy fits 1280 px and the thumbnail 320 px, in the original's proportions
    assert opened(made["web"]).size == web
    assert opened(made["thumb"]).size == thumb
    for expected in (web, thumb):
        assert max(expected) <= WEB_EDGE
        assert abs(expected[0] / expected[1] - size[0] / size[1]) < 0.01


def test_web_then_thumb_both_webp() -> None:
    # Given a PNG original
    data = encode(poster(1024, 1536))
    # When its derivatives are made
    made = derivatives(data)
    # Then there are exactly a web copy and a thumbnail, in that order, both real WebP files
    assert [d.kind for d in made] == ["web", "thumb"]
    for derivative in made:
        assert derivative.media_type == "image/webp"
        assert derivative.extension == "webp"
        assert derivative.data[:4] == b"RIFF" and derivative.data[8:12] == b"WEBP"
        assert opened(derivative).format == "WEBP"
    # And they are much smaller than the original, the thumbnail smallest
    web, thumb = made
    assert len(thumb.data) < len(web.data) < len(data)
    assert max(opened(thumb).size) == THUMB_EDGE


def test_small_images_are_never_upscaled() -> None:
    # Given an image smaller than both limits
    data = encode(poster(200, 120))
    # When its derivatives are made
    made = by_kind(data)
    # Then both keep its size: re-encoded as WebP, not enlarged
    assert opened(made["web"]).size == (200, 120)
    assert opened(made["thumb"]).size == (200, 120)


def test_the_picture_survives() -> None:
    # Given a poster with an orange block in its top-left quarter
    data = encode(poster(1024, 1536))
    # When its thumbnail is made
    thumb = opened(by_kind(data)["thumb"]).convert("RGB")
    # Then the block is still there, in the same place, the same colour (lossy, so roughly)
    r, g, b = thumb.getpixel((thumb.width * 3 // 8, thumb.height * 3 // 8))  # type: ignore[misc]
    assert abs(r - 0xFF) < 24 and abs(g - 0x5A) < 24 and abs(b - 0x1F) < 24


def test_rgba_keeps_its_transparency() -> None:
    # Given an RGBA PNG whose left half is fully transparent
    image = poster(800, 600).convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 400, 600))
    # When its derivatives are made
    made = by_kind(encode(image))
    # Then both are WebP with an alpha channel: transparent on the left, opaque on the right
    for derivative in made.values():
        result = opened(derivative)
        assert result.mode == "RGBA"
        alpha = result.getchannel("A")
        assert alpha.getpixel((2, result.height // 2)) == 0
        assert alpha.getpixel((result.width - 3, result.height // 2)) == 255


def test_opaque_rgba_and_la_become_rgb() -> None:
    # Given an RGBA image with no transparent pixel, and a grey+alpha one likewise
    for mode in ("RGBA", "LA"):
        data = encode(poster(640, 480, mode))
        # When its derivatives are made
        made = by_kind(data)
        # Then the WebP carries no useless alpha channel
        assert opened(made["web"]).mode == "RGB", mode


def test_palette_images_are_converted() -> None:
    # Given a palette PNG (as some tools save posters), and one with a transparent index
    plain = poster(900, 600, "P")
    holey = plain.copy()
    holey.info["transparency"] = plain.getpixel((0, 0))
    for image, mode in ((plain, "RGB"), (holey, "RGBA")):
        # When its derivatives are made
        made = by_kind(encode(image))
        # Then they are true-colour WebP, with alpha only where there was transparency
        web = opened(made["web"])
        assert web.mode == mode
        assert web.size == (900, 600)
        assert opened(made["thumb"]).size == (320, 213)


def test_jpeg_and_webp_originals_and_exif_rotation() -> None:
    # Given a JPEG stored sideways with an EXIF orientation (rotate 90 clockwise), and a WebP
    sideways = poster(1536, 1024)
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = encode(sideways, "JPEG", quality=90, exif=exif.tobytes())
    webp = encode(poster(1536, 1024), "WEBP", quality=90)
    # When their derivatives are made
    # Then the JPEG's are upright (portrait), the WebP's landscape
    assert opened(by_kind(jpeg)["web"]).size == (853, 1280)
    assert opened(by_kind(webp)["web"]).size == (1280, 853)


def test_no_metadata_and_same_bytes_every_time() -> None:
    # Given a PNG with text metadata and a colour profile
    from PIL import ImageCms, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret prompt")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(poster(1024, 1024), pnginfo=info, icc_profile=srgb)
    # When derivatives are made twice
    first, second = derivatives(data), derivatives(data)
    # Then the bytes are identical and carry neither the text nor a profile
    assert first == second
    for derivative in first:
        assert b"secret prompt" not in derivative.data
        assert "icc_profile" not in opened(derivative).info
        assert "exif" not in opened(derivative).info


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"not an image at all", "is a text file, not an image; give a PNG, JPEG or WebP"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "damaged"),
    ],
)
def test_refuses_what_is_not_an_image(data: bytes, words: str) -> None:
    # Given bytes that are not a readable image
    # When derivatives are asked for
    # Then InvalidInput says why, naming the image
    with pytest.raises(InvalidInput, match=words) as caught:
        derivatives(data)
    assert caught.value.field == "image"


def test_refuses_a_truncated_image() -> None:
    # Given a PNG cut off halfway
    data = encode(poster(640, 480))
    # When derivatives are asked for
    # Then it is refused as damaged, not a Pillow exception
    with pytest.raises(InvalidInput, match="damaged"):
        derivatives(data[: len(data) // 2])


def test_refuses_a_decompression_bomb_before_decoding() -> None:
    # Given a tiny PNG whose header claims 100,000 x 100,000 pixels
    bomb = bytearray(encode(Image.new("L", (1, 1))))
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2
    # When derivatives are asked for
    # Then it is refused for its size, before any pixel is decoded
    with pytest.raises(InvalidInput, match="megapixels"):
        derivatives(bytes(bomb))

"""Smaller copies of a generated image for review: a web-sized WebP and a thumbnail.

The provider's original bytes stay as they are; these are stored beside them
(`campaigns/<campaign>/<job_id>/<i>.web.webp`, `<i>.thumb.webp`) so a contact sheet of
hundreds of posters opens quickly in a browser.

The input is read with the same guarded decoder as users' uploads (`decoding.decode`):
anything that is not a PNG, JPEG or WebP, or that claims more pixels than allowed, is
refused with `InvalidInput` before it is decoded. Colours are converted to sRGB and the
EXIF orientation applied; transparency is kept (WebP has an alpha channel). Images are only
ever shrunk, keeping their aspect ratio. Same input, same bytes: no metadata is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from placard.imaging.decoding import decode, normalise

WEB_EDGE: int = 1280  # longest edge of the web-sized copy, at most
THUMB_EDGE: int = 320  # longest edge of the thumbnail, at most
WEB_QUALITY: int = 80
THUMB_QUALITY: int = 75
# libwebp effort 0..6. Every image a worker makes pays for these, so the fastest effort:
# measured on a 1024x1024 poster, 22 ms against 83 ms at the default 4, for files 1.4x larger.
_METHOD = 0
_RESAMPLE = Image.Resampling.LANCZOS
_MEDIA_TYPE = "image/webp"
_EXTENSION = "webp"


@dataclass(frozen=True)
class Derivative:
    kind: str  # "web" or "thumb": the key's `<i>.<kind>.webp` (domain/keys.py)
    data: bytes
    media_type: str
    extension: str


def derivatives(data: bytes) -> list[Derivative]:
    """The web-sized copy ("web", longest edge at most WEB_EDGE) and the thumbnail
    ("thumb", longest edge at most THUMB_EDGE) of an image, both WebP, in that order.

    Raises `InvalidInput` (field "image") for bytes that are not a readable PNG, JPEG or WebP
    image, or that are too large to decode safely.
    """
    image = normalise(decode(data, "image"))  # RGB, or RGBA with real transparency
    web = _shrunk(image, WEB_EDGE)
    thumb = _shrunk(web, THUMB_EDGE)  # from the web copy: same result, a fraction of the work
    return [
        Derivative("web", _webp(web, WEB_QUALITY), _MEDIA_TYPE, _EXTENSION),
        Derivative("thumb", _webp(thumb, THUMB_QUALITY), _MEDIA_TYPE, _EXTENSION),
    ]


def _shrunk(image: Image.Image, edge: int) -> Image.Image:
    """A copy whose longest edge is at most `edge`, aspect kept; never enlarged. Pillow
    resizes RGBA premultiplied, so transparent pixels do not bleed dark fringes."""
    copy = image.copy()
    copy.thumbnail((edge, edge), _RESAMPLE, reducing_gap=3.0)  # a cheap first halving
    return copy


def _webp(image: Image.Image, quality: int) -> bytes:
    image.info = {}  # no EXIF, XMP or colour profile: pixels are sRGB already
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=_METHOD)
    return buffer.getvalue()

"""One image read back and judged: the one way the proof function, the CLI and the tests
check an image's words."""

from __future__ import annotations

from collections.abc import Sequence

from placard.domain.ports import ImageReader
from placard.domain.proofs import Proof, Region
from placard.proofing.judge import judge

# Around an edit's area: a reader needs some background about the words to find them.
MARGIN = 24


def read_back(
    reader: ImageReader,
    image: bytes,
    fields: Sequence[tuple[str, str]],
    region: Region | None = None,
) -> Proof:
    """The image's proof against the copy; with `region` (x, y, w, h), an edit's area, only
    the words there count."""
    if region is not None:
        image = _crop(image, region)
    return judge(fields, reader.read(image), reader.reads)


def _crop(image: bytes, region: Region) -> bytes:
    from placard.imaging.decoding import decode, png_bytes

    picture = decode(image, "image")
    x, y, w, h = region
    box = (
        max(0, x - MARGIN),
        max(0, y - MARGIN),
        min(picture.width, x + w + MARGIN),
        min(picture.height, y + h + MARGIN),
    )
    return png_bytes(picture.crop(box))

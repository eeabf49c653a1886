"""The corpus for edits: photos, masks and boxes as people send them.

Each case names the answer it must get: the field (source_image, mask, mask_box) and the key
words of the message, or, for a photo that is fine, that the edit comes back at the photo's
own size with every pixel away from the mask unchanged. Pipeline cases run on in-process moto
(the `stack` fixture) with a provider that records its calls.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable
from decimal import Decimal

import boto3
import pytest
from PIL import Image, ImageDraw

from placard import bootstrap
from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Quality
from placard.domain.ledger_items import Status
from placard.domain.templates import default_catalogue
from placard.imaging.edits import finish_edit, prepare_edit
from placard.providers.base import ImageRequest, ImageResult
from placard.providers.draft import DraftProvider
from placard.services.pipeline import Pipeline
from placard_local.stack import Stack
from tests.pictures import decode, encode

# --------------------------------------------------------------------------- files


def photo(width: int = 800, height: int = 600) -> Image.Image:
    """A stand-in for a photo: gradients and a few hard-edged shapes."""
    image = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(image)
    for i in range(5):
        x, y = (131 * i) % width, (97 * i) % height
        draw.rectangle((x, y, x + width // 9, y + height // 11), fill=(50 * i, 180, 90))
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming a huge image: a decompression bomb's first bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def png_16_bit_rgb(width: int, height: int) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow writes none), as scanners and editors save."""
    row = b"\x00" + bytes(range(0, 240, 40)) * width  # filter byte, then R G B of 2 bytes

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def animated(fmt: str) -> bytes:
    frames = [photo(), photo().rotate(15)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def mask_of(size: tuple[int, int], marked: tuple[int, int, int, int] | None) -> bytes:
    """White on black: `marked` (x, y, w, h) is the area to change."""
    image = Image.new("L", size, 0)
    if marked:
        x, y, w, h = marked
        image.paste(255, (x, y, x + w, y + h))
    return encode(image)


SOURCE = encode(photo())  # 800x600


# --------------------------------------------------------------------------- refused


@dataclasses.dataclass(frozen=True)
class Refusal:
    source: Callable[[], bytes]
    field: str
    words: tuple[str, ...]
    mask: Callable[[], bytes] | None = None
    box: tuple[int, int, int, int] | None = None


REFUSED = {
    "gif-source->source_image:is a GIF, PNG JPEG or WebP": Refusal(
        lambda: encode(photo(), "GIF"), "source_image", ("is a GIF", "PNG, JPEG or WebP")
    ),
    "tiff-source->source_image:is a TIFF, PNG JPEG or WebP": Refusal(
        lambda: encode(photo(), "TIFF"), "source_image", ("is a TIFF", "PNG, JPEG or WebP")
    ),
    "truncated-jpeg->source_image:damaged or incomplete": Refusal(
        lambda: encode(photo(), "JPEG")[:3000], "source_image", ("damaged or incomplete",)
    ),
    "decompression-bomb->source_image:60000x60000, megapixel limit": Refusal(
        lambda: png_claiming(60000, 60000),
        "source_image",
        ("60000x60000", "the limit is 40 megapixels"),
    ),
    "text-file-named-png->source_image:a text file, not an image": Refusal(
        lambda: b"price,product\n1.99,apples\n", "source_image", ("is a text file", "PNG, JPEG")
    ),
    "zero-byte-source->source_image:is empty": Refusal(
        lambda: b"", "source_image", ("is empty", "PNG, JPEG or WebP")
    ),
    "animated-png->source_image:animated, 2 frames, still image": Refusal(
        lambda: animated("PNG"), "source_image", ("is animated (2 frames)", "single still")
    ),
    "animated-webp->source_image:animated, 2 frames, still image": Refusal(
        lambda: animated("WEBP"), "source_image", ("is animated (2 frames)", "single still")
    ),
    "mask-other-proportions->mask:both sizes": Refusal(
        lambda: SOURCE,
        "mask",
        ("is 300x300", "the photo is 800x600", "same proportions"),
        mask=lambda: mask_of((300, 300), (0, 0, 50, 50)),
    ),
    "mask-marking-nothing->mask:marks no pixel to edit": Refusal(
        lambda: SOURCE,
        "mask",
        ("marks no pixel to edit", "white"),
        mask=lambda: mask_of((800, 600), None),
    ),
    "transparent-mask-fully-opaque->mask:marks no pixel to edit": Refusal(
        lambda: SOURCE,
        "mask",
        ("marks no pixel to edit",),
        mask=lambda: encode(Image.new("RGBA", (800, 600), (0, 0, 0, 255))),
    ),
    "zero-byte-mask->mask:is empty": Refusal(
        lambda: SOURCE, "mask", ("is empty",), mask=lambda: b""
    ),
    "gif-mask->mask:is a GIF": Refusal(
        lambda: SOURCE,
        "mask",
        ("is a GIF",),
        mask=lambda: encode(Image.new("L", (800, 600)), "GIF"),
    ),
    "photo-as-mask->mask:does not look like a mask": Refusal(
        lambda: SOURCE, "mask", ("does not look like a mask",), mask=lambda: SOURCE
    ),
    "box-outside-photo->mask_box:reaches outside, photo 800x600": Refusal(
        lambda: SOURCE, "mask_box", ("reaches outside", "800x600"), box=(700, 500, 200, 200)
    ),
    "box-zero-width->mask_box:at least 1 pixel, photo 800x600": Refusal(
        lambda: SOURCE, "mask_box", ("at least 1 pixel", "800x600"), box=(10, 10, 0, 10)
    ),
    "box-negative-corner->mask_box:cannot be negative, photo 800x600": Refusal(
        lambda: SOURCE, "mask_box", ("cannot be negative", "800x600"), box=(-5, 10, 10, 10)
    ),
    "box-huge-numbers->mask_box:reaches outside, photo 800x600": Refusal(
        lambda: SOURCE, "mask_box", ("reaches outside", "800x600"), box=(10**12, 0, 10**12, 5)
    ),
    "mask-and-box-together->mask_box:either, not both": Refusal(
        lambda: SOURCE,
        "mask_box",
        ("either a mask image or a mask box",),
        mask=lambda: mask_of((800, 600), (0, 0, 9, 9)),
        box=(0, 0, 9, 9),
    ),
    "strip-30000x8->source_image:too long and narrow": Refusal(
        lambda: encode(Image.new("RGB", (30000, 8), "white")),
        "source_image",
        ("30000x8", "too long and narrow"),
        box=(0, 0, 100, 8),
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_photo_mask_or_box_is_refused_naming_its_field(case: Refusal) -> None:
    # Given a photo, mask or box a person might send, When the edit is prepared
    with pytest.raises(InvalidInput) as caught:
        prepare_edit(case.source(), mask=case.mask() if case.mask else None, box=case.box)
    # Then the answer names the field and says what was found and what is allowed
    assert caught.value.field == case.field
    for words in case.words:
        assert words in caught.value.reason


# --------------------------------------------------------------------------- accepted as they are


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@dataclasses.dataclass(frozen=True)
class Accepted:
    source: Callable[[], bytes]
    upright: tuple[int, int] = (800, 600)  # the size the edit comes back at
    mask: Callable[[], bytes] | None = None
    box: tuple[int, int, int, int] | None = (100, 100, 200, 100)


ACCEPTED = {
    "cmyk-jpeg->converted to RGB, 800x600": Accepted(
        lambda: encode(photo().convert("CMYK"), "JPEG")
    ),
    "16-bit-greyscale-png->scaled to 8 bits, 800x600": Accepted(
        lambda: encode(Image.linear_gradient("L").resize((800, 600)).convert("I;16"))
    ),
    "16-bit-rgb-png->read as 8 bits, 800x600": Accepted(lambda: png_16_bit_rgb(800, 600)),
    "palette-png-with-transparency->RGBA, 800x600": Accepted(
        lambda: encode(photo().convert("P"), transparency=0)
    ),
    "exif-rotated-jpeg->turned upright, 600x800": Accepted(
        lambda: encode(photo(), "JPEG", exif=_orientation(6)), upright=(600, 800)
    ),
    # Allowed: the same as giving no mask, which edit templates allow (the whole picture).
    "mask-marking-everything->allowed as no mask, 800x600": Accepted(
        lambda: SOURCE, mask=lambda: mask_of((800, 600), (0, 0, 800, 600)), box=None
    ),
}


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_an_unusual_but_good_photo_is_edited_at_its_own_size(case: Accepted) -> None:
    # Given a good photo in an unusual form, and a box or mask
    # When the edit is prepared and a provider's answer put back
    edit = prepare_edit(case.source(), mask=case.mask() if case.mask else None, box=case.box)
    answer = encode(Image.new(edit.base.mode, (edit.size.width, edit.size.height), "red"))
    out = decode(finish_edit(edit, answer))
    # Then what is sent keeps the size rules and the edit comes back upright at its own size
    edit.size.check()
    assert out.size == case.upright and out.mode in ("RGB", "RGBA")
    assert edit.mask.getbbox() is not None


# --------------------------------------------------------------------------- the pipeline


class Recording:
    """The draft provider, recording each call."""

    name = "draft"

    def __init__(self) -> None:
        self.calls: list[ImageRequest] = []

    def create(self, request: ImageRequest) -> ImageResult:
        self.calls.append(request)
        return DraftProvider().create(request)


@pytest.fixture
def edits(parts: bootstrap.Parts) -> tuple[Pipeline, Recording]:
    spy = Recording()
    return dataclasses.replace(parts, make_provider=lambda settings: spy).pipeline, spy


def put(stack: Stack, key: str, data: bytes) -> str:
    boto3.client("s3").put_object(Bucket=stack.physical["UploadsBucket"], Key=key, Body=data)
    return key


def edit_job(
    source: str, mask: str | None = None, box: tuple[int, int, int, int] | None = None
) -> Job:
    return Job(
        campaign="store-12",
        template="price-tag-edit",
        template_version=default_catalogue()["price-tag-edit"].version,
        variables={"price": "$1.99"},
        quality=Quality.MEDIUM,
        size=None,  # as the README writes every edit: at the photo's own size
        mode=Mode.EDIT,
        row_id="1",
        source_image=source,
        mask=mask,
        mask_box=box,
    )


FAILED = {
    "pipeline-gif-source->source_image:is a GIF": (
        lambda: encode(photo(), "GIF"),
        None,
        (10, 10, 50, 50),
        "source_image: is a GIF",
    ),
    "pipeline-truncated-jpeg->source_image:damaged": (
        lambda: encode(photo(), "JPEG")[:3000],
        None,
        None,
        "source_image: could not be read",
    ),
    "pipeline-zero-byte-source->source_image:is empty": (
        lambda: b"",
        None,
        None,
        "source_image: is empty",
    ),
    "pipeline-bomb->source_image:megapixels": (
        lambda: png_claiming(60000, 60000),
        None,
        None,
        "source_image: is 60000x60000",
    ),
    "pipeline-mask-other-proportions->mask:both sizes": (
        lambda: SOURCE,
        lambda: mask_of((300, 300), (0, 0, 9, 9)),
        None,
        "mask: is 300x300 but the photo is 800x600",
    ),
    "pipeline-mask-marking-nothing->mask:marks no pixel": (
        lambda: SOURCE,
        lambda: mask_of((800, 600), None),
        None,
        "mask: marks no pixel to edit",
    ),
    "pipeline-box-outside->mask_box:photo 800x600": (
        lambda: SOURCE,
        None,
        (700, 500, 200, 200),
        "mask_box: the box 700,500,200,200 reaches",
    ),
}


@pytest.mark.parametrize(("source", "mask", "box", "reason"), FAILED.values(), ids=FAILED.keys())
def test_a_bad_edit_fails_clearly_at_no_cost_before_any_call(
    stack: Stack,
    edits: tuple[Pipeline, Recording],
    source: Callable[[], bytes],
    mask: Callable[[], bytes] | None,
    box: tuple[int, int, int, int] | None,
    reason: str,
) -> None:
    # Given an edit, without a size, whose photo, mask or box is bad
    pipeline, spy = edits
    source_key = put(stack, "campaigns/store-12/shelf.img", source())
    mask_key = put(stack, "campaigns/store-12/mask.img", mask()) if mask else None
    job = edit_job(source_key, mask_key, box)
    # When the pipeline runs it
    outcome = pipeline.run(job)
    # Then it ends failed, saying why, at no cost, and the provider was never called
    assert outcome.status == "failed" and outcome.reason.startswith(reason)
    assert outcome.cost_usd == 0 and spy.calls == []
    # And the ledger reads back (it crashed here) with no reservation kept
    items = pipeline.ledger.job_items(job.campaign, job.job_id)
    assert [(i.status, i.cost_usd, i.size) for i in items] == [(Status.FAILED, Decimal(0), "")]
    assert [i.job_id for i in pipeline.ledger.campaign_items(job.campaign)] == [job.job_id]


def test_a_photo_missing_from_the_uploads_bucket_fails_naming_it(
    edits: tuple[Pipeline, Recording],
) -> None:
    pipeline, spy = edits
    outcome = pipeline.run(edit_job("campaigns/store-12/nowhere.jpg"))
    assert outcome.status == "failed" and spy.calls == []
    assert outcome.reason == (
        "source_image: campaigns/store-12/nowhere.jpg is not in the uploads bucket"
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(4096, 1024), (1200, 900), (300, 200)],
    ids=["panorama-4096x1024->4096x1024", "photo-1200x900->1200x900", "tiny-300x200->300x200"],
)
def test_a_draft_edit_is_stored_at_the_photos_own_size_and_billed_at_the_size_sent(
    stack: Stack, edits: tuple[Pipeline, Recording], width: int, height: int
) -> None:
    # Given a photo of any proportions in the uploads bucket and a box on its price
    pipeline, spy = edits
    image = photo(width, height)
    box = (width // 3, height // 3, width // 4, height // 4)
    job = edit_job(put(stack, "campaigns/store-12/shelf.png", encode(image)), box=box)
    # When the pipeline runs it on the draft provider
    outcome = pipeline.run(job)
    # Then it succeeds, the image stored is the photo's size, and the ledger bills what was sent
    assert outcome.status == "succeeded", outcome.reason
    (item,) = outcome.items
    (sent,) = spy.calls
    assert item.size == str(sent.size) and item.status is Status.CHARGED
    stored = decode(pipeline.assets.read(item.s3_key))
    assert stored.size == (width, height)
    # And away from the box every pixel is the photo's own
    x, y, w, h = box
    margin = 4 * max(2, round(0.005 * min(width, height))) + 2
    keep = Image.new("L", image.size, 255)
    keep.paste(0, (x - margin, y - margin, x + w + margin, y + h + margin))
    black = Image.new("RGB", image.size)
    assert Image.composite(stored, black, keep).tobytes() == (
        Image.composite(image, black, keep).tobytes()
    )
    # And inside it the draft painted the new price (not the photo any more)
    assert stored.crop((x, y, x + w, y + h)).tobytes() != image.crop((x, y, x + w, y + h)).tobytes()

"""After a masked edit, the words inside the mask are read back against the new copy, with
the real reader: the same price elsewhere in the photo proves nothing about the edit."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from PIL import Image, ImageDraw

from placard.domain.jobs import Job, Mode, Quality
from placard.domain.proofs import Verdict
from placard.proofing.reader import OnnxReader
from placard.providers.base import ImageRequest, ImageResult
from placard.providers.draft import DraftProvider
from placard.services.pipeline import FIRST
from placard.services.proofs import Proofs
from tests.fakes import FakeDerivativeRequests, FakeJobQueue
from tests.unit.test_pipeline import World

PHOTO = "campaigns/shop/shelf.png"
LEFT_TAG = (100, 300, 400, 200)  # reads "$4.50" before and after the edit
RIGHT_TAG = (700, 300, 400, 200)  # the mask: the price to change


@pytest.fixture(scope="module")
def reader() -> OnnxReader:
    return OnnxReader()


def shelf() -> bytes:
    """Two white price tags on a brown shelf; the left one already says $4.50."""
    image = Image.new("RGB", (1200, 900), (150, 110, 70))
    draw = ImageDraw.Draw(image)
    for x, y, w, h in (LEFT_TAG, RIGHT_TAG):
        draw.rectangle((x, y, x + w, y + h), fill="white")
    draw.text((160, 340), "$4.50", fill="black", font_size=110)
    draw.text((760, 340), "$9.99", fill="black", font_size=110)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Unchanged:
    """A model that ignored the edit and answered the photo as it was sent."""

    name: str = "prospolabs"

    def create(self, request: ImageRequest) -> ImageResult:
        assert request.source is not None
        return ImageResult(images=(request.source,) * request.n, model="lazy-model")


def edited(provider: object, reader: OnnxReader) -> Verdict | None:
    """The verdict the proof function gives the right tag's edit to $4.50."""
    world = World(provider=provider)  # type: ignore[arg-type]
    world.uploads.put(PHOTO, shelf())
    job = Job("shop", "price-tag-edit", "v1", {"price": "$4.50"}, Quality.MEDIUM, None,
              mode=Mode.EDIT, source_image=PHOTO, mask_box=RIGHT_TAG)  # fmt: skip
    outcome = world.pipeline.run(job)
    originals = [(i.image_index, i.s3_key) for i in outcome.items]
    proofs = Proofs(world.catalogue, reader, world.assets, world.ledger, FakeJobQueue(),
                    FakeDerivativeRequests())  # fmt: skip
    proofs.check(job, FIRST, originals, outcome.status, outcome.reason, outcome.region)
    (item,) = world.items(job)
    return Verdict(item.proof) if item.proof else None


def test_an_edit_whose_mask_reads_the_new_copy_passes(reader: OnnxReader) -> None:
    # Given the draft provider, which paints the new copy into the mask, When it is proofed
    # Then the words inside the mask are the new price
    assert edited(DraftProvider(), reader) is Verdict.PASS


def test_an_edit_that_left_the_mask_unchanged_fails_though_the_price_is_elsewhere(
    reader: OnnxReader,
) -> None:
    # Given a model that changed nothing (the mask still says $9.99; the other tag says
    # $4.50), When it is proofed, Then it fails: only the words inside the mask count
    assert edited(Unchanged(), reader) is Verdict.FAIL

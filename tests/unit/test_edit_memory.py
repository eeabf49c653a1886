"""An edit holds nothing decoded while it waits for the image API (issue #15).

The worker waits on ten jobs at once in one invocation, so what each edit keeps across the
provider's call is what sizes its memory (docs/cost.md): the bytes it sends, and its photo's
own encoded bytes when the photo had to be scaled to be sent; never a decoded image. The
image API here looks, while it is being called, at what is alive in the process.
"""

from __future__ import annotations

import gc
import io
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
from PIL import Image

from placard.domain.jobs import Job, Mode, Quality, Size
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.imaging.gate import PixelGate
from placard.providers.base import ImageRequest, ImageResult
from placard.services.pipeline import Pipeline
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeUploads

SOURCE = "campaigns/summer/photo.png"
# Allocated during the job and alive at the call, beyond the bytes sent: ledger items, the
# request, the small "L" mask PNG; a decoded photo's pixels would be megabytes.
SLACK = 512 * 1024


def png(width: int, height: int) -> bytes:
    """A photo-like PNG: grain, so its PNG is about as large as its pixels."""
    image = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


@dataclass
class WatchingProvider:
    """Answers a red image of the size asked for; inside the call, notes the decoded images
    alive in the process and the memory allocated since tracing began."""

    name: str = "prospolabs"
    alive: list[tuple[int, int]] = field(default_factory=list)
    held: int = 0
    sent: int = 0
    size: tuple[int, int] = (0, 0)
    gate: PixelGate | None = None
    gated: int = -1  # the gate's pixels in use during the call

    def create(self, request: ImageRequest) -> ImageResult:
        gc.collect()
        self.alive = [o.size for o in gc.get_objects() if isinstance(o, Image.Image)]
        self.held = held_by_placard() if tracemalloc.is_tracing() else 0
        self.sent = len(request.source or b"") + len(request.mask or b"")
        self.size = (request.size.width, request.size.height)
        self.gated = self.gate.in_use if self.gate else -1
        answer = io.BytesIO()
        Image.new("RGB", (request.size.width, request.size.height), "red").save(answer, "PNG")
        return ImageResult(images=(answer.getvalue(),), model="fake-model", generation_id="gen-1")


def held_by_placard() -> int:
    """Bytes alive that placard's code allocated (any frame of theirs in placard): not what
    another thread of the test process, or pytest, happens to hold at that moment."""
    ours = tracemalloc.Filter(True, "*placard*", all_frames=True)
    return sum(t.size for t in tracemalloc.take_snapshot().filter_traces([ours]).traces)


@pytest.fixture
def tracing() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(10)  # deep enough to find placard's frame under Pillow's
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


def pipeline(uploads: FakeUploads, provider: WatchingProvider, **wiring: object) -> Pipeline:
    return Pipeline(
        catalogue=default_catalogue(),
        prices=default_prices(),
        provider=provider,
        assets=FakeAssets(),
        ledger=FakeLedger(),
        uploads=uploads,
        budgets=FakeBudgets(),
        kept_jobs=FakeJobStore(),
        **wiring,  # type: ignore[arg-type]
    )


def edit(size: Size | None = None) -> Job:
    return Job(
        campaign="summer",
        template="sign-text-swap",
        template_version="v1",
        variables={"new_text": "Sale"},
        quality=Quality.MEDIUM,
        size=size,
        mode=Mode.EDIT,
        source_image=SOURCE,
        mask_box=(100, 100, 300, 200),
    )


@pytest.mark.parametrize(
    ("photo", "size"),
    [
        pytest.param((1008, 1504), None, id="sent-as-it-is"),
        pytest.param((1000, 1500), None, id="padded-to-multiples-of-16"),
        pytest.param((1200, 900), Size(1024, 1024), id="cropped-to-a-chosen-size"),
        pytest.param((4000, 2400), None, id="scaled-down-to-be-sent"),
    ],
)
def test_an_edit_holds_no_decoded_image_while_the_image_api_works(
    photo: tuple[int, int], size: Size | None, tracing: None
) -> None:
    # Given an edit of a photo-like upload, and an image API that looks at what is alive
    uploads, provider = FakeUploads(), WatchingProvider()
    uploads.put(SOURCE, png(*photo))
    worker, job = pipeline(uploads, provider), edit(size)
    # (a first edit of another job: what the first one loads for good, the template's Jinja
    # and Pillow's plugins, is not what an edit holds)
    pipeline(uploads, WatchingProvider()).run(replace(job, variables={"new_text": "Warm"}))
    baseline = held_by_placard()

    # When the worker runs it
    outcome = worker.run(job)

    # Then, during the call, no image of the photo's size, the sent size or the output's
    # was alive (decoded pixels, or a mask)
    assert outcome.status == "succeeded"
    output = (size.width, size.height) if size else photo
    assert [s for s in provider.alive if s in {photo, provider.size, output}] == []
    # And what it held, beyond the bytes it sent, was small
    assert provider.held - baseline - provider.sent < SLACK
    # And the edit came back at the photo's size, or the size chosen
    with Image.open(io.BytesIO(worker.assets.read(outcome.items[0].s3_key))) as image:
        assert image.size == output


def test_an_edit_takes_its_turn_at_the_gate_to_decode_but_not_to_wait() -> None:
    # Given a worker whose edits take turns at a pixel gate, asked for the pixels they weigh
    uploads, provider, gate = FakeUploads(), WatchingProvider(), PixelGate(2 * 3840 * 2160)
    uploads.put(SOURCE, png(1000, 1500))
    asked: list[int] = []

    def weighed(pixels: int) -> object:
        asked.append(pixels)
        return gate(pixels)

    provider.gate = gate
    worker = pipeline(uploads, provider, pixel_gate=weighed)
    # When it runs an edit
    outcome = worker.run(edit())
    # Then it took its turn to prepare (the sent image's pixels) and to finish it (the same)
    assert outcome.status == "succeeded"
    assert asked == [1008 * 1504, 1008 * 1504]
    # And held no turn while the image API worked
    assert provider.gated == 0 and gate.in_use == 0

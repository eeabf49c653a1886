"""What every image API looks like to the pipeline: one call, some images, what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from placard.domain.errors import PlacardError
from placard.domain.jobs import Mode, Quality, Size

# Every provider by name, the free offline one first; the factory in providers/__init__.py,
# the CLI and estimates all take them from here.
DRAFT = "draft"
PAID = ("openai", "prospolabs")  # the ones that call an image API and cost money
NAMES = (DRAFT, *PAID)


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    quality: Quality
    size: Size
    n: int
    template: str
    texts: tuple[tuple[str, str], ...]  # the words that must appear, for proofs and checks
    seed: str  # stable per job, so an offline render is the same every time
    mode: Mode = Mode.GENERATE
    source: bytes | None = None  # edit: the source PNG, already at `size`
    mask: bytes | None = None  # edit: PNG, alpha 0 where the image may change
    box: tuple[int, int, int, int] | None = None  # edit: bounding box of the mask, x, y, w, h
    # time.monotonic() by which the call must be over, answered or not: the invocation's end,
    # less the time to record the outcome (docs/design.md, "Every job ends"); None: no limit
    deadline: float | None = None


@dataclass(frozen=True)
class ImageResult:
    images: tuple[bytes, ...]
    model: str
    generation_id: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    media_type: str = "image/png"
    attempts: int = 1
    throttled: int = 0
    unknown_outcomes: int = 0  # attempts sent whose answer never arrived (maybe billed)


class ImageProvider(Protocol):
    name: str

    def create(self, request: ImageRequest) -> ImageResult: ...


class ProviderError(PlacardError):
    """The provider did not deliver. `permanent` errors are not worth retrying."""

    permanent = False

    def __init__(self, message: str, *, unknown_outcomes: int = 0) -> None:
        super().__init__(message)
        self.unknown_outcomes = unknown_outcomes


class ProviderRefused(ProviderError):
    """Content policy or invalid request: the provider's own message, never retried."""

    permanent = True


class ProviderUnavailable(ProviderError):
    """Throttled, failing or unreachable after the retry budget: the job is retried later."""


class OutOfTime(ProviderUnavailable):
    """The invocation's time ran out before an answer: retried later, like any other fault,
    and recorded while there is still time to (a request in flight leaves its outcome unknown)."""

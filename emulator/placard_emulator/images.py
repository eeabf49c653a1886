"""The images the emulator answers with: the prompt's quoted copy set in real type, as a
model that renders text well would draw it, misspelt in a chosen share of images.

Layout and type are placard's draft renderer's (`render_generate`, and `render_edit` into the
mask's area of an edit's source), so the words are as legible as a draft's. Each image is
recorded (stats.ImageRecord; ``GET /_emulator/images``): its sha256, whether it was misspelt
and how, the copy asked for and the copy drawn. Which images are misspelt, and how, is
lettering.py's business.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from PIL import Image, ImageDraw, UnidentifiedImageError

from placard.providers.draft_render import render_edit, render_generate
from placard_emulator.lettering import Slip, is_misspelt, misspell, quoted, share_of
from placard_emulator.params import Job, Source
from placard_emulator.stats import ImageRecord

Box = tuple[int, int, int, int]

# The variants an image can take (a background for a generation, a tint for an edit): image
# i of a prompt is variant (prompt's + i) mod 12. Few on purpose: encoded images are cached
# per (size, variant, copy), so a benchmark of hundreds of prompts draws only a handful.
_PALETTE: Final[tuple[tuple[int, int, int], ...]] = (
    (214, 69, 65),
    (232, 126, 4),
    (244, 208, 63),
    (38, 166, 91),
    (22, 160, 133),
    (52, 152, 219),
    (41, 128, 185),
    (142, 68, 173),
    (236, 100, 165),
    (149, 165, 166),
    (52, 73, 94),
    (211, 84, 0),
)


class _ImageCache:
    """Encoded images by key, least recently used first out."""

    def __init__(self, capacity: int = 96) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return made


_CACHE: Final = _ImageCache()


def _encode(image: Image.Image, output_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format={"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[output_format])
    return buffer.getvalue()


def _as_format(png: bytes, output_format: str) -> bytes:
    """The renderer's PNG as the output format asked for (a PNG as it is)."""
    if output_format == "png":
        return png
    with Image.open(io.BytesIO(png)) as image:
        return _encode(image.convert("RGB"), output_format)


def _texts(copy: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"quote{i}", text) for i, text in enumerate(copy, start=1)]


def _generated(width: int, height: int, variant: int, copy: tuple[str, ...], fmt: str) -> bytes:
    def make() -> bytes:
        png = render_generate(width, height, "", _texts(copy), seed=f"emulator#{variant}")
        return _as_format(png, fmt)

    return _CACHE.get(("gen", width, height, variant, copy, fmt), make)


def _scaled(box: Box, source: tuple[int, int], size: tuple[int, int]) -> Box:
    """An (x, y, w, h) box on the source, on the image resized to size."""
    sx, sy = size[0] / source[0], size[1] / source[1]
    x, y, w, h = box
    return (round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy)))


def _edited(
    source: Source, width: int, height: int, variant: int, copy: tuple[str, ...], fmt: str
) -> bytes:
    """The source at the output size, tinted (a model's edit changes pixels outside the
    mask too: placard composites them back), the copy set into the mask's area."""

    def make() -> bytes:
        base = source.image.convert("RGB")
        if base.size != (width, height):
            base = base.resize((width, height))
        tint = Image.new("RGB", (width, height), _PALETTE[variant])
        image = Image.blend(base, tint, 0.35)
        box = _scaled(source.mask_box, source.size, (width, height)) if source.mask_box else None
        if not copy:
            side = max(4, min(width, height) // 12)  # no words: a mark, so it still differs
            draw = ImageDraw.Draw(image)
            draw.rectangle((side, side, 2 * side, 2 * side), fill=(20, 20, 20))
            return _encode(image, fmt)
        png = render_edit(_encode(image, "png"), box or (0, 0, width, height), _texts(copy))
        return _as_format(png, fmt)

    key = ("edit", source.digest, source.mask_box, width, height, variant, copy, fmt)
    return _CACHE.get(key, make)


def _variant_of(prompt: str) -> int:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % len(_PALETTE)


class Painter:
    """Draws each job's images and keeps a record of each; decides which are misspelt.

    Every image made gets the next serial number, which picks its variant: the images of a
    request differ, and so does a re-roll of the same prompt (until the 12 variants come
    round again). Images with copy are also counted from the last (re)configuration or
    reset, the count lettering.py picks the misspelt ones by, so a test that sets a share
    then asks for N images gets floor(N x share) misspelt ones. Thread-safe: requests are
    answered in parallel."""

    def __init__(self, misspell: float, seed: int) -> None:
        self._lock = threading.Lock()
        self._records: list[ImageRecord] = []
        self._share = share_of(misspell)
        self._seed = seed
        self._serial = 0  # every image
        self._counter = 0  # images with copy

    def configure(self, misspell: float, seed: int) -> None:
        """A new share or seed: the count of images with copy starts again."""
        with self._lock:
            self._share, self._seed, self._counter = share_of(misspell), seed, 0

    def reset(self) -> None:
        """Forget the records; the count of images starts again."""
        with self._lock:
            self._records, self._serial, self._counter = [], 0, 0

    def records(self) -> list[ImageRecord]:
        with self._lock:
            return list(self._records)

    def _next(self, asked: tuple[str, ...]) -> tuple[int, Slip | None]:
        """The next image's serial number, and its misspelling if it is one of the share
        (None: drawn as asked; an image without copy is not counted)."""
        with self._lock:
            self._serial += 1
            if not asked:
                return self._serial, None
            self._counter += 1
            serial, k, share, seed = self._serial, self._counter, self._share, self._seed
        if not is_misspelt(share, k):
            return serial, None
        return serial, misspell(asked, random.Random(f"{seed}:{k}"))  # noqa: S311 - not a secret

    def render(self, job: Job, output_format: str) -> list[bytes]:
        """The job's n images, encoded; an edit sets its copy into its first source."""
        asked = tuple(quoted(job.prompt))
        base = _variant_of(job.prompt)
        images, records = [], []
        for _ in range(job.n):
            serial, slip = self._next(asked)
            variant = (base + serial) % len(_PALETTE)
            drawn = slip.drawn if slip else asked
            if job.sources:
                source = job.sources[0]
                image = _edited(source, job.width, job.height, variant, drawn, output_format)
            else:
                image = _generated(job.width, job.height, variant, drawn, output_format)
            images.append(image)
            records.append(
                ImageRecord(
                    sha256=hashlib.sha256(image).hexdigest(),
                    misspelt=slip is not None,
                    kind=slip.kind if slip else None,
                    how=slip.how if slip else None,
                    asked=asked,
                    drawn=drawn,
                )
            )
        with self._lock:
            self._records.extend(records)
        return images


def image_summary(data: bytes) -> dict[str, object]:
    """What the request log says of an uploaded image: its size and mode, if it is one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return {"width": image.width, "height": image.height, "mode": image.mode}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return {}

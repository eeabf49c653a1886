"""The images the emulator answers with: flat, cheap, and the same for the same prompt."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from PIL import Image, ImageDraw, UnidentifiedImageError

from placard_emulator.params import Job, Source

# Flat colours for generated images. Few on purpose: encoded PNGs are cached per
# (size, colour), so a benchmark of hundreds of prompts encodes only a handful of images.
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


def _contrast(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return (20, 20, 20) if sum(colour) > 3 * 128 else (245, 245, 245)


def _generated(width: int, height: int, colour: int, output_format: str) -> bytes:
    def make() -> bytes:
        fill = _PALETTE[colour]
        image = Image.new("RGB", (width, height), fill)
        draw = ImageDraw.Draw(image)
        ink = _contrast(fill)
        accent = _PALETTE[(colour + 5) % len(_PALETTE)]
        draw.rectangle((width // 10, height // 10, width * 9 // 10, height * 3 // 10), fill=ink)
        draw.rectangle((width // 5, height // 2, width * 3 // 5, height * 17 // 20), fill=accent)
        draw.rectangle((width * 13 // 20, height // 2, width * 4 // 5, height * 13 // 20), fill=ink)
        return _encode(image, output_format)

    return _CACHE.get(("gen", width, height, colour, output_format), make)


def _edited(source: Source, width: int, height: int, colour: int, output_format: str) -> bytes:
    """The source at the output size, tinted (so it differs from the source everywhere)."""

    def make() -> bytes:
        base = source.image.convert("RGB")
        if base.size != (width, height):
            base = base.resize((width, height))
        tint = Image.new("RGB", (width, height), _PALETTE[colour])
        image = Image.blend(base, tint, 0.35)
        draw = ImageDraw.Draw(image)
        side = max(4, min(width, height) // 12)
        draw.rectangle((side, side, 2 * side, 2 * side), fill=_contrast(_PALETTE[colour]))
        return _encode(image, output_format)

    return _CACHE.get(("edit", source.digest, width, height, colour, output_format), make)


def _colour_of(prompt: str) -> int:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % len(_PALETTE)


def render(job: Job, output_format: str) -> list[bytes]:
    """The job's n images, encoded; an edit tints its first source."""
    base = _colour_of(job.prompt)
    images = []
    for index in range(job.n):
        colour = (base + index) % len(_PALETTE)
        if job.sources:
            images.append(_edited(job.sources[0], job.width, job.height, colour, output_format))
        else:
            images.append(_generated(job.width, job.height, colour, output_format))
    return images


def image_summary(data: bytes) -> dict[str, object]:
    """What the request log says of an uploaded image: its size and mode, if it is one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return {"width": image.width, "height": image.height, "mode": image.mode}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return {}

"""Parameter validation shared by both wire formats, and the job it yields."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from PIL import Image, UnidentifiedImageError

from placard_emulator.errors import ApiError, invalid

QUALITIES: Final = ("low", "medium", "high", "auto")
AUTO_QUALITY: Final = "medium"
DEFAULT_SIZE: Final = (1024, 1024)
_MAX_EDGE: Final = 3840
_MIN_PIXELS: Final = 655_360
_MAX_PIXELS: Final = 8_294_400
_MAX_N: Final = 10
_SIZE_RE: Final = re.compile(r"(\d{1,6})x(\d{1,6})")


@dataclass
class Source:
    """A decoded source image of an edit."""

    image: Image.Image
    digest: str
    mask_box: tuple[int, int, int, int] | None = None
    """(x, y, w, h) of the mask's transparent pixels (the area to edit); None: no mask."""

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


@dataclass
class Job:
    """A validated generation or edit, ready to render."""

    prompt: str
    n: int
    width: int
    height: int
    quality: str
    output_format: str
    sources: list[Source] = field(default_factory=list)

    @property
    def edit(self) -> bool:
        return bool(self.sources)


def json_object(body: bytes) -> dict[str, object] | ApiError:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return invalid(
            None,
            "We could not parse the JSON body of your request. (HINT: This likely means "
            "you aren't using your HTTP library correctly.)",
            None,
        )
    if not isinstance(data, dict):
        return invalid(None, "The request body must be a JSON object.", None)
    return data


def parse_size(value: object) -> tuple[int, int] | None:
    """``None`` for "auto"; (width, height) for a size the model can render."""
    if value is None or value == "auto":
        return None
    match = _SIZE_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid("size", f"Invalid size {value!r}: expected 'auto' or 'WIDTHxHEIGHT'.")
    width, height = int(match.group(1)), int(match.group(2))
    problem = None
    if width % 16 or height % 16:
        problem = "both sides must be multiples of 16"
    elif max(width, height) > _MAX_EDGE:
        problem = f"the longest edge must be at most {_MAX_EDGE}px"
    elif max(width, height) > 3 * min(width, height):
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif not _MIN_PIXELS <= width * height <= _MAX_PIXELS:
        problem = f"the total pixels must be between {_MIN_PIXELS:,} and {_MAX_PIXELS:,}"
    if problem:
        raise invalid("size", f"Invalid size '{value}': {problem}.")
    return width, height


def _parse_int(name: str, value: object, *, from_form: bool) -> int:
    if from_form and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, f"Invalid type for '{name}': expected an integer.", "invalid_type")
    return value


def choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(f"'{a}'" for a in allowed)
        raise invalid(
            name, f"Invalid value for '{name}': {value!r}. Supported values are: {options}."
        )
    return value


def prompt(value: object) -> str:
    if value is None:
        raise invalid(
            "prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter"
        )
    if not isinstance(value, str):
        raise invalid("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    if not value.strip():
        raise invalid("prompt", "Invalid 'prompt': empty string.", "empty_string")
    return value


def count(value: object, *, from_form: bool) -> int:
    n = 1 if value is None else _parse_int("n", value, from_form=from_form)
    if not 1 <= n <= _MAX_N:
        raise invalid("n", f"Invalid 'n': {n} is not between 1 and {_MAX_N}.")
    return n


def background(value: object) -> None:
    if value == "transparent":
        raise invalid("background", "Transparent backgrounds are not supported for this model.")
    if value is not None:
        choice("background", value, ("auto", "opaque"))


@dataclass(frozen=True)
class Asked:
    """The fields both wire formats share, checked in the order the services check them."""

    prompt: str
    n: int
    size: tuple[int, int] | None
    quality: str


def asked(params: Mapping[str, object], *, form: bool = False) -> Asked:
    text = prompt(params.get("prompt"))
    n = count(params.get("n"), from_form=form)
    size = parse_size(params.get("size"))
    quality = choice("quality", params.get("quality", "auto"), QUALITIES)
    background(params.get("background"))
    return Asked(prompt=text, n=n, size=size, quality=quality)


def make_job(asked: Asked, sources: list[Source], output_format: str) -> Job:
    """The job to render: an "auto" size is the first source's, or the default."""
    size = asked.size or (sources[0].size if sources else DEFAULT_SIZE)
    return Job(
        prompt=asked.prompt,
        n=asked.n,
        width=size[0],
        height=size[1],
        quality=AUTO_QUALITY if asked.quality == "auto" else asked.quality,
        output_format=output_format,
        sources=sources,
    )


def decode_image(data: bytes, param: str, label: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise invalid(
            param,
            f"Invalid image file or mode for {label}, please check your image file.",
            "invalid_image_file",
        ) from exc
    return image


def source(data: bytes, param: str, label: str) -> Source:
    """A source image decoded (or a 400 naming ``param``), with its digest for the cache."""
    return Source(image=decode_image(data, param, label), digest=hashlib.sha256(data).hexdigest())


def check_mask(data: bytes, first: Image.Image) -> tuple[int, int, int, int] | None:
    """The box (x, y, w, h) of the mask's transparent pixels, or a 400 naming the mask;
    None when no pixel is transparent."""
    mask = decode_image(data, "mask", "mask")
    if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
        raise invalid(
            "mask",
            "Invalid mask image format - mask must have an alpha channel",
            "invalid_image_format",
        )
    if mask.size != first.size:
        raise invalid(
            "mask",
            "Invalid mask image format - mask size does not match image size",
            "invalid_image_format",
        )
    area = mask.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0).getbbox()
    return None if area is None else (area[0], area[1], area[2] - area[0], area[3] - area[1])

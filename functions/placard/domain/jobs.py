"""Jobs and the values they are made of: quality, size, mode. Pure data and validation."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from placard.domain.errors import InvalidInput

MAX_IMAGES_PER_JOB = 10


class Quality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @classmethod
    def parse(cls, value: str) -> Quality:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise InvalidInput(
                "quality", f"must be one of {', '.join(q.value for q in cls)}", value
            ) from None


class Mode(StrEnum):
    GENERATE = "generate"
    EDIT = "edit"


_SIZE = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")
MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400
MAX_EDGE = 3840
EXPERIMENTAL_PIXELS = 2560 * 1440


@dataclass(frozen=True, order=True)
class Size:
    """An image size under gpt-image-2's rules, applied to every provider (docs/design.md §6)."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def experimental(self) -> bool:
        return self.pixels > EXPERIMENTAL_PIXELS

    @classmethod
    def parse(cls, value: str) -> Size:
        match = _SIZE.match(value)
        if not match:
            raise InvalidInput("size", "must look like WIDTHxHEIGHT, e.g. 1024x1536", value)
        size = cls(int(match[1]), int(match[2]))
        size.check()
        return size

    def check(self) -> None:
        w, h = self.width, self.height
        problem = None
        if w % 16 or h % 16:
            problem = "both sides must be multiples of 16"
        elif max(w, h) > MAX_EDGE:
            problem = f"the longest side may be at most {MAX_EDGE}"
        elif max(w, h) > 3 * min(w, h):
            problem = "the aspect ratio must be between 1:3 and 3:1"
        elif not MIN_PIXELS <= self.pixels <= MAX_PIXELS:
            problem = f"must have between {MIN_PIXELS:,} and {MAX_PIXELS:,} pixels"
        if problem:
            raise InvalidInput("size", f"{self} is not allowed: {problem}", str(self))


def parse_box(text: str) -> tuple[int, int, int, int]:
    """'x,y,w,h' (spaces allowed) -> ints; InvalidInput(field="mask_box") if malformed,
    negative, or w/h == 0."""
    parts = [part.strip() for part in str(text).split(",")]
    example = (
        "e.g. 120,80,400,150 for a box 400 wide and 150 high whose top left corner is 120 "
        "from the left and 80 from the top"
    )
    if len(parts) != 4 or not all(_is_integer(part) for part in parts):
        raise InvalidInput(
            "mask_box", f"must be four whole numbers x,y,w,h in pixels, {example}", text
        )
    x, y, w, h = (int(part) for part in parts)
    return check_box((x, y, w, h), text)


def _is_integer(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return 0 < len(digits) <= 9 and digits.isascii() and digits.isdigit()


def check_box(box: object, value: object) -> tuple[int, int, int, int]:
    if (
        not isinstance(box, tuple | list)
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    ):
        raise InvalidInput("mask_box", "must be four whole numbers x,y,w,h in pixels", value)
    x, y, w, h = (int(v) for v in box)
    if x < 0 or y < 0:
        raise InvalidInput("mask_box", "x and y (the top left corner) cannot be negative", value)
    if w <= 0 or h <= 0:
        raise InvalidInput("mask_box", "width and height must be at least 1 pixel", value)
    return x, y, w, h


def parse_background(text: str) -> None:
    """gpt-image-2 cannot make transparent backgrounds: refuse before anything is spent."""
    value = text.strip().lower()
    if value == "transparent":
        raise InvalidInput("background", "transparent backgrounds are not supported", text)
    if value not in ("", "auto", "opaque"):
        raise InvalidInput("background", "must be opaque or auto", text)


def parse_n(value: str | int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise InvalidInput("n", "must be a whole number from 1 to 10", value) from None
    if not 1 <= n <= MAX_IMAGES_PER_JOB:
        raise InvalidInput("n", f"must be from 1 to {MAX_IMAGES_PER_JOB}", value)
    return n


@dataclass(frozen=True)
class Job:
    """One request for `n` images. Its id is derived from its content (docs/design.md, invariant
    2)."""

    campaign: str
    template: str
    template_version: str
    variables: dict[str, str]
    quality: Quality
    size: Size | None  # None: an edit at the source's own size
    n: int = 1
    mode: Mode = Mode.GENERATE
    row_id: str = ""
    source_image: str | None = None
    mask: str | None = None
    mask_box: tuple[int, int, int, int] | None = None
    # Where it came from; not part of its identity, so a re-upload converges on the same job.
    origin: dict[str, Any] = field(default_factory=dict, compare=False)

    @cached_property
    def job_id(self) -> str:
        identity = self.to_dict()
        identity.pop("origin")
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return digest[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "template": self.template,
            "template_version": self.template_version,
            "variables": dict(self.variables),
            "quality": self.quality.value,
            "size": str(self.size) if self.size else None,
            "n": self.n,
            "mode": self.mode.value,
            "row_id": self.row_id,
            "source_image": self.source_image,
            "mask": self.mask,
            "mask_box": list(self.mask_box) if self.mask_box else None,
            "origin": dict(self.origin),
        }

    def to_json(self, **extra: Any) -> str:
        """The job as its queue message carries it: with its id, which keys the worker's
        idempotency, and any `extra` the message needs (a re-roll's round)."""
        return json.dumps({**self.to_dict(), "job_id": self.job_id, **extra}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        box = data.get("mask_box")
        return cls(
            campaign=data["campaign"],
            template=data["template"],
            template_version=data["template_version"],
            variables=dict(data["variables"]),
            quality=Quality(data["quality"]),
            size=Size.parse(data["size"]) if data.get("size") else None,
            n=int(data.get("n", 1)),
            mode=Mode(data.get("mode", Mode.GENERATE)),
            row_id=str(data.get("row_id", "")),
            source_image=data.get("source_image"),
            mask=data.get("mask"),
            mask_box=(box[0], box[1], box[2], box[3]) if box else None,
            origin=dict(data.get("origin") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls.from_dict(json.loads(text))


_CAMPAIGN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def parse_campaign(value: str) -> str:
    """Campaign names become S3 key parts and ledger keys, so they stay plain."""
    name = value.strip()
    if not _CAMPAIGN.match(name):
        raise InvalidInput(
            "campaign",
            "use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
            value,
        )
    return name

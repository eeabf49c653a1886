"""The reseller prospolabs' wire format: ``/v1/generate`` (JSON, base64 images in, a flat
price) answered with signed download URLs (see downloads.py) rather than inline images."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Final, cast

from placard_emulator import billing
from placard_emulator.config import EmulatorConfig
from placard_emulator.downloads import Downloads
from placard_emulator.errors import ApiError, invalid
from placard_emulator.images import Painter, image_summary
from placard_emulator.params import Job, Source, asked, check_mask, choice, json_object, make_job
from placard_emulator.params import source as decode_source

GENERATE: Final = "/v1/generate"
_STATUS: Final = {"content_policy": 422}


def error_body(error: ApiError) -> dict[str, object]:
    message = error.message
    if error.kind == "invalid_request" and error.param and error.param not in message:
        message = f"Invalid '{error.param}': {message}"
    if error.kind == "content_policy":
        message = "The prompt or image was rejected by the content policy."
    elif error.kind == "unauthorized":
        message = "Missing or invalid API key."
    return {"error": {"code": error.kind, "message": message}}


def _b64_image(value: object, name: str) -> bytes | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(
            name, f"Invalid '{name}': expected a base64-encoded PNG string.", "invalid_type"
        )
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(name, f"Invalid '{name}': not valid base64.") from exc


def _b64_summary(value: str) -> dict[str, object]:
    """What the request log keeps of a base64 image instead of its text."""
    try:
        raw = _b64_image(value, "image")
    except ApiError:
        return {"base64_chars": len(value), "valid": False}
    summary: dict[str, object] = {"base64_chars": len(value), "size": len(raw or b"")}
    summary.update(image_summary(raw or b""))
    return summary


def _edit_sources(data: Mapping[str, object]) -> list[Source]:
    raw = _b64_image(data.get("image"), "image")
    if raw is None:
        raise invalid(
            "image", "Invalid 'image': required in edit mode.", "missing_required_parameter"
        )
    sources = [decode_source(raw, "image", "image")]
    raw_mask = _b64_image(data.get("mask"), "mask")
    if raw_mask is not None:
        sources[0].mask_box = check_mask(raw_mask, sources[0].image)
    return sources


def _job(data: Mapping[str, object]) -> Job:
    model = data.get("model", "gpt-image-2")
    if model != "gpt-image-2":
        raise invalid("model", f"Invalid 'model': {model!r}; only 'gpt-image-2' is offered.")
    mode = choice("mode", data.get("mode", "generate"), ("generate", "edit"))
    shared = asked(data)
    sources = _edit_sources(data) if mode == "edit" else []
    return make_job(shared, sources, "png")


class Prospolabs:
    """Parses, answers and fails as prospolabs does. ``base_url`` and ``ttl_seconds`` are
    read per answer: the URLs name the running server, and the TTL can be reconfigured.
    The ``painter`` draws the images (and records them)."""

    name: Final = "prospolabs"

    def __init__(
        self,
        downloads: Downloads,
        base_url: Callable[[], str],
        ttl_seconds: Callable[[], float],
        painter: Painter,
    ) -> None:
        self._downloads = downloads
        self._painter = painter
        self._base_url = base_url
        self._ttl_seconds = ttl_seconds

    def parse(
        self, path: str, content_type: str, body: bytes, note: Callable[..., None]
    ) -> Job | ApiError:
        """The job asked for, or the error to answer (after the key is checked)."""
        data = json_object(body)
        if isinstance(data, ApiError):
            note(json=None)
            return data
        logged = dict(data)
        for key in ("image", "mask"):
            if isinstance(logged.get(key), str):
                logged[key] = _b64_summary(cast(str, logged[key]))
        note(json=logged)
        try:
            return _job(data)
        except ApiError as error:
            return error

    def success(self, job: Job) -> dict[str, object]:
        images = self._painter.render(job, "png")
        return self._downloads.publish(images, self._base_url(), self._ttl_seconds())

    @staticmethod
    def bill(job: Job, answer: Mapping[str, object], config: EmulatorConfig) -> billing.Charge:
        """Flat per image, whatever the size: the quality's price times n."""
        cost = billing.micro_dollars(config.flat_price(job.quality) * job.n)
        return billing.Charge(cost_usd=cost, generation_id=str(answer["generation_id"]))

    @staticmethod
    def error(error: ApiError) -> tuple[int, dict[str, object]]:
        return _STATUS.get(error.kind, error.status), error_body(error)

    @staticmethod
    def malformed() -> bytes:
        """A 200 whose JSON breaks off before the generation id."""
        return b'{"generation_id": "gen_'

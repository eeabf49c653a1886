"""The OpenAI Images API's wire format: ``/v1/images/generations`` (JSON) and
``/v1/images/edits`` (multipart), model gpt-image-2, images inline as base64."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from typing import Final

from placard_emulator import billing
from placard_emulator.config import EmulatorConfig
from placard_emulator.errors import ApiError, invalid
from placard_emulator.images import Painter
from placard_emulator.multipart import FILE_FIELDS, Part, parse_multipart, part_summary
from placard_emulator.params import Job, Source, asked, check_mask, choice, json_object, make_job
from placard_emulator.params import source as decode_source

GENERATIONS: Final = "/v1/images/generations"
EDITS: Final = "/v1/images/edits"
_IMAGE_MIMETYPES: Final = ("image/png", "image/jpeg", "image/webp")
_MAX_SOURCE_IMAGES: Final = 16


def error_body(error: ApiError) -> dict[str, object]:
    """OpenAI's error shape; the emulator's own errors (admin, 404, 500) use it too."""
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def _check_model(params: Mapping[str, object]) -> None:
    if "response_format" in params:
        raise invalid(
            "response_format", "Unknown parameter: 'response_format'.", "unknown_parameter"
        )
    model = params.get("model", "gpt-image-2")
    if not isinstance(model, str) or not model.startswith("gpt-image"):
        raise invalid("model", f"Invalid model {model!r}: the emulator serves GPT image models.")
    if "input_fidelity" in params and model.startswith("gpt-image-2"):
        raise invalid(
            "input_fidelity",
            f"The 'input_fidelity' parameter is not supported for model '{model}'.",
            "unsupported_parameter",
        )
    if params.get("stream") in (True, "true"):
        raise invalid("stream", "Streaming is not supported by the emulator.", "unsupported_value")


def _job(params: Mapping[str, object], sources: list[Source], *, form: bool) -> Job:
    """Validate the parameters of a generation (JSON) or an edit (form fields)."""
    _check_model(params)
    shared = asked(params, form=form)
    output_format = choice(
        "output_format", params.get("output_format", "png"), ("png", "jpeg", "webp")
    )
    if "moderation" in params:
        choice("moderation", params["moderation"], ("auto", "low"))
    return make_job(shared, sources, output_format)


def _check_file_part(part: Part) -> None:
    param = "mask" if part.name == "mask" else "image"
    mimetype = (part.content_type or "application/octet-stream").split(";")[0].strip()
    if part.filename is None or mimetype.lower() not in _IMAGE_MIMETYPES:
        shown = mimetype if part.filename is not None else "application/octet-stream"
        raise invalid(
            param,
            f"Invalid file '{param}': unsupported mimetype ('{shown}'). Supported file "
            "formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            "invalid_image_format",
        )


def _edit_job(parts: list[Part]) -> Job:
    fields: dict[str, object] = {
        p.name: p.data.decode("utf-8", "replace") for p in parts if p.name not in FILE_FIELDS
    }
    images = [p for p in parts if p.name in ("image", "image[]")]
    masks = [p for p in parts if p.name == "mask"]
    if not images:
        raise invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if len(images) > _MAX_SOURCE_IMAGES:
        raise invalid("image", f"Too many images: at most {_MAX_SOURCE_IMAGES}.")
    if len(masks) > 1:
        raise invalid("mask", "Only one mask may be given.")
    for part in images + masks:
        _check_file_part(part)
    sources = [decode_source(p.data, "image", f"image {i}") for i, p in enumerate(images, start=1)]
    job = _job(fields, sources, form=True)
    if masks:
        sources[0].mask_box = check_mask(masks[0].data, sources[0].image)
    return job


def _usage(job: Job) -> billing.Usage:
    sources = [source.size for source in job.sources]
    return billing.usage(job.prompt, job.width, job.height, job.quality, job.n, sources)


class OpenAIImages:
    """Parses, answers and fails as the OpenAI Images API does."""

    name: Final = "openai"

    def __init__(self, painter: Painter) -> None:
        self._painter = painter

    def parse(
        self, path: str, content_type: str, body: bytes, note: Callable[..., None]
    ) -> Job | ApiError:
        """The job asked for, or the error to answer (after the key is checked)."""
        try:
            if path == EDITS:
                return self._edit(content_type, body, note)
            data = json_object(body)
            note(json=None if isinstance(data, ApiError) else data)
            return data if isinstance(data, ApiError) else _job(data, [], form=False)
        except ApiError as error:
            return error

    @staticmethod
    def _edit(content_type: str, body: bytes, note: Callable[..., None]) -> Job | ApiError:
        if not content_type.lower().startswith("multipart/form-data"):
            return invalid(
                None,
                f"Invalid Content-Type header ({content_type or 'none'}), expected "
                "multipart/form-data.",
                None,
            )
        parts = parse_multipart(content_type, body)
        note(parts=[part_summary(part) for part in parts])
        return _edit_job(parts)

    def success(self, job: Job) -> dict[str, object]:
        images = self._painter.render(job, job.output_format)
        return {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(image).decode("ascii")} for image in images],
            "background": "opaque",
            "output_format": job.output_format,
            "quality": job.quality,
            "size": f"{job.width}x{job.height}",
            "usage": _usage(job),
        }

    @staticmethod
    def bill(job: Job, answer: Mapping[str, object], config: EmulatorConfig) -> billing.Charge:
        """The answer's usage at the configured token prices."""
        usage = _usage(job)
        cost = billing.token_cost(
            usage,
            config.text_input_usd_per_million,
            config.image_input_usd_per_million,
            config.image_output_usd_per_million,
        )
        return billing.Charge(cost_usd=cost, usage=usage)

    @staticmethod
    def error(error: ApiError) -> tuple[int, dict[str, object]]:
        return error.status, error_body(error)

    @staticmethod
    def malformed() -> bytes:
        """A 200 whose JSON breaks off in the middle of the first image."""
        return b'{"created": %d, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA' % int(time.time())

"""OpenAI Images API: generations (JSON) and edits (multipart), answered in b64_json."""

from __future__ import annotations

import binascii
from collections.abc import Callable

import httpx

from placard.domain.jobs import MAX_PIXELS, Mode
from placard.domain.pricing import IMAGE_TOKENS, OUTPUT_TOKENS, TEXT_TOKENS
from placard.providers.base import ImageRequest, ImageResult
from placard.providers.http import (
    CallStats,
    HttpCaller,
    Malformed,
    error_message,
    json_body,
    largest_answer,
)


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, caller: HttpCaller, base_url: str, api_key: Callable[[], str], model: str
    ) -> None:
        self._caller = caller
        self._base = base_url.rstrip("/")
        self._key = api_key
        self.model = model

    def create(self, request: ImageRequest) -> ImageResult:
        stats = CallStats()

        limit = largest_answer(request.n, request.size.pixels)

        def parse(response: httpx.Response) -> tuple[tuple[bytes, ...], dict[str, int]]:
            images, usage = self._parse(response, limit)
            if len(images) != request.n:
                raise Malformed(f"asked for {request.n} images, got {len(images)}")
            return images, usage

        images, usage = self._caller.call(
            lambda: self._build(request), parse, error_message, stats, request.deadline
        )
        return ImageResult(
            images=images,
            model=self.model,
            usage=usage,
            attempts=stats.attempts,
            throttled=stats.throttled,
            unknown_outcomes=stats.unknown_outcomes,
        )

    def _build(self, request: ImageRequest) -> httpx.Request:
        # GPT image models always answer b64_json: never send response_format.
        fields = {
            "model": self.model,
            "prompt": request.prompt,
            "n": str(request.n),
            "size": str(request.size),
            "quality": request.quality.value,
        }
        headers = {"Authorization": f"Bearer {self._key()}"}
        client = self._caller.client
        if request.mode is Mode.GENERATE:
            body = {**fields, "n": request.n}
            return client.build_request(
                "POST", f"{self._base}/images/generations", json=body, headers=headers
            )
        if request.source is None:
            raise ValueError("an edit needs the source image")
        # Parts need a filename and image/png, or the API refuses them.
        files = {"image": ("image.png", request.source, "image/png")}
        if request.mask is not None:
            files["mask"] = ("mask.png", request.mask, "image/png")
        return client.build_request(
            "POST", f"{self._base}/images/edits", data=fields, files=files, headers=headers
        )

    @staticmethod
    def _parse(
        response: httpx.Response, limit: int = largest_answer(1, MAX_PIXELS)
    ) -> tuple[tuple[bytes, ...], dict[str, int]]:
        body = json_body(response, limit)
        try:
            # From the JSON's own str: base64.b64decode would copy it to bytes first, 20 MB
            # for a 3840x2160 answer (docs/cost.md, "The worker's memory"). Each base64 goes
            # as its image comes, so the two are not both held whole.
            data, decoded = body["data"], []
            for index, image in enumerate(data):
                decoded.append(binascii.a2b_base64(image["b64_json"], strict_mode=True))
                data[index] = None
            images = tuple(decoded)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise Malformed(f"no readable b64_json images: {exc}") from exc
        usage: dict[str, int] = {}
        reported = body.get("usage") or {}
        details = reported.get("input_tokens_details") or {}
        # Flattened to the kinds prices.json prices; input_tokens (text + image) is kept as
        # reported, and never priced.
        for key, value in (
            (TEXT_TOKENS, details.get("text_tokens")),
            (IMAGE_TOKENS, details.get("image_tokens")),
            (OUTPUT_TOKENS, reported.get("output_tokens")),
            ("input_tokens", reported.get("input_tokens")),
        ):
            if isinstance(value, int):
                usage[key] = value
        return images, usage

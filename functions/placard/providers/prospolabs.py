"""The flat-price reseller: one JSON call, then the images fetched from short-lived URLs.

The output URL expires after seven days, so the bytes are downloaded at once and stored.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx

from placard.domain.jobs import Mode
from placard.providers.base import ImageRequest, ImageResult, OutOfTime
from placard.providers.http import (
    CallStats,
    HttpCaller,
    Malformed,
    error_message,
    json_body,
    largest_answer,
    read_at_most,
)

MODEL = "gpt-image-2"


class ProspolabsProvider:
    name = "prospolabs"
    model = MODEL

    def __init__(self, caller: HttpCaller, base_url: str, api_key: Callable[[], str]) -> None:
        self._caller = caller
        self._base = base_url.rstrip("/")
        self._key = api_key

    def create(self, request: ImageRequest) -> ImageResult:
        stats = CallStats()

        def parse(response: httpx.Response) -> tuple[str, list[str]]:
            generation_id, urls = self._parse(response)
            if len(urls) != request.n:
                raise Malformed(f"asked for {request.n} images, got {len(urls)} URLs")
            return generation_id, urls

        generation_id, urls = self._caller.call(
            lambda: self._build(request), parse, error_message, stats, request.deadline
        )
        # Downloads are retried like any call, but are not generation attempts: they bill nothing.
        try:
            largest = largest_answer(1, request.size.pixels, base64=False)
            images = tuple(
                self._download(url, largest, CallStats(), request.deadline) for url in urls
            )
        except OutOfTime as exc:
            # The images were made, and billed: their reservation must stay held.
            raise OutOfTime(str(exc), unknown_outcomes=max(1, stats.unknown_outcomes)) from exc
        return ImageResult(
            images=images,
            model=MODEL,
            generation_id=generation_id,
            attempts=stats.attempts,
            throttled=stats.throttled,
            unknown_outcomes=stats.unknown_outcomes,
        )

    def _build(self, request: ImageRequest) -> httpx.Request:
        body: dict[str, Any] = {
            "model": MODEL,
            "prompt": request.prompt,
            "mode": request.mode.value,
            "quality": request.quality.value,
            "size": str(request.size),
            "n": request.n,
        }
        if request.mode is Mode.EDIT:
            if request.source is None:
                raise ValueError("an edit needs the source image")
            body["image"] = base64.b64encode(request.source).decode()
            if request.mask is not None:
                body["mask"] = base64.b64encode(request.mask).decode()
        return self._caller.client.build_request(
            "POST",
            f"{self._base}/v1/generate",
            json=body,
            headers={"Authorization": f"Bearer {self._key()}"},
        )

    @staticmethod
    def _parse(response: httpx.Response) -> tuple[str, list[str]]:
        body = json_body(response)
        generation_id = body.get("generation_id")
        urls = body.get("output_urls") or ([body["output_url"]] if body.get("output_url") else [])
        if not isinstance(generation_id, str) or not urls:
            raise Malformed("no generation_id or output_url")
        return generation_id, [str(u) for u in urls]

    def _download(
        self, url: str, largest: int, stats: CallStats, deadline: float | None = None
    ) -> bytes:
        def read(response: httpx.Response) -> bytes:
            image = bytes(read_at_most(response, largest))
            if not image.startswith(b"\x89PNG"):
                raise Malformed("the output URL did not return a PNG")
            return image

        return self._caller.call(
            lambda: self._caller.client.build_request("GET", url),
            read,
            error_message,
            stats,
            deadline,
        )

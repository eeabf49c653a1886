"""The errors the emulator answers with. Each wire format renders them in its own shape
(openai_images.error_body, prospolabs.error_body); ``kind`` is what prospolabs calls the code."""

from __future__ import annotations

import math
from collections.abc import Mapping


class ApiError(Exception):
    """An HTTP error answer. ``kind`` picks the prospolabs code; ``param`` names the field."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type
        self.headers = dict(headers or {})


class Dropped(Exception):
    """The connection was closed on purpose (hang/disconnect fault, or stopping)."""


def invalid(param: str | None, message: str, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, "invalid_request", message, param=param, code=code)


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def refused() -> ApiError:
    return ApiError(
        400,
        "content_policy",
        "Your request was rejected as a result of our safety system.",
        code="moderation_blocked",
        error_type="image_generation_user_error",
    )


def server_error(status: int) -> ApiError:
    return ApiError(
        status,
        "server_error",
        "The server had an error processing your request.",
        error_type="server_error",
    )


def _seconds_text(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def throttled(wait: float, limit: int, n: int) -> ApiError:
    """A 429 telling the caller how long to wait, in the headers the OpenAI SDK reads."""
    wait_ms = max(1, math.ceil(wait * 1000))
    return ApiError(
        429,
        "rate_limited",
        f"Rate limit reached for images per minute (ipm) on model gpt-image-2: "
        f"Limit {limit}, Requested {n}. Please try again in {wait_ms}ms.",
        code="rate_limit_exceeded",
        error_type="requests",
        headers={"retry-after": _seconds_text(wait_ms / 1000), "retry-after-ms": str(wait_ms)},
    )

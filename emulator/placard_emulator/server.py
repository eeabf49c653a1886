"""A local HTTP server that speaks two image APIs, with rate limits and injected faults.

It answers the OpenAI Images API (``/v1/images/generations``, ``/v1/images/edits``, model
gpt-image-2) and the flat-price reseller "prospolabs" (``/v1/generate`` plus expiring
download URLs under ``/files/``), so placard's provider clients, tests and benchmarks run
against the real wire formats without the internet.

Only the standard library's ``ThreadingHTTPServer`` and Pillow are used. Every request runs
on its own daemon thread: latency is a sleep, never a lock, and a hung request never holds
up another one or :meth:`ProviderEmulator.stop`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import hashlib
import hmac
import io
import json
import math
import random
import re
import secrets
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, UnidentifiedImageError

__all__ = ["FAULT_KINDS", "EmulatorConfig", "EmulatorStats", "ProviderEmulator"]

FAULT_KINDS: Final[tuple[str, ...]] = ("5xx", "hang", "malformed", "refusal", "disconnect")
"""Every fault the emulator can inject into a generation or edit request."""

REFUSE_MARKER: Final = "[[refuse]]"
"""A prompt containing this text is always refused by the safety system."""

_HOST: Final = "127.0.0.1"
_MAX_BODY: Final = 128 * 1024 * 1024
_IMAGE_MIMETYPES: Final = ("image/png", "image/jpeg", "image/webp")
_QUALITIES: Final = ("low", "medium", "high", "auto")
_OUTPUT_TOKENS_1024: Final = {"low": 272, "medium": 1056, "high": 4160}
_AUTO_QUALITY: Final = "medium"
_DEFAULT_SIZE: Final = (1024, 1024)
_MAX_EDGE: Final = 3840
_MIN_PIXELS: Final = 655_360
_MAX_PIXELS: Final = 8_294_400
_MAX_N: Final = 10
_MAX_SOURCE_IMAGES: Final = 16
_SERVER_ERROR_STATUSES: Final = (500, 502, 503)

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


# --------------------------------------------------------------------------------------
# Public configuration and statistics
# --------------------------------------------------------------------------------------


@dataclass
class EmulatorConfig:
    """How the emulated providers behave. Change it while running with
    :meth:`ProviderEmulator.configure`."""

    latency: float = 0.0
    """Seconds from a generation's admission to its answer (making the image included)."""
    images_per_minute: int | None = None
    """Rate limit on images (a request for n images takes n tokens); None = unlimited."""
    burst: int | None = None
    """Token-bucket capacity; None = max(1, images_per_minute // 60)."""
    fault_rate: float = 0.0
    """Probability that a generation request gets a fault drawn from ``fault_kinds``."""
    fault_kinds: tuple[str, ...] = ("5xx",)
    """Faults to draw from: "5xx", "hang", "malformed", "refusal", "disconnect"."""
    hang_seconds: float = 30.0
    """How long a "hang" stalls before closing the connection."""
    seed: int = 0
    """Faults are drawn from ``random.Random(seed)``: reproducible runs."""
    api_key: str = "test-key"
    """The only accepted Bearer token (both APIs)."""
    url_ttl_seconds: float = 7 * 24 * 3600
    """How long a prospolabs ``output_url`` stays downloadable."""


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator has seen and done since it was made (or last :meth:`reset`)."""

    requests: int
    """Generation/edit requests received (not downloads, not admin)."""
    billed_images: int
    """Images delivered in successful generation/edit responses."""
    throttled: int
    """429 responses sent."""
    faults: dict[str, int]
    """Faults injected, by kind (every kind present, zero when never injected)."""
    downloads: int
    """prospolabs output downloads served (200 only)."""


def _check_config(config: EmulatorConfig) -> None:
    """Raise ValueError/TypeError unless every field of ``config`` is usable."""

    def number(name: str, value: object, low: float, high: float = math.inf) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number, not {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}, not {value!r}")

    def optional_count(name: str, value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int or None, not {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value!r}")

    number("latency", config.latency, 0.0)
    optional_count("images_per_minute", config.images_per_minute)
    optional_count("burst", config.burst)
    number("fault_rate", config.fault_rate, 0.0, 1.0)
    if not isinstance(config.fault_kinds, tuple) or not config.fault_kinds:
        raise TypeError(f"fault_kinds must be a non-empty tuple, not {config.fault_kinds!r}")
    for kind in config.fault_kinds:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    number("hang_seconds", config.hang_seconds, 0.0)
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise TypeError(f"seed must be an int, not {config.seed!r}")
    if not isinstance(config.api_key, str) or not config.api_key:
        raise TypeError("api_key must be a non-empty string")
    number("url_ttl_seconds", config.url_ttl_seconds, 0.0)


def _coerce_change(name: str, value: object) -> object:
    """Accept the JSON shapes of config values too (lists, comma strings)."""
    if name == "fault_kinds":
        if isinstance(value, str):
            return tuple(kind.strip() for kind in value.split(",") if kind.strip())
        if isinstance(value, list):
            return tuple(value)
    if name in ("latency", "fault_rate", "hang_seconds", "url_ttl_seconds") and (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return float(value)
    return value


# --------------------------------------------------------------------------------------
# Errors (rendered per API flavour)
# --------------------------------------------------------------------------------------


class _ApiError(Exception):
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


def _invalid(param: str | None, message: str, code: str | None = "invalid_value") -> _ApiError:
    return _ApiError(400, "invalid_request", message, param=param, code=code)


def _unauthorized() -> _ApiError:
    return _ApiError(
        401,
        "unauthorized",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def _refused() -> _ApiError:
    return _ApiError(
        400,
        "content_policy",
        "Your request was rejected as a result of our safety system.",
        code="moderation_blocked",
        error_type="image_generation_user_error",
    )


def _server_error(status: int) -> _ApiError:
    return _ApiError(
        status,
        "server_error",
        "The server had an error processing your request.",
        error_type="server_error",
    )


def _seconds_text(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _throttled(wait: float, limit: int, n: int) -> _ApiError:
    wait_ms = max(1, math.ceil(wait * 1000))
    return _ApiError(
        429,
        "rate_limited",
        f"Rate limit reached for images per minute (ipm) on model gpt-image-2: "
        f"Limit {limit}, Requested {n}. Please try again in {wait_ms}ms.",
        code="rate_limit_exceeded",
        error_type="requests",
        headers={"retry-after": _seconds_text(wait_ms / 1000), "retry-after-ms": str(wait_ms)},
    )


_PROSPO_STATUS: Final = {"content_policy": 422}


def _openai_error_body(error: _ApiError) -> dict[str, object]:
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def _prospo_error_body(error: _ApiError) -> dict[str, object]:
    message = error.message
    if error.kind == "invalid_request" and error.param and error.param not in message:
        message = f"Invalid '{error.param}': {message}"
    if error.kind == "content_policy":
        message = "The prompt or image was rejected by the content policy."
    elif error.kind == "unauthorized":
        message = "Missing or invalid API key."
    return {"error": {"code": error.kind, "message": message}}


# --------------------------------------------------------------------------------------
# Parameter validation, shared by both APIs
# --------------------------------------------------------------------------------------


@dataclass
class _Source:
    """A decoded source image of an edit."""

    image: Image.Image
    digest: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


@dataclass
class _Job:
    """A validated generation or edit, ready to render."""

    prompt: str
    n: int
    width: int
    height: int
    quality: str
    output_format: str
    sources: list[_Source] = field(default_factory=list)

    @property
    def edit(self) -> bool:
        return bool(self.sources)

    def usage(self) -> dict[str, object]:
        text_tokens = max(1, len(self.prompt) // 4)
        image_tokens = sum(
            round(65 + 129 * (s.size[0] * s.size[1]) / (512 * 512)) for s in self.sources
        )
        per_image = round(
            _OUTPUT_TOKENS_1024[self.quality] * (self.width * self.height) / (1024 * 1024)
        )
        output_tokens = per_image * self.n
        input_tokens = text_tokens + image_tokens
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        }


_SIZE_RE: Final = re.compile(r"(\d{1,6})x(\d{1,6})")


def _parse_size(value: object) -> tuple[int, int] | None:
    """``None`` for "auto"; (width, height) for a size the model can render."""
    if value is None or value == "auto":
        return None
    match = _SIZE_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid("size", f"Invalid size {value!r}: expected 'auto' or 'WIDTHxHEIGHT'.")
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
        raise _invalid("size", f"Invalid size '{value}': {problem}.")
    return width, height


def _parse_int(name: str, value: object, *, from_form: bool) -> int:
    if from_form and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"Invalid type for '{name}': expected an integer.", "invalid_type")
    return value


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(f"'{a}'" for a in allowed)
        raise _invalid(
            name, f"Invalid value for '{name}': {value!r}. Supported values are: {options}."
        )
    return value


def _prompt(value: object) -> str:
    if value is None:
        raise _invalid(
            "prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter"
        )
    if not isinstance(value, str):
        raise _invalid("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    if not value.strip():
        raise _invalid("prompt", "Invalid 'prompt': empty string.", "empty_string")
    return value


def _count(value: object, *, from_form: bool) -> int:
    n = 1 if value is None else _parse_int("n", value, from_form=from_form)
    if not 1 <= n <= _MAX_N:
        raise _invalid("n", f"Invalid 'n': {n} is not between 1 and {_MAX_N}.")
    return n


def _background(value: object) -> None:
    if value == "transparent":
        raise _invalid("background", "Transparent backgrounds are not supported for this model.")
    if value is not None:
        _choice("background", value, ("auto", "opaque"))


def _openai_params(params: Mapping[str, object], sources: list[_Source], *, form: bool) -> _Job:
    """Validate the parameters of an OpenAI generation (JSON) or edit (form fields)."""
    if "response_format" in params:
        raise _invalid(
            "response_format", "Unknown parameter: 'response_format'.", "unknown_parameter"
        )
    model = params.get("model", "gpt-image-2")
    if not isinstance(model, str) or not model.startswith("gpt-image"):
        raise _invalid("model", f"Invalid model {model!r}: the emulator serves GPT image models.")
    if "input_fidelity" in params and model.startswith("gpt-image-2"):
        raise _invalid(
            "input_fidelity",
            f"The 'input_fidelity' parameter is not supported for model '{model}'.",
            "unsupported_parameter",
        )
    if params.get("stream") in (True, "true"):
        raise _invalid("stream", "Streaming is not supported by the emulator.", "unsupported_value")
    prompt = _prompt(params.get("prompt"))
    n = _count(params.get("n"), from_form=form)
    size = _parse_size(params.get("size"))
    quality = _choice("quality", params.get("quality", "auto"), _QUALITIES)
    _background(params.get("background"))
    output_format = _choice(
        "output_format", params.get("output_format", "png"), ("png", "jpeg", "webp")
    )
    if "moderation" in params:
        _choice("moderation", params["moderation"], ("auto", "low"))
    if size is None:
        size = sources[0].size if sources else _DEFAULT_SIZE
    return _Job(
        prompt=prompt,
        n=n,
        width=size[0],
        height=size[1],
        quality=_AUTO_QUALITY if quality == "auto" else quality,
        output_format=output_format,
        sources=sources,
    )


def _decode_image(data: bytes, param: str, label: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _invalid(
            param,
            f"Invalid image file or mode for {label}, please check your image file.",
            "invalid_image_file",
        ) from exc
    return image


def _check_mask(mask: Image.Image, first: Image.Image) -> None:
    if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
        raise _invalid(
            "mask",
            "Invalid mask image format - mask must have an alpha channel",
            "invalid_image_format",
        )
    if mask.size != first.size:
        raise _invalid(
            "mask",
            "Invalid mask image format - mask size does not match image size",
            "invalid_image_format",
        )


def _source(data: bytes, image: Image.Image) -> _Source:
    return _Source(image=image, digest=hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------
# Multipart
# --------------------------------------------------------------------------------------


@dataclass
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _parse_multipart(content_type: str, body: bytes) -> list[_Part]:
    """Split a multipart/form-data body into its parts (RFC 7578)."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _invalid(None, "Invalid multipart body: missing boundary.", None)
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[_Part] = []
    header_parser = BytesHeaderParser()
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise _invalid(None, "Invalid multipart body: a part has no header block.", None)
        headers = header_parser.parsebytes(head.lstrip(b" \t").removeprefix(b"\r\n") + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        parts.append(
            _Part(
                name=name if isinstance(name, str) else "",
                filename=filename or None,
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    if not closed:
        raise _invalid(None, "Invalid multipart body: missing closing boundary.", None)
    return parts


def _part_summary(part: _Part) -> dict[str, object]:
    summary: dict[str, object] = {
        "name": part.name,
        "filename": part.filename,
        "content_type": part.content_type,
        "size": len(part.data),
    }
    if part.filename is None and part.name not in ("image", "image[]", "mask"):
        summary["value"] = part.data.decode("utf-8", "replace")
    else:
        summary.update(_image_summary(part.data))
    return summary


def _image_summary(data: bytes) -> dict[str, object]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return {"width": image.width, "height": image.height, "mode": image.mode}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return {}


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------


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


def _edited(source: _Source, width: int, height: int, colour: int, output_format: str) -> bytes:
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
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:4], "big") % len(
        _PALETTE
    )


def _render(job: _Job, output_format: str) -> list[bytes]:
    base = _colour_of(job.prompt)
    images = []
    for index in range(job.n):
        colour = (base + index) % len(_PALETTE)
        if job.sources:
            images.append(_edited(job.sources[0], job.width, job.height, colour, output_format))
        else:
            images.append(_generated(job.width, job.height, colour, output_format))
    return images


# --------------------------------------------------------------------------------------
# Rate limit
# --------------------------------------------------------------------------------------


class _TokenBucket:
    """Tokens refill continuously at per_minute/60 a second up to ``capacity``.

    Not thread-safe by itself: the emulator calls it under its lock."""

    def __init__(
        self,
        per_minute: int | None,
        burst: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.rate = per_minute / 60.0 if per_minute else 0.0
        self.capacity = (
            (burst if burst is not None else max(1, per_minute // 60)) if per_minute else 0
        )
        self.tokens = float(self.capacity)
        self.stamp = clock()

    def take(self, n: int) -> float:
        """Take n tokens and return 0.0, or take nothing and return the seconds to wait.

        A request for more images than the bucket holds waits for a full bucket and then
        leaves it in debt, so the long-run rate still holds."""
        if not self.per_minute:
            return 0.0
        now = self.clock()
        self.tokens = min(float(self.capacity), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(n, self.capacity)
        if self.tokens + 1e-9 >= need:
            self.tokens -= n
            return 0.0
        return (need - self.tokens) / self.rate

    def refund(self, n: int) -> None:
        if self.per_minute:
            self.tokens = min(float(self.capacity), self.tokens + n)


# --------------------------------------------------------------------------------------
# prospolabs output files
# --------------------------------------------------------------------------------------


@dataclass
class _Generation:
    images: list[bytes]
    expires_at: float
    revoked: bool = False


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


class _Dropped(Exception):
    """The connection was closed on purpose (hang/disconnect fault, or stopping)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "placard-emulator/1.0"
    sys_version = ""
    # TCP_NODELAY: headers then body must not wait on the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    @property
    def emulator(self) -> ProviderEmulator:
        return cast(_Server, self.server).emulator

    def setup(self) -> None:
        super().setup()
        cast(_Server, self.server).track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client went away
        finally:
            cast(_Server, self.server).track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read their own output."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        try:
            self.emulator._dispatch(self, method)
        except _Dropped:
            self.drop()
        except _ApiError as error:  # an unreadable body outside the generation routes
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_json(error.status, _openai_error_body(error))
        except OSError:
            self.close_connection = True
        except Exception:
            # A bug in the emulator: say so on stderr and answer 500 (never counted as a fault).
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_json(500, _openai_error_body(_server_error(500)))

    # -- request and response helpers used by the emulator --

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True
            raise _ApiError(400, "invalid_request", "Invalid Content-Length header.") from None
        if length > _MAX_BODY:
            self.close_connection = True
            raise _ApiError(413, "invalid_request", "Request body too large.")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise _ApiError(400, "invalid_request", "Invalid chunked body.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(8)
            if len(body) > _MAX_BODY:
                self.close_connection = True
                raise _ApiError(413, "invalid_request", "Request body too large.")

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", "req_" + secrets.token_hex(12))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self, status: int, payload: object, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send(status, json.dumps(payload).encode("utf-8"), headers=headers)

    def drop(self) -> None:
        """Close the connection without (further) answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, emulator: ProviderEmulator, port: int) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((_HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = _HOST
        self.server_port = int(self.server_address[1])

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away: nothing to report
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------


_OPENAI_GENERATIONS: Final = "/v1/images/generations"
_OPENAI_EDITS: Final = "/v1/images/edits"
_PROSPO_GENERATE: Final = "/v1/generate"
_FILES_RE: Final = re.compile(r"/files/(gen_[0-9a-f]+)/(\d+)\.png")


class ProviderEmulator:
    """A local server emulating the OpenAI Images API and prospolabs.

    >>> with ProviderEmulator(EmulatorConfig(latency=0.1)) as emu:
    ...     client = openai.OpenAI(base_url=emu.openai_base_url, api_key="test-key")
    """

    def __init__(self, config: EmulatorConfig | None = None, *, port: int = 0) -> None:
        config = dataclasses.replace(config) if config is not None else EmulatorConfig()
        _check_config(config)
        self._config = config
        self._port = port
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)  # noqa: S311 - fault draws, not secrets
        self._bucket = _TokenBucket(config.images_per_minute, config.burst)
        self._script: deque[str | None] = deque()
        self._requests = 0
        self._billed = 0
        self._throttled = 0
        self._downloads = 0
        self._faults = dict.fromkeys(FAULT_KINDS, 0)
        self._log: list[dict[str, object]] = []
        self._files: dict[str, _Generation] = {}
        self._secret = secrets.token_bytes(16)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    # -- lifecycle --

    def start(self) -> None:
        """Bind 127.0.0.1 (a free port unless one was given) and serve on a daemon thread."""
        with self._lifecycle:
            if self._server is not None:
                return
            self._stopping = threading.Event()
            server = _Server(self, self._port)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"placard-emulator:{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and drop every open connection, hung or not. Returns promptly."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            self._stopping.set()
            server.shutdown()
            server.server_close()
            server.close_connections()
            if thread is not None:
                thread.join(timeout=2.0)

    def __enter__(self) -> ProviderEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        server = self._server
        if server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{_HOST}:{server.server_port}"

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``, as OPENAI_BASE_URL and the openai SDK expect."""
        return self.url + "/v1"

    # -- control --

    @property
    def config(self) -> EmulatorConfig:
        """A copy of the current configuration."""
        with self._lock:
            return dataclasses.replace(self._config)

    def configure(self, **changes: object) -> None:
        """Change config fields while running. All changes apply at once, or none on error.

        Changing images_per_minute or burst refills the token bucket; changing seed
        restarts the fault sequence."""
        names = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown config field(s): {', '.join(unknown)}")
        coerced = {name: _coerce_change(name, value) for name, value in changes.items()}
        with self._lock:
            updated = dataclasses.replace(self._config, **coerced)  # type: ignore[arg-type]
            _check_config(updated)
            self._config = updated
            if {"images_per_minute", "burst"} & set(coerced):
                self._bucket = _TokenBucket(updated.images_per_minute, updated.burst)
            if "seed" in coerced:
                self._rng = random.Random(updated.seed)  # noqa: S311

    def script(self, *faults: str | None) -> None:
        """The next ``len(faults)`` generation requests get these faults, in order, before
        fault_rate applies (None = behave). Replaces any script not yet played out."""
        for fault in faults:
            if fault is not None and fault not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {fault!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._script = deque(faults)

    def stats(self) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(
                requests=self._requests,
                billed_images=self._billed,
                throttled=self._throttled,
                faults=dict(self._faults),
                downloads=self._downloads,
            )

    def requests_log(self) -> list[dict[str, object]]:
        """What each generation/edit request carried, oldest first: method, path, api,
        headers (lower-cased, Authorization redacted), then ``json`` (the body; base64
        images replaced by summaries) or ``parts`` (multipart summaries), plus the
        ``status`` answered and the ``fault`` injected (None when it behaved)."""
        with self._lock:
            return copy.deepcopy(self._log)

    def expire_all_urls(self) -> None:
        """Make every prospolabs output URL issued so far expire."""
        with self._lock:
            for generation in self._files.values():
                generation.revoked = True

    def reset(self) -> None:
        """Forget stats, the request log and any pending script; refill the token bucket."""
        with self._lock:
            self._requests = self._billed = self._throttled = self._downloads = 0
            self._faults = dict.fromkeys(FAULT_KINDS, 0)
            self._log.clear()
            self._script.clear()
            self._bucket = _TokenBucket(self._config.images_per_minute, self._config.burst)

    # -- dispatch --

    def _dispatch(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        if method == "POST" and path in (_OPENAI_GENERATIONS, _OPENAI_EDITS, _PROSPO_GENERATE):
            self._generation(handler, path)
            return
        body = handler.read_body() if method == "POST" else b""
        if method == "GET" and path.startswith("/files/"):
            self._download(handler, path, split.query)
        elif path == "/_emulator/stats" and method == "GET":
            handler.send_json(200, dataclasses.asdict(self.stats()))
        elif path == "/_emulator/config" and method in ("GET", "POST"):
            self._admin_config(handler, body if method == "POST" else None)
        elif path == "/_emulator/script" and method == "POST":
            self._admin_script(handler, body)
        elif path == "/_emulator/requests" and method == "GET":
            handler.send_json(200, self.requests_log())
        elif path == "/_emulator/expire" and method == "POST":
            self.expire_all_urls()
            handler.send_json(200, {"expired": True})
        elif path in (_OPENAI_GENERATIONS, _OPENAI_EDITS, _PROSPO_GENERATE):
            error = _ApiError(405, "invalid_request", f"{method} not allowed.")
            handler.send_json(405, _openai_error_body(error), {"allow": "POST"})
        else:
            error = _ApiError(404, "not_found", f"Unknown path {path}.", code="unknown_url")
            handler.send_json(404, _openai_error_body(error))

    def _admin_config(self, handler: _Handler, body: bytes | None) -> None:
        if body is not None:
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise TypeError("the body must be a JSON object of config fields")
                self.configure(**changes)
            except (ValueError, TypeError) as exc:
                handler.send_json(400, _openai_error_body(_invalid(None, str(exc), None)))
                return
        handler.send_json(200, dataclasses.asdict(self.config))

    def _admin_script(self, handler: _Handler, body: bytes) -> None:
        try:
            faults = json.loads(body or b"[]")
            if not isinstance(faults, list):
                raise TypeError("the body must be a JSON list of fault kinds (or null)")
            self.script(*faults)
        except (ValueError, TypeError) as exc:
            handler.send_json(400, _openai_error_body(_invalid(None, str(exc), None)))
            return
        handler.send_json(200, {"scripted": faults})

    # -- generation / edit --

    def _generation(self, handler: _Handler, path: str) -> None:
        api = "prospolabs" if path == _PROSPO_GENERATE else "openai"
        headers = {
            name.lower(): ("<redacted>" if name.lower() == "authorization" else value)
            for name, value in handler.headers.items()
        }
        entry: dict[str, object] = {
            "method": "POST",
            "path": path,
            "api": api,
            "headers": headers,
            "status": None,
            "fault": None,
        }
        with self._lock:
            self._requests += 1
            self._log.append(entry)
            config = self._config

        def answer_error(error: _ApiError) -> None:
            if api == "openai":
                status, body = error.status, _openai_error_body(error)
            else:
                status = _PROSPO_STATUS.get(error.kind, error.status)
                body = _prospo_error_body(error)
            self._note(entry, status=status)
            handler.send_json(status, body, error.headers)

        try:
            body = handler.read_body()
            if path == _OPENAI_GENERATIONS:
                job = self._parse_openai_generation(body, entry)
            elif path == _OPENAI_EDITS:
                job = self._parse_openai_edit(handler.headers.get("content-type", ""), body, entry)
            else:
                job = self._parse_prospo(body, entry)
            # Authorization is checked after the body is read (keep-alive stays in step)
            # and before the body is validated, as the real services do.
            if not self._authorized(handler.headers.get("authorization"), config.api_key):
                raise _unauthorized()
            if isinstance(job, _ApiError):
                raise job
            if REFUSE_MARKER in job.prompt:
                raise _refused()
            fault = self._admit(job.n)
            admitted = time.monotonic()
            self._note(entry, fault=fault)
            if fault == "hang":
                self._stopping.wait(config.hang_seconds)
                raise _Dropped
            payload = None
            if fault is None:
                payload = (
                    self._openai_success(job) if api == "openai" else self._prospo_success(job)
                )
            # The latency is the answer's, making the image included: under load the first
            # answers must not come late because this process drew their PNGs.
            remaining = config.latency - (time.monotonic() - admitted)
            if remaining > 0 and self._stopping.wait(remaining):
                raise _Dropped  # stopping
            if fault == "disconnect":
                raise _Dropped
            if fault == "5xx":
                with self._lock:
                    status = self._rng.choice(_SERVER_ERROR_STATUSES)
                raise _server_error(status)
            if fault == "refusal":
                raise _refused()
            if fault == "malformed":
                self._note(entry, status=200)
                handler.send(200, self._malformed(api))
                return
            assert payload is not None
        except _ApiError as error:
            answer_error(error)
            return
        with self._lock:
            self._billed += job.n
        self._note(entry, status=200)
        handler.send_json(200, payload)

    def _note(self, entry: dict[str, object], **values: object) -> None:
        """Record in a request's log entry (under the lock: requests_log() copies entries)."""
        with self._lock:
            entry.update(values)

    @staticmethod
    def _authorized(header: str | None, api_key: str) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), api_key.encode()
        )

    def _admit(self, n: int) -> str | None:
        """Take n images from the rate limit (or raise a 429), then draw the fault."""
        with self._lock:
            wait = self._bucket.take(n)
            if wait > 0:
                self._throttled += 1
                raise _throttled(wait, self._bucket.per_minute or 0, n)
            if self._script:
                fault = self._script.popleft()
            elif self._config.fault_rate > 0 and self._rng.random() < self._config.fault_rate:
                fault = self._rng.choice(self._config.fault_kinds)
            else:
                fault = None
            if fault is not None:
                self._faults[fault] += 1
                # The limit counts images made, and a faulted call makes none (nor bills any).
                self._bucket.refund(n)
            return fault

    @staticmethod
    def _malformed(api: str) -> bytes:
        if api == "openai":
            return b'{"created": %d, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA' % int(
                time.time()
            )
        return b'{"generation_id": "gen_'

    # -- OpenAI --

    @staticmethod
    def _json_object(body: bytes) -> dict[str, object] | _ApiError:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _invalid(
                None,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                None,
            )
        if not isinstance(data, dict):
            return _invalid(None, "The request body must be a JSON object.", None)
        return data

    def _parse_openai_generation(self, body: bytes, entry: dict[str, object]) -> _Job | _ApiError:
        data = self._json_object(body)
        if isinstance(data, _ApiError):
            self._note(entry, json=None)
            return data
        self._note(entry, json=data)
        try:
            return _openai_params(data, [], form=False)
        except _ApiError as error:
            return error

    def _parse_openai_edit(
        self, content_type: str, body: bytes, entry: dict[str, object]
    ) -> _Job | _ApiError:
        if not content_type.lower().startswith("multipart/form-data"):
            return _invalid(
                None,
                f"Invalid Content-Type header ({content_type or 'none'}), expected "
                "multipart/form-data.",
                None,
            )
        try:
            parts = _parse_multipart(content_type, body)
        except _ApiError as error:
            return error
        self._note(entry, parts=[_part_summary(part) for part in parts])
        try:
            return self._edit_job(parts)
        except _ApiError as error:
            return error

    @staticmethod
    def _edit_job(parts: list[_Part]) -> _Job:
        files = {"image", "image[]", "mask"}
        fields: dict[str, object] = {
            p.name: p.data.decode("utf-8", "replace") for p in parts if p.name not in files
        }
        images = [p for p in parts if p.name in ("image", "image[]")]
        masks = [p for p in parts if p.name == "mask"]
        if not images:
            raise _invalid(
                "image", "Missing required parameter: 'image'.", "missing_required_parameter"
            )
        if len(images) > _MAX_SOURCE_IMAGES:
            raise _invalid("image", f"Too many images: at most {_MAX_SOURCE_IMAGES}.")
        if len(masks) > 1:
            raise _invalid("mask", "Only one mask may be given.")
        for part in images + masks:
            param = "mask" if part.name == "mask" else "image"
            mimetype = (part.content_type or "application/octet-stream").split(";")[0].strip()
            if part.filename is None or mimetype.lower() not in _IMAGE_MIMETYPES:
                shown = mimetype if part.filename is not None else "application/octet-stream"
                raise _invalid(
                    param,
                    f"Invalid file '{param}': unsupported mimetype ('{shown}'). Supported file "
                    "formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                    "invalid_image_format",
                )
        sources = [
            _source(p.data, _decode_image(p.data, "image", f"image {i}"))
            for i, p in enumerate(images, start=1)
        ]
        job = _openai_params(fields, sources, form=True)
        if masks:
            _check_mask(_decode_image(masks[0].data, "mask", "mask"), sources[0].image)
        return job

    @staticmethod
    def _openai_success(job: _Job) -> dict[str, object]:
        images = _render(job, job.output_format)
        return {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(image).decode("ascii")} for image in images],
            "background": "opaque",
            "output_format": job.output_format,
            "quality": job.quality,
            "size": f"{job.width}x{job.height}",
            "usage": job.usage(),
        }

    # -- prospolabs --

    def _parse_prospo(self, body: bytes, entry: dict[str, object]) -> _Job | _ApiError:
        data = self._json_object(body)
        if isinstance(data, _ApiError):
            self._note(entry, json=None)
            return data
        logged = dict(data)
        for key in ("image", "mask"):
            if isinstance(logged.get(key), str):
                logged[key] = _b64_summary(cast(str, logged[key]))
        self._note(entry, json=logged)
        try:
            return self._prospo_job(data)
        except _ApiError as error:
            return error

    @staticmethod
    def _prospo_job(data: Mapping[str, object]) -> _Job:
        model = data.get("model", "gpt-image-2")
        if model != "gpt-image-2":
            raise _invalid("model", f"Invalid 'model': {model!r}; only 'gpt-image-2' is offered.")
        mode = _choice("mode", data.get("mode", "generate"), ("generate", "edit"))
        prompt = _prompt(data.get("prompt"))
        n = _count(data.get("n"), from_form=False)
        size = _parse_size(data.get("size"))
        quality = _choice("quality", data.get("quality", "auto"), _QUALITIES)
        _background(data.get("background"))
        sources: list[_Source] = []
        if mode == "edit":
            raw = _b64_image(data.get("image"), "image")
            if raw is None:
                raise _invalid(
                    "image", "Invalid 'image': required in edit mode.", "missing_required_parameter"
                )
            sources.append(_source(raw, _decode_image(raw, "image", "image")))
            raw_mask = _b64_image(data.get("mask"), "mask")
            if raw_mask is not None:
                _check_mask(_decode_image(raw_mask, "mask", "mask"), sources[0].image)
        if size is None:
            size = sources[0].size if sources else _DEFAULT_SIZE
        return _Job(
            prompt=prompt,
            n=n,
            width=size[0],
            height=size[1],
            quality=_AUTO_QUALITY if quality == "auto" else quality,
            output_format="png",
            sources=sources,
        )

    def _prospo_success(self, job: _Job) -> dict[str, object]:
        images = _render(job, "png")
        generation_id = "gen_" + secrets.token_hex(12)
        with self._lock:
            expires_at = time.time() + self._config.url_ttl_seconds
            self._files[generation_id] = _Generation(images=images, expires_at=expires_at)
        expires = math.ceil(expires_at)
        urls = [
            f"{self.url}/files/{generation_id}/{index}.png?expires={expires}"
            f"&sig={self._signature(generation_id, index, expires)}"
            for index in range(len(images))
        ]
        return {"generation_id": generation_id, "output_url": urls[0], "output_urls": urls}

    def _signature(self, generation_id: str, index: int, expires: int | str) -> str:
        message = f"{generation_id}/{index}.png:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _download(self, handler: _Handler, path: str, query: str) -> None:
        def refuse(status: int, code: str, message: str) -> None:
            handler.send_json(status, {"error": {"code": code, "message": message}})

        match = _FILES_RE.fullmatch(path)
        with self._lock:
            generation = self._files.get(match.group(1)) if match else None
        if match is None or generation is None:
            refuse(404, "not_found", "No such file.")
            return
        index = int(match.group(2))
        if index >= len(generation.images):
            refuse(404, "not_found", "No such file.")
            return
        params = parse_qs(query)
        expires = (params.get("expires") or [""])[0]
        sig = (params.get("sig") or [""])[0]
        if not hmac.compare_digest(
            sig.encode(), self._signature(match.group(1), index, expires).encode()
        ):
            refuse(403, "invalid_signature", "The URL signature is invalid.")
            return
        if generation.revoked or time.time() >= generation.expires_at:
            refuse(403, "url_expired", "This URL has expired; generate the image again.")
            return
        with self._lock:
            self._downloads += 1
        handler.send(200, generation.images[index], "image/png")


def _b64_image(value: object, name: str) -> bytes | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(
            name, f"Invalid '{name}': expected a base64-encoded PNG string.", "invalid_type"
        )
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(name, f"Invalid '{name}': not valid base64.") from exc


def _b64_summary(value: str) -> dict[str, object]:
    try:
        raw = _b64_image(value, "image")
    except _ApiError:
        return {"base64_chars": len(value), "valid": False}
    summary: dict[str, object] = {"base64_chars": len(value), "size": len(raw or b"")}
    summary.update(_image_summary(raw or b""))
    return summary

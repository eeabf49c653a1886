"""prospolabs' output files: signed, expiring download URLs under ``/files/``."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

from placard_emulator.errors import ApiError

PREFIX: Final = "/files/"
_FILES_RE: Final = re.compile(r"/files/(gen_[0-9a-f]+)/(\d+)\.png")


@dataclass
class _Generation:
    images: list[bytes]
    expires_at: float
    revoked: bool = False


def _refused(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


class Downloads:
    """The images of each prospolabs generation, kept for their URLs to fetch."""

    def __init__(self) -> None:
        self._files: dict[str, _Generation] = {}
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()

    def publish(self, images: list[bytes], base_url: str, ttl_seconds: float) -> dict[str, object]:
        """Keep ``images`` for ``ttl_seconds``; the generation's id and signed URLs."""
        generation_id = "gen_" + secrets.token_hex(12)
        with self._lock:
            expires_at = time.time() + ttl_seconds
            self._files[generation_id] = _Generation(images=images, expires_at=expires_at)
        expires = math.ceil(expires_at)
        urls = [
            f"{base_url}{PREFIX}{generation_id}/{index}.png?expires={expires}"
            f"&sig={self._signature(generation_id, index, expires)}"
            for index in range(len(images))
        ]
        return {"generation_id": generation_id, "output_url": urls[0], "output_urls": urls}

    def open(self, path: str, query: str) -> bytes:
        """The PNG a URL names, or an ApiError (404 unknown, 403 bad signature or expired)."""
        match = _FILES_RE.fullmatch(path)
        with self._lock:
            generation = self._files.get(match.group(1)) if match else None
        if match is None or generation is None:
            raise _refused(404, "not_found", "No such file.")
        index = int(match.group(2))
        if index >= len(generation.images):
            raise _refused(404, "not_found", "No such file.")
        params = parse_qs(query)
        expires = (params.get("expires") or [""])[0]
        sig = (params.get("sig") or [""])[0]
        expected = self._signature(match.group(1), index, expires)
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise _refused(403, "invalid_signature", "The URL signature is invalid.")
        if generation.revoked or time.time() >= generation.expires_at:
            raise _refused(403, "url_expired", "This URL has expired; generate the image again.")
        return generation.images[index]

    def expire_all(self) -> None:
        """Make every URL issued so far expire."""
        with self._lock:
            for generation in self._files.values():
                generation.revoked = True

    def _signature(self, generation_id: str, index: int, expires: int | str) -> str:
        message = f"{generation_id}/{index}.png:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

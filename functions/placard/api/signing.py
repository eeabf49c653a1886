"""Request signatures of the HTTP API (docs/design.md §4).

Every request carries `X-Placard-Timestamp` (unix seconds) and `X-Placard-Signature:
sha256=HEX`, the HMAC-SHA256 of `{timestamp}.{METHOD}.{path}.{raw body}` with the shared secret.
`signed_headers` is the helper callers use; `verify` is what the API runs on each request.

The window only bounds how long a captured request stays usable. Replays inside the window are
the API's idempotency's business (Idempotency-Key, same body -> same job), not this module's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Placard-Timestamp"
SIGNATURE_HEADER = "X-Placard-Signature"
WINDOW_SECONDS = 300

_PREFIX = "sha256="
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")
# ASCII digits only: int() would also take " 17", "+17", "1_7" and non-ASCII digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The request is not signed as docs/design.md §4 asks. `reason` is safe to show the caller: it
    never carries the expected signature."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    """`sha256=<hex>` for one request. The body is signed as the raw bytes sent, not re-encoded."""
    if not secret:
        # An empty key would make every signature forgeable: a misconfiguration, not a 401.
        raise ValueError("the signing secret is empty")
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(
    secret: str, method: str, path: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The two headers a caller adds to a request to the API."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, method, path, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
    window: int = WINDOW_SECONDS,
) -> None:
    """Raise SignatureError unless the request is signed with `secret` within `window` seconds
    of `now` (either side: clocks drift both ways)."""
    # HTTP header names are case-insensitive, and API Gateway passes them as the client sent them.
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if stamp is None:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if given is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} is not unix seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > window:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {window} s off")
    if not _SIGNATURE.fullmatch(given):
        raise SignatureError(f"{SIGNATURE_HEADER} is not sha256= and 64 hex digits")
    expected = signature(secret, timestamp, method, path, body)
    # Constant time, so the comparison does not leak how many leading characters were right.
    if not hmac.compare_digest(expected, _PREFIX + given[len(_PREFIX) :].lower()):
        raise SignatureError("signature does not match")

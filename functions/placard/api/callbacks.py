"""Job-end callbacks (docs/design.md §4): a POST to the job's `callback_url`, signed by the Standard
Webhooks specification so receivers can verify it with an off-the-shelf library, retried with
backoff under one `webhook-id`, so receivers can drop duplicates.

The URL is caller-supplied, so it is checked against server-side request forgery: https only,
and every address the host resolves to must be public. The check runs again before each attempt
(DNS may change between retries) and redirects are never followed (one to a private address would
bypass it). A window remains between our lookup and the client's own: closing it would take
connecting to the checked address itself. A proxy configured on the client also resolves on its
own, so the client used here should not use one.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

TIMEOUT_SECONDS = 10.0
MAX_DELAY_SECONDS = 60.0
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix embeds an IPv4 address


class CallbackError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackRefused(CallbackError):
    """The URL is not acceptable, or the receiver refused the callback: never retried."""


class HostUnresolvable(CallbackRefused):
    """The host has no address. A refusal when the URL is accepted; retried during delivery,
    where it may be a passing DNS fault."""


class CallbackFailed(CallbackError):
    """Every attempt failed with something worth retrying (connection, timeout, 429, 5xx)."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, as text."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    families = (socket.AF_INET, socket.AF_INET6)
    return sorted({str(info[4][0]) for info in infos if info[0] in families})


def _not_public(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why an address must not receive a callback, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that embeds an IPv4 one reaches that IPv4 host: judge the embedded one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _not_public(embedded, allow_loopback=allow_loopback)
        if address.is_site_local:
            return "site-local"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    checks = [
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),  # 169.254.169.254, the instance metadata, too
        (address.is_multicast, "multicast"),
        (address in _SHARED_ADDRESS_SPACE, "shared address space"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not global"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def check_callback_url(
    url: str, *, resolve: Resolver = system_resolve, allow_loopback: bool = False
) -> None:
    """Raise CallbackRefused unless url is https and its host resolves to public addresses only.
    `allow_loopback` (local tests) also accepts loopback addresses, and http to them."""
    try:
        # httpx's own parser: the check must see the host the client will connect to.
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise CallbackRefused("not a valid URL") from exc
    if parsed.scheme not in ("https", "http"):
        raise CallbackRefused("callback_url must be https")
    if parsed.userinfo:
        raise CallbackRefused("callback_url must not carry a user name or password")
    if parsed.scheme == "http" and not allow_loopback:
        raise CallbackRefused("callback_url must be https")
    host = parsed.raw_host.decode("ascii")  # punycode, as connected to
    if not host:
        raise CallbackRefused("callback_url has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = _addresses(host, port, resolve)
    for address in addresses:
        # Every address, not the first: the client may connect to any of them.
        problem = _not_public(address, allow_loopback=allow_loopback)
        if problem is not None:
            # The class, not the address: what internal names resolve to is not for callers.
            raise CallbackRefused(f"callback_url host resolves to a {problem} address")
    if parsed.scheme == "http" and not all(address.is_loopback for address in addresses):
        raise CallbackRefused("callback_url must be https")


def _addresses(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal needs no lookup
    except ValueError:
        pass
    try:
        found = resolve(host, port)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise HostUnresolvable("callback_url host does not resolve") from exc
    if not found:
        raise HostUnresolvable("callback_url host does not resolve")
    try:
        return [ipaddress.ip_address(address) for address in found]
    except ValueError as exc:
        raise HostUnresolvable("callback_url host resolves to something not an address") from exc


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True)
class Callback:
    url: str
    # Derive it from the job (not at random per call), so that a re-run of the delivering
    # function sends the same id and receivers still see a duplicate.
    webhook_id: str
    payload: dict[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def deliver(
    callback: Callback,
    secret: str,
    client: httpx.Client,
    *,
    attempts: int = 5,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = _utcnow,
    allow_loopback: bool = False,
    resolve: Resolver = system_resolve,
) -> int:
    """POST the callback until the receiver answers 2xx; return the number of attempts it took.

    Connection faults, timeouts, 429 and 5xx are retried with exponential backoff and full
    jitter, up to `attempts` in all, then CallbackFailed. Any other answer (3xx included: they
    are not followed) raises CallbackRefused at once, as does a URL that stops passing the check.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    webhook = Webhook(secret)  # a malformed secret fails here, before anything is sent
    # Serialised once: every attempt sends the same bytes.
    body = json.dumps(callback.payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
    reason = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            ceiling = min(MAX_DELAY_SECONDS, base_delay * 2 ** (attempt - 2))
            sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not a secret)
        try:
            check_callback_url(callback.url, resolve=resolve, allow_loopback=allow_loopback)
        except HostUnresolvable as exc:
            reason = exc.reason
            continue
        reason = _attempt(client, callback, body, webhook, now())
        if not reason:
            return attempt
    raise CallbackFailed(f"gave up after {attempts} attempts: {reason}", attempts)


def _attempt(
    client: httpx.Client, callback: Callback, body: str, webhook: Webhook, moment: datetime
) -> str:
    """Send once: "" when delivered, the reason when worth retrying; raise when refused."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # as standardwebhooks reads a naive datetime
    moment = moment.astimezone(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": callback.webhook_id,
        # The timestamp and signature are per attempt: the spec allows it, and a receiver's
        # tolerance window would otherwise reject late retries.
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": webhook.sign(callback.webhook_id, moment, body),
    }
    try:
        # Streamed and never read: the receiver's body is not ours to download.
        with client.stream(
            "POST",
            callback.url,
            content=body.encode(),
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        ) as response:
            status = response.status_code
    except httpx.TransportError as exc:
        # Connection refused or lost, timeouts: the receiver may be down for a moment.
        return type(exc).__name__
    if 200 <= status < 300:
        return ""
    if status == 429 or status >= 500:
        return f"answered {status}"
    if 300 <= status < 400:
        raise CallbackRefused(f"answered {status}: redirects are not followed")
    raise CallbackRefused(f"answered {status}")

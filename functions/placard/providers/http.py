"""One HTTP client for every image API: timeouts sized for slow images, connection reuse, and
retries with full-jitter backoff that honour Retry-After, within a bounded budget, and never past
the caller's deadline (the invocation's remaining time, less what recording the outcome takes).

A request that timed out or lost its connection after it was sent has an unknown outcome: the
provider may have made (and billed) the image. Such attempts are counted, so the ledger can say
so; placard's own ledger still charges each image once.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import httpx

from placard.providers.base import OutOfTime, ProviderRefused, ProviderUnavailable

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# Below this, an attempt is not started: no image API answers in less.
MIN_ATTEMPT_SECONDS = 1.0


class Malformed(Exception):
    """A 2xx answer that could not be read: the outcome is unknown, so it may be retried."""


@dataclass(frozen=True)
class RetryPolicy:
    max_failures: int = 5  # 5xx, lost connections, timeouts, unreadable answers
    base_delay: float = 0.5
    max_delay: float = 20.0
    budget_seconds: float = 180.0  # all waiting within one call, throttling included

    def delay(self, failures: int, asked: float | None, rng: random.Random) -> float:
        """Seconds to wait before the next attempt, after `failures` failures so far."""
        if asked is not None:
            # The server knows when capacity frees up; a little jitter spreads the herd.
            return asked + rng.uniform(0, min(0.25, 0.1 + asked * 0.2))
        # Grows with failures only: a fault after a run of 429s is still a first fault.
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        return rng.uniform(0, ceiling)  # full jitter


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 180.0  # a high-quality image can take two minutes
    write: float = 60.0
    pool: float = 60.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass
class CallStats:
    attempts: int = 0
    throttled: int = 0
    failures: int = 0
    unknown_outcomes: int = 0  # sent, then no readable answer
    waited: float = 0.0
    errors: list[str] = field(default_factory=list)


@cache
def shared_client(timeouts: Timeouts = Timeouts()) -> httpx.Client:
    """One client per process (per timeouts): its pool is reused across jobs and invocations."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    return httpx.Client(timeout=timeouts.httpx(), limits=limits, follow_redirects=False)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms, or Retry-After as seconds or a date."""
    headers = response.headers
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def error_message(response: httpx.Response) -> str:
    """The provider's own words for a failure, whichever of the usual shapes it uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error.get("message") or error.get("detail") or json.dumps(error)[:300]
        return f"{message} ({code})" if code else str(message)
    return str(error)[:300]


# The most a PNG can take a pixel (16-bit RGBA, unfiltered), and what an answer adds around
# its images: no answer to a request is longer than its images at that, in base64.
PNG_BYTES_A_PIXEL = 8
ANSWER_OVERHEAD = 1 << 20


def largest_answer(n: int, pixels: int, base64: bool = True) -> int:
    """The most bytes an answer of `n` images of `pixels` each can take."""
    image = n * pixels * PNG_BYTES_A_PIXEL
    return (image * 4 // 3 if base64 else image) + ANSWER_OVERHEAD


def read_at_most(response: httpx.Response, limit: int) -> bytearray:
    """The body, read from its stream; Malformed once it passes `limit` bytes, as declared or
    as read: a body that never ends would take the worker's memory, its whole batch with it."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Malformed(f"the answer is {int(declared):,} bytes, more than {limit:,}")
    raw = bytearray()
    for chunk in response.iter_bytes():
        raw += chunk
        if len(raw) > limit:
            raise Malformed(f"the answer passed {limit:,} bytes, more than its images can take")
    return raw


def json_body(response: httpx.Response, limit: int = ANSWER_OVERHEAD) -> dict[str, Any]:
    """The answer's JSON object, of at most `limit` bytes, read from its stream holding at
    most two copies of it at a time (the bytes then the text, the text then the parsed
    values), never httpx's three: a ten-image answer is a 200 MB body (docs/cost.md, "The
    worker's memory")."""
    raw = read_at_most(response, limit)
    try:
        text = raw.decode()  # JSON is UTF-8 (RFC 8259)
    except UnicodeDecodeError as exc:
        raise Malformed(f"the body is not UTF-8 text: byte {exc.start} is not UTF-8") from exc
    del raw
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise Malformed("the body is not a JSON object")
    return body


class HttpCaller:
    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy = RetryPolicy(),
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.policy = policy
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not secrets)
        self._sleep = sleep
        self._clock = clock

    def call(
        self,
        build: Callable[[], httpx.Request],
        parse: Callable[[httpx.Response], T],
        refusal: Callable[[httpx.Response], str],
        stats: CallStats | None = None,
        deadline: float | None = None,
    ) -> T:
        """Send until `parse` accepts a 2xx answer. Refusals (other 4xx) raise ProviderRefused at
        once; everything retryable raises ProviderUnavailable when the budget is spent, and
        OutOfTime when `deadline` (on `clock`, time.monotonic) comes first: no attempt starts
        and no read waits past it."""
        stats = stats if stats is not None else CallStats()
        while True:
            request = self._within(build(), stats, deadline)
            stats.attempts += 1
            wait: float | None = None
            try:
                response = self.client.send(request, stream=True)
                try:
                    if response.is_success:
                        # `parse` reads the body as it needs: an answer may be 200 MB.
                        return parse(response)
                    response.read()
                finally:
                    response.close()
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self._failed(stats, f"could not connect: {type(exc).__name__}")
            except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                stats.unknown_outcomes += 1
                self._failed(stats, f"no answer after sending: {type(exc).__name__}")
            except httpx.TransportError as exc:
                self._failed(stats, f"transport error: {type(exc).__name__}")
            except Malformed as exc:
                stats.unknown_outcomes += 1
                self._failed(stats, f"unreadable answer: {exc}")
            else:
                if response.status_code == 429:
                    stats.throttled += 1
                    wait = retry_after(response)
                    stats.errors.append("429 throttled")
                elif response.status_code in RETRY_STATUSES or response.status_code >= 500:
                    wait = retry_after(response)
                    self._failed(stats, f"{response.status_code} {refusal(response)}")
                else:
                    raise ProviderRefused(
                        f"{response.status_code}: {refusal(response)}",
                        unknown_outcomes=stats.unknown_outcomes,
                    )
            self._pause(stats, wait, deadline)

    def _within(
        self, request: httpx.Request, stats: CallStats, deadline: float | None
    ) -> httpx.Request:
        """The request with every timeout cut to the time left; OutOfTime when too little is."""
        if deadline is None:
            return request
        left = deadline - self._clock()
        if left < MIN_ATTEMPT_SECONDS:
            raise self._out_of_time(stats, left)
        given = request.extensions.get("timeout") or self.client.timeout.as_dict()
        request.extensions = {
            **request.extensions,
            "timeout": {name: left if t is None else min(t, left) for name, t in given.items()},
        }
        return request

    @staticmethod
    def _out_of_time(stats: CallStats, left: float) -> OutOfTime:
        last = f": {stats.errors[-1]}" if stats.errors else ""
        return OutOfTime(
            f"out of time: {max(left, 0.0):.1f}s left in this invocation after "
            f"{stats.attempts} attempts{last}",
            unknown_outcomes=stats.unknown_outcomes,
        )

    def _failed(self, stats: CallStats, reason: str) -> None:
        stats.failures += 1
        stats.errors.append(reason)
        if stats.failures >= self.policy.max_failures:
            raise ProviderUnavailable(
                f"gave up after {stats.attempts} attempts ({stats.failures} failures, "
                f"{stats.throttled} throttled): {reason}",
                unknown_outcomes=stats.unknown_outcomes,
            )

    def _pause(self, stats: CallStats, asked: float | None, deadline: float | None) -> None:
        policy = self.policy
        delay = policy.delay(stats.failures, asked, self._rng)
        if deadline is not None:
            left = deadline - self._clock()
            if delay + MIN_ATTEMPT_SECONDS > left:  # no attempt would fit after the wait
                raise self._out_of_time(stats, left)
        if stats.waited + delay > policy.budget_seconds:
            last = stats.errors[-1] if stats.errors else ""
            raise ProviderUnavailable(
                f"retry budget of {policy.budget_seconds:.0f}s spent after {stats.attempts} "
                f"attempts ({stats.throttled} throttled): {last}",
                unknown_outcomes=stats.unknown_outcomes,
            )
        stats.waited += delay
        self._sleep(delay)

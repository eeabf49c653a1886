"""AWS errors and throttling, injected on the wire of boto3 clients (issue #16).

A `FaultLayer` answers some of a client's requests itself, before they leave, with the error
the service would send: S3's SlowDown and InternalError, DynamoDB's throttles and
InternalServerError, SQS's RequestThrottled and InternalError. It hooks botocore's
`before-send` event, so everything after the wire runs as it would against AWS: the response
is parsed, botocore's retry handler sees the error and retries it (or not) under the client's
own Config, and what is left surfaces as the ClientError the code must handle.

Which requests fail is decided per operation and attempt: the first K of each operation
(`first`), every Nth (`every`), or each with a seeded probability (`rate`, for benches).
`PLACARD_AWS_FAULTS` switches it on for a local cloud: `0.1` (a rate), `every:3`, `first:2`.

A `Latency` holds every request back a fixed time before it leaves, as SQS and DynamoDB
answer in 10 to 20 ms from inside a region where moto answers in one or two (issue #17).
`PLACARD_AWS_LATENCY_MS=15` switches it on for a local cloud, on the same clients as the
faults and sparing the same calls of Lambda's poller; the two may be used together.
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from placard.aws.session import session

ENV = "PLACARD_AWS_FAULTS"
LATENCY_ENV = "PLACARD_AWS_LATENCY_MS"
NOWHERE = "http://placard-fault.invalid/"  # no emulator answers it


@dataclass(frozen=True)
class Fault:
    code: str
    status: int
    message: str


# What each service answers when it throttles or fails inside, as its protocol words it.
KINDS: dict[str, tuple[Fault, ...]] = {
    "s3": (
        Fault("SlowDown", 503, "Please reduce your request rate."),
        Fault("InternalError", 500, "We encountered an internal error. Please try again."),
    ),
    "dynamodb": (
        Fault(
            "ProvisionedThroughputExceededException",
            400,
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        Fault("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput."),
        Fault("RequestLimitExceeded", 400, "Throughput exceeds the current limit of the account."),
        Fault("InternalServerError", 500, "Internal server error"),
    ),
    "sqs": (
        Fault("RequestThrottled", 400, "Rate exceeded"),
        Fault("InternalError", 500, "We encountered an internal error. Please try again."),
    ),
}
# Lambda's SQS poller makes these calls on AWS, not placard's code: a local cloud's pumps,
# which stand in for it, are spared.
POLLER_OPERATIONS = frozenset(
    {
        "sqs.ReceiveMessage",
        "sqs.DeleteMessage",
        "sqs.DeleteMessageBatch",
        "sqs.ChangeMessageVisibility",
        "sqs.GetQueueAttributes",
    }
)


class _Raw(io.BytesIO):
    """The raw body AWSResponse reads: a stream of one chunk."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _json_error(prefix: str, fault: Fault) -> bytes:
    return json.dumps({"__type": f"{prefix}#{fault.code}", "message": fault.message}).encode()


def error_response(service: str, fault: Fault, url: str) -> AWSResponse:
    """The HTTP answer `service` gives for `fault`, in its protocol's error shape."""
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message>"
            "<RequestId>FAULT</RequestId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml"}
    elif service == "dynamodb":
        body = _json_error("com.amazonaws.dynamodb.v20120810", fault)
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    else:  # sqs speaks JSON 1.0
        body = _json_error("com.amazonaws.sqs", fault)
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    given = HTTPHeaders()
    for name, value in {**headers, "x-amzn-RequestId": "FAULT"}.items():
        given[name] = value
    return AWSResponse(url, fault.status, given, _Raw(body))


class FaultLayer:
    """Answers the attempts `decide` picks with each service's faults in turn, and counts
    every attempt (`attempts`, by `service.Operation`) and every fault (`injected`, by
    `service Code`). Thread-safe: a local cloud's functions share it."""

    def __init__(
        self,
        decide: Callable[[str, int], bool],  # (service.Operation, its attempt from 1): fail?
        services: frozenset[str] = frozenset(KINDS),
        spare: frozenset[str] = frozenset(),
        kinds: Mapping[str, tuple[Fault, ...]] = KINDS,
    ) -> None:
        self._decide = decide
        self.services = services
        self.kinds = kinds
        self.spare = spare
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def first(cls, k: int, **scope: Any) -> FaultLayer:
        """The first `k` attempts of each operation fail: retried while `k` is less than the
        client's attempts, surfaced when it is not."""
        return cls(lambda _, n: n <= k, **scope)

    @classmethod
    def every(cls, n: int, **scope: Any) -> FaultLayer:
        """Every `n`th attempt of each operation fails (`n` > 1: never twice running)."""
        return cls(lambda _, attempt: attempt % n == 0, **scope)

    @classmethod
    def rate(cls, share: float, seed: int = 16, **scope: Any) -> FaultLayer:
        """Each attempt fails with probability `share`, drawn from a seeded generator."""
        draw = random.Random(seed).random  # noqa: S311 (a schedule, not a secret)
        return cls(lambda _, __: draw() < share, **scope)

    def attach(self, *clients: Any) -> None:
        """Fault these clients' requests (registered first: ahead of moto's own stub)."""
        for client in clients:
            client.meta.events.register_first("before-send", self.answer)
            client.meta.events.register_last("before-send", _restore)

    def install(self) -> None:
        """Fault every client boto3's default session makes from now on (a local cloud's
        functions build theirs on their first call)."""
        for events in _default_events():
            events.register_first("before-send", self.answer)
            events.register_last("before-send", _restore)

    def answer(self, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        """botocore's `before-send` hook: a fault's response, or None to send the request."""
        _, service, operation = event_name.split(".", 2)
        name = f"{service}.{operation}"
        if service not in self.services or name in self.spare:
            return None
        with self._lock:
            self.attempts[name] += 1
            if not self._decide(name, self.attempts[name]):
                return None
            kinds = self.kinds[service]
            done = sum(self.injected[f"{service} {k.code}"] for k in kinds)
            fault = kinds[done % len(kinds)]  # each kind in turn
            self.injected[f"{service} {fault.code}"] += 1
        # botocore asks every before-send handler, not just up to the first answer: in-process
        # moto's stub would still run the request. A throttled request is never run, so it is
        # pointed nowhere until `_restore`, the last handler, puts it back for the retry.
        answer = error_response(service, fault, request.url)
        request.placard_url, request.url = request.url, NOWHERE
        return answer

    def decides(self, operation: str, attempt: int) -> bool:
        """Whether the layer fails this attempt (1-based) of `service.Operation`."""
        return self._decide(operation, attempt)

    def by_kind(self) -> dict[str, int]:
        return dict(sorted(self.injected.items()))


def _restore(request: Any, **_: Any) -> None:
    """The last before-send hook: a faulted request gets its address back for its retry."""
    url = getattr(request, "placard_url", None)
    if url is not None:
        request.url = url
        del request.placard_url


def from_spec(spec: str) -> FaultLayer:
    """`0.1` (a share of attempts), `every:N` or `first:K`; Lambda's poller's calls spared."""
    kind, _, value = spec.partition(":")
    try:
        if kind == "every":
            if int(value) < 2:
                raise ValueError
            return FaultLayer.every(int(value), spare=POLLER_OPERATIONS)
        if kind == "first":
            return FaultLayer.first(int(value), spare=POLLER_OPERATIONS)
        share = float(kind)
        if not 0 <= share < 1:
            raise ValueError
        return FaultLayer.rate(share, spare=POLLER_OPERATIONS)
    except ValueError:
        raise ValueError(
            f"{ENV} is a share of AWS calls to fail from 0 to under 1 (e.g. 0.1), every:N "
            f"(N of 2 or more) or first:K; got {spec!r}"
        ) from None


class Latency:
    """Holds each request `seconds` before it is sent (every attempt, retries too), outside
    any lock, so calls made at once wait at once as they would on the network. `calls`
    counts the requests it held."""

    def __init__(self, seconds: float, spare: frozenset[str] = POLLER_OPERATIONS) -> None:
        self.seconds = seconds
        self.spare = spare
        self.calls = 0

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register_first("before-send", self.wait)

    def install(self) -> None:
        """On every client boto3's default session makes from now on."""
        for events in _default_events():
            events.register_first("before-send", self.wait)

    def wait(self, event_name: str, **_: Any) -> None:
        """botocore's `before-send` hook: sleeps, and lets the request go on (answers None)."""
        if event_name.split(".", 1)[1] in self.spare:  # before-send.sqs.ReceiveMessage
            return
        self.calls += 1  # a count for benches: a lost increment between threads is no matter
        time.sleep(self.seconds)


def latency_from_env() -> Latency | None:
    """The delay `PLACARD_AWS_LATENCY_MS` asks for (milliseconds, 0 or more); None when unset."""
    given = os.environ.get(LATENCY_ENV, "").strip()
    if not given:
        return None
    try:
        ms = float(given)
        if not 0 <= ms < 10_000:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{LATENCY_ENV} is a delay in milliseconds from 0 to under 10000 added to every "
            f"AWS call (e.g. 15); got {given!r}"
        ) from None
    return Latency(ms / 1000)


def _default_events() -> tuple[Any, ...]:
    """The events of boto3's default session and of the one the functions' clients come from."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION.events, session().events


def install_from_env() -> FaultLayer | None:
    """The layer `PLACARD_AWS_FAULTS` asks for, installed on the default session; None when
    it is unset. The delay `PLACARD_AWS_LATENCY_MS` asks for is installed beside it."""
    latency = latency_from_env()
    if latency is not None:
        latency.install()
    spec = os.environ.get(ENV, "").strip()
    if not spec:
        return None
    layer = from_spec(spec)
    layer.install()
    return layer

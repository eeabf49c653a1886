"""HttpCaller's waiting rules, and its reading of an answer that breaks off, on canned answers:
no image API is involved here, only the caller (the providers' wire formats are tested against
the emulator in tests/integration)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx

from placard.providers.http import CallStats, HttpCaller, RetryPolicy, json_body


class Ceiling(random.Random):
    """Jitter that always picks the top of its range, so waits are the policy's bounds."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_a_fault_after_throttling_waits_as_a_first_fault() -> None:
    # Given an API that throttles three times (asking for 0.1 s), then fails once, then answers
    answers = iter([429, 429, 429, 503, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        headers = {"retry-after": "0.1"} if status == 429 else {}
        return httpx.Response(status, headers=headers, json={})

    waits: list[float] = []
    policy = RetryPolicy(max_failures=3, base_delay=0.5, max_delay=20)
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        caller = HttpCaller(client, policy, rng=Ceiling(), sleep=waits.append)
        # When a call is made
        caller.call(
            lambda: httpx.Request("POST", "http://api.test/v1/images/generations"),
            parse=lambda response: response.status_code,
            refusal=lambda response: "",
        )
    # Then every throttled answer waits what was asked plus a little jitter
    assert all(0.1 <= wait <= 0.35 for wait in waits[:3])
    # And the fault's backoff grows with faults only: the first fault waits at most base_delay
    assert len(waits) == 4
    assert waits[3] <= 0.5


class BreaksOff(httpx.SyncByteStream):
    """A 200's body that stops after its first bytes: the connection was lost mid-answer."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"data": [{"b64_json": "iVBORw0KGgo'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_an_answer_that_breaks_off_after_its_headers_is_an_unknown_outcome_retried() -> None:
    # Given an API whose first 200 loses its connection half-way through the body, then answers
    answers = iter([httpx.Response(200, stream=BreaksOff()), httpx.Response(200, json={"n": 1})])
    with httpx.Client(transport=httpx.MockTransport(lambda request: next(answers))) as client:
        caller = HttpCaller(client, RetryPolicy(max_failures=3), sleep=lambda s: None)
        stats = CallStats()
        # When a call is made whose answer is read as JSON
        body = caller.call(
            lambda: httpx.Request("POST", "http://api.test/v1/images/generations"),
            parse=json_body,
            refusal=lambda response: "",
            stats=stats,
        )
    # Then the broken answer counts as sent with no readable answer (it may have been billed),
    # and the call is made again and read
    assert body == {"n": 1}
    assert (stats.attempts, stats.unknown_outcomes) == (2, 1)
    assert stats.errors == ["no answer after sending: RemoteProtocolError"]


class TooLong(httpx.SyncByteStream):
    """A 200's JSON body of 16 KiB and more (a broken proxy, or a provider's bug: one that
    never ended would take the worker's memory)."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"data": [{"b64_json": "'
        yield from [b"A" * 1024] * 16
        yield b'"}]}'


def test_an_answer_longer_than_its_images_can_take_is_cut_off_as_unknown_and_retried() -> None:
    # Given an API whose first answer runs past the limit, whose second declares more than
    # it, and whose third is a short JSON object
    answers = iter(
        [
            httpx.Response(200, stream=TooLong()),
            httpx.Response(200, headers={"content-length": "4097"}, stream=TooLong()),
            httpx.Response(200, json={"n": 1}),
        ]
    )
    with httpx.Client(transport=httpx.MockTransport(lambda request: next(answers))) as client:
        caller = HttpCaller(client, RetryPolicy(max_failures=3), sleep=lambda s: None)
        stats = CallStats()
        # When a call is made whose answer may take 4096 bytes
        body = caller.call(
            lambda: httpx.Request("POST", "http://api.test/v1/images/generations"),
            parse=lambda response: json_body(response, limit=4096),
            refusal=lambda response: "",
            stats=stats,
        )
    # Then the first two are unreadable, read no further than the limit, their outcomes unknown
    # (they may have been billed), and the third is read
    assert body == {"n": 1}
    assert (stats.attempts, stats.unknown_outcomes) == (3, 2)
    assert stats.errors == [
        "unreadable answer: the answer passed 4,096 bytes, more than its images can take",
        "unreadable answer: the answer is 4,097 bytes, more than 4,096",
    ]

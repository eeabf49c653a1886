"""HttpCaller's waiting rules, on canned answers: no image API is involved here, only the policy
(the providers' wire formats are tested against the emulator in tests/integration)."""

from __future__ import annotations

import random

import httpx

from placard.providers.http import HttpCaller, RetryPolicy


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

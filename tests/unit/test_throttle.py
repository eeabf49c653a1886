"""The one token bucket of the laptop code: API Gateway's throttle in front of the local API,
and the emulator's images-per-minute limit."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from placard_emulator.rate_limit import TokenBucket
from placard_local.cloud import LocalCloud
from placard_local.serve import api_throttle
from placard_local.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_serves_its_burst_then_its_rate() -> None:
    # Given a bucket of 3 at 2 a second (API Gateway's rate and burst), on a clock moved by hand
    clock = Clock()
    bucket = TokenBucket(per_minute=120, burst=3, clock=clock)
    # When 4 requests come at once, Then 3 pass and the fourth is told to wait half a second
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    # When half a second passes, Then one more passes
    clock.now = 0.5
    assert [bucket.take() == 0.0, bucket.take() == 0.0] == [True, False]
    # When a long pause passes, Then the bucket holds no more than its burst
    clock.now = 100.0
    assert sum(bucket.take() == 0.0 for _ in range(10)) == 3


def test_the_local_api_throttles_with_the_rate_and_burst_of_the_template() -> None:
    # Given the stack of template.yaml with the API's rate parameter set to 7
    stack = Stack.load(ROOT / "template.yaml", {"ApiRateLimit": "7"})
    # When placard serve builds its throttle from it
    bucket = api_throttle(cast(LocalCloud, SimpleNamespace(stack=stack)))
    # Then it refills 7 a second and holds the stage's burst of 100
    assert (bucket.rate, bucket.capacity) == (7.0, 100)


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    # Given a bucket of 2 at 1 a second
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=2, clock=clock)
    bucket.take(1)
    # When 5 images are asked for with one token left, Then the wait is for a full bucket
    assert bucket.take(5) == 1.0
    # When that second has passed, Then all 5 are granted
    clock.now = 1.0
    assert bucket.take(5) == 0.0
    # Then the bucket owes 3: a single image waits 4 seconds (3 of debt, 1 to refill)
    assert bucket.take(1) == 4.0


def test_a_refund_gives_tokens_back_up_to_the_burst() -> None:
    # Given an empty bucket of 2
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=2, clock=clock)
    assert bucket.take(2) == 0.0
    # When 5 tokens are refunded, Then only the burst comes back
    bucket.refund(5)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_without_a_burst_the_bucket_holds_a_seconds_worth() -> None:
    # Given 1200 a minute and no burst, Then it holds 20; given 30 a minute, Then it holds 1
    assert TokenBucket(per_minute=1200).capacity == 20
    assert TokenBucket(per_minute=30).capacity == 1


def test_no_limit_never_makes_anyone_wait() -> None:
    # Given a bucket without a limit
    bucket = TokenBucket(per_minute=None)
    # When far more than any burst is taken, Then nobody waits
    assert {bucket.take(1000) for _ in range(100)} == {0.0}


def test_a_rate_of_zero_serves_the_burst_and_then_nothing() -> None:
    # Given a bucket of 2 that never refills
    clock = Clock()
    bucket = TokenBucket(per_minute=0, burst=2, clock=clock)
    # When 3 requests come, even an hour apart, Then the third waits for ever
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    clock.now = 3600.0
    assert bucket.take() == math.inf


def test_a_burst_of_zero_admits_nothing() -> None:
    # Given a bucket that holds no token
    bucket = TokenBucket(per_minute=120, burst=0, clock=Clock())
    # When a request comes, Then no wait will do
    assert bucket.take() == math.inf

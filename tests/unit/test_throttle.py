"""The local API's throttle, as API Gateway's: a rate and a burst."""

from __future__ import annotations

from placard_local.serve import TokenBucket


def test_a_bucket_serves_its_burst_then_its_rate() -> None:
    # Given a bucket of 3 at 2 a second, on a clock we move by hand
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    # When 4 requests come at once, Then 3 pass
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    # When half a second passes, Then one more passes
    now[0] = 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
    # When a long pause passes, Then the bucket holds no more than its burst
    now[0] = 100.0
    assert sum(bucket.take() for _ in range(10)) == 3

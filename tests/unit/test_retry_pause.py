"""The local runner's pause before a failed record comes back (issue #16): seconds, as on a
laptop, except before a record's last receive, which never comes before the failed
invocation's deadline (an in-progress marker it left lives until then)."""

from __future__ import annotations

from placard_local.cloud import MAX_RETRY_PAUSE_SECONDS, retry_pause


def test_early_failures_come_back_within_seconds() -> None:
    # Given a queue that dead-letters on the fifth receive, and an invocation with 590 s left
    # When a record fails on its first to third receive
    pauses = [retry_pause(received, 5, 590.0) for received in (1, 2, 3)]
    # Then it comes back after a second or a few, growing
    assert pauses == [1, 2, 3]
    assert max(pauses) <= MAX_RETRY_PAUSE_SECONDS


def test_the_last_receive_waits_out_the_failed_invocation() -> None:
    # Given the same queue, When a record fails on its fourth receive (the next is its last)
    # Then it comes back no sooner than the failed invocation's deadline
    assert retry_pause(4, 5, 589.2) == 590
    # And never sooner than the usual pause, when the deadline is near or past
    assert retry_pause(4, 5, 0.5) == 4
    assert retry_pause(4, 5, -3.0) == 4


def test_a_queue_without_a_dead_letter_queue_keeps_the_short_pause() -> None:
    # Given a queue with no redrive policy, When a record fails again and again
    # Then the pause stays a few seconds: no receive is its last
    assert retry_pause(9, None, 590.0) == MAX_RETRY_PAUSE_SECONDS

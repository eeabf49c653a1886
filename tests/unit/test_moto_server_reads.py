"""The local moto server reads a query or scan again when a concurrent write raced it."""

from __future__ import annotations

from typing import Any

import pytest

from placard_local.moto_server import READ_ATTEMPTS, _read_again_if_raced

RACE = RuntimeError("dictionary changed size during iteration")


def reads(*answers: Any) -> tuple[list[int], Any]:
    """A read that gives each answer in turn, raising the ones that are exceptions."""
    calls: list[int] = []

    def read(table: str) -> Any:
        calls.append(1)
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return calls, read


def test_a_read_raced_by_a_write_is_read_again() -> None:
    # Given a query whose first read meets an item changed under it
    calls, read = reads(RACE, ["item"])
    # When it goes through the server's wrapper
    answer = _read_again_if_raced(read)("table")
    # Then the second read answers, and the client never sees the 500
    assert (answer, len(calls)) == (["item"], 2)


def test_a_read_that_keeps_racing_or_fails_otherwise_raises() -> None:
    # Given reads that race every time, and one that fails for another reason
    raced_calls, raced = reads(*[RACE] * READ_ATTEMPTS)
    other_calls, other = reads(RuntimeError("something else"), ["item"])
    # When each goes through the wrapper, then the error reaches moto (a 500), as before
    with pytest.raises(RuntimeError, match="changed size"):
        _read_again_if_raced(raced)("table")
    with pytest.raises(RuntimeError, match="something else"):
        _read_again_if_raced(other)("table")
    # And a race is read at most READ_ATTEMPTS times, another error once
    assert (len(raced_calls), len(other_calls)) == (READ_ATTEMPTS, 1)

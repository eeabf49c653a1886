"""The worker's pixel gate: a batch's edits decode and composite by turns, weighed by size."""

from __future__ import annotations

import threading
import time

import pytest

from placard.imaging.gate import PixelGate


def until_one_waits(gate: PixelGate) -> None:
    """Returns once a thread waits its turn at the gate (no time is asserted)."""
    while gate.waiting < 1:
        time.sleep(0.001)


def test_work_that_fits_together_goes_in_together() -> None:
    # Given a gate of 100 pixels, 40 of them taken
    gate = PixelGate(100)
    # When another 60 come
    with gate(40), gate(60):
        # Then they go in at once
        assert gate.in_use == 100 and gate.waiting == 0
    assert gate.in_use == 0


def test_work_that_does_not_fit_waits_for_its_turn() -> None:
    # Given a gate of 100 pixels, 60 of them in use
    gate, entered = PixelGate(100), threading.Event()
    holder = gate(60)
    holder.__enter__()

    def second() -> None:
        with gate(60):
            entered.set()

    # When another 60 come
    thread = threading.Thread(target=second)
    thread.start()
    until_one_waits(gate)
    # Then they wait
    assert not entered.is_set() and gate.in_use == 60
    # And go in once the first are done
    holder.__exit__(None, None, None)
    thread.join()
    assert entered.is_set() and gate.in_use == 0 and gate.waiting == 0


def test_work_larger_than_the_gate_goes_in_alone() -> None:
    # Given a gate of 100 pixels
    gate = PixelGate(100)
    # When work of 250 pixels comes
    with gate(250):
        # Then it goes in, taking the whole gate
        assert gate.in_use == 100
    assert gate.in_use == 0


def test_a_failure_inside_gives_its_pixels_back() -> None:
    # Given a gate of 100 pixels
    gate = PixelGate(100)
    # When work inside it fails
    with pytest.raises(RuntimeError), gate(80):
        raise RuntimeError("the decoder failed")
    # Then its pixels are free again
    assert gate.in_use == 0


def test_a_gate_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="room for some pixels"):
        PixelGate(0)


def test_a_turn_that_does_not_come_in_time_is_given_up() -> None:
    # Given a gate of 100 pixels, 60 of them in use
    gate = PixelGate(100)
    with gate(60):
        # When another 60 may wait only 50 ms
        with pytest.raises(TimeoutError, match="60 in use"), gate(60, time.monotonic() + 0.05):
            pytest.fail("went in without room")
        # Then they give up, no longer waiting, nothing taken
        assert gate.waiting == 0 and gate.in_use == 60
        # And work that fits goes in even when its time has passed: it never waited
        with gate(40, time.monotonic() - 1):
            assert gate.in_use == 100
    assert gate.in_use == 0

"""What the reconciler sets when a campaign's counters disagree with its ledger (#17)."""

from __future__ import annotations

from decimal import Decimal

from placard.domain.progress import Tally, recounted
from placard.domain.spend import Spend

SPEND = Spend(images_charged=2, cost_usd=Decimal("0.056"))


def test_counters_that_agree_are_left_as_they_are() -> None:
    # Given counters as the ledger says they should be
    tally = Tally(SPEND, queued=2, ended={"succeeded": 2})
    stored = {**SPEND.counters(), "queued": Decimal(2), "ended_succeeded": Decimal(2),
              "started": Decimal(2)}  # fmt: skip
    # When they are recounted, Then nothing is set (a second recount writes nothing)
    assert recounted(stored, tally) == {}


def test_a_lost_charge_and_a_lost_end_are_set_from_the_ledger() -> None:
    # Given counters that missed one image of two and one end of two
    tally = Tally(SPEND, queued=2, ended={"succeeded": 2})
    stored = {"images_charged": Decimal(1), "cost_usd": Decimal("0.028"), "queued": Decimal(2),
              "ended_succeeded": Decimal(1)}  # fmt: skip
    # When they are recounted
    changes = recounted(stored, tally)
    # Then exactly the counters that differ are set, to what the ledger says
    assert changes == {
        "images_charged": Decimal(2), "cost_usd": Decimal("0.056"), "ended_succeeded": Decimal(2)
    }  # fmt: skip


def test_ends_are_left_alone_when_a_marker_does_not_say_its_status() -> None:
    # Given a campaign with an end marker written before markers carried their status
    tally = Tally(SPEND, queued=2, ended={"succeeded": 1}, ends_known=False)
    stored = {**SPEND.counters(), "queued": Decimal(2), "ended_succeeded": Decimal(1),
              "ended_failed": Decimal(1)}  # fmt: skip
    # When they are recounted, Then the ends by status are kept as counted
    assert recounted(stored, tally) == {}


def test_an_end_under_a_status_no_marker_holds_is_set_to_zero() -> None:
    # Given an end counted as failed whose marker says it succeeded
    tally = Tally(SPEND, queued=1, ended={"succeeded": 1})
    stored = {**SPEND.counters(), "queued": Decimal(1), "ended_failed": Decimal(1)}
    # When they are recounted, Then the ends are the markers'
    assert recounted(stored, tally) == {"ended_succeeded": Decimal(1), "ended_failed": Decimal(0)}

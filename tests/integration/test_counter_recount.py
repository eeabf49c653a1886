"""The progress counters converge on the ledger (#17): a counter is added by its own call after
the write that guards it, so an invocation that stops dead between the two loses that count;
the reconciler recounts the campaign from the ledger table once it is quiet.

The crash is a botocore hook on the function's own DynamoDB client: the guarded write (the
ledger item's put, the job's end marker, the run's total) has gone through, and the counter's
UpdateItem never leaves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from placard import bootstrap
from placard.aws import progress as progress_module
from placard.aws.ledger import DynamoLedger
from placard.aws.progress import DynamoProgress
from placard.domain.progress import CampaignCounts, progress
from placard.domain.spend import Spend
from placard.settings import Settings
from placard_emulator import ProviderEmulator
from placard_local.stack import Stack
from tests.integration.at_least_once import (
    CAMPAIGN,
    Crash,
    Deliveries,
    emulated,
    on_emulator,
    sheet,
)
from tests.integration.test_crash_points import KINDS

CHARGE, END, QUEUED = "a charge's count", "an end's count", "the upload's jobs"


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    yield from emulated()


class LoseCounts:
    """Stops the invocation dead at the first counter write of each kind named, once."""

    def __init__(self, *kinds: str) -> None:
        self.left = set(kinds)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        sk = params["Key"].get("sk", {}).get("S", "")  # the idempotency table has none
        update = params.get("UpdateExpression", "")
        counters = set(params.get("ExpressionAttributeNames", {}).values())
        kind = ""
        if sk.startswith("PROGRESS#SUM") and "images_charged" in counters:
            kind = CHARGE
        elif sk.startswith("PROGRESS#SUM") and "queued" in counters:
            kind = QUEUED
        elif sk.startswith("RUN#") and update.startswith("ADD jobs_ended"):
            kind = END  # the marker is written; the run's count and the campaign's are not
        if kind in self.left:
            self.left.discard(kind)
            raise Crash(kind)


def losing(parts: bootstrap.Parts, lose: LoseCounts) -> bootstrap.Parts:
    """The parts of every function, on a DynamoDB client that loses those counts."""
    clients = bootstrap.Clients.from_env()
    clients.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", lose)
    built = bootstrap.build(Settings.from_env(), clients)
    return dataclasses.replace(
        built, settings=parts.settings, make_provider=parts.make_provider,
        make_reader=parts.make_reader,
    )  # fmt: skip


def counters(stack: Stack) -> CampaignCounts:
    found = DynamoProgress(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    counts = found.counts(CAMPAIGN, datetime.now(UTC))
    assert counts is not None
    return counts


def ledger_spend(stack: Stack) -> Spend:
    ledger = DynamoLedger(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    return Spend.of(ledger.campaign_items(CAMPAIGN))


def test_counts_lost_between_a_write_and_its_counter_are_recounted_by_the_reconciler(
    stack: Stack, parts: bootstrap.Parts, emulator: ProviderEmulator
) -> None:
    # Given an upload of two rows whose ingest stops after setting the run's total, a worker
    # after charging an image and a job's end after its marker, each before its count
    lose = LoseCounts(QUEUED, CHARGE, END)
    lambda_ = Deliveries(stack, losing(on_emulator(parts, emulator), lose))
    event = lambda_.upload("shops.csv", sheet(KINDS["generate"]))
    with pytest.raises(Crash):
        lambda_.ingest(event)
    lambda_.time_passes()  # its in-progress record expires with the stopped invocation
    lambda_.ingest(event)  # S3's event again, as Lambda retries an ingest that failed
    # When the pipeline runs on, each stopped message coming back
    for _ in range(3):
        lambda_.drain()
        lambda_.redeliver()
    assert not lose.left and lambda_.crashes == 2
    # Then the counters miss what was lost: the ledger charged two images, two jobs ended
    spend = ledger_spend(stack)
    assert spend.images_charged == 2
    before = counters(stack)
    assert before.spend.counters() != spend.counters()
    assert (before.queued, sum(before.ended.values())) == (0, 1)
    # When the reconciler runs once the worker's timeout has passed
    done = lambda_.reconcile()
    # Then the campaign was recounted, and its counters are what the ledger says
    assert done.recounted == [CAMPAIGN]
    after = counters(stack)
    assert after.spend.counters() == spend.counters()
    assert (after.queued, dict(after.ended)) == (2, {"succeeded": 2})
    # And the progress route answers every job ended, the spend the costs route's
    now = datetime.now(UTC)
    shown = progress(after, now)
    assert (shown.queued, shown.running, shown.ended_total) == (0, 0, 2)
    assert shown.spend.cost_usd == spend.cost_usd and spend.cost_usd > 0
    # And a second recount finds them equal and writes nothing
    later = (now + timedelta(hours=1)).isoformat(timespec="milliseconds")
    table = stack.physical["LedgerTable"]
    assert DynamoProgress(boto3.client("dynamodb"), table).recount(CAMPAIGN, later) == {}
    assert counters(stack) == after


def test_a_campaign_still_at_work_is_left_for_a_later_run(
    stack: Stack,
    parts: bootstrap.Parts,
    emulator: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an upload made whole, whose first charge lost its count
    lambda_ = Deliveries(stack, losing(on_emulator(parts, emulator), LoseCounts(CHARGE)))
    lambda_.ingest(lambda_.upload("shops.csv", sheet(KINDS["generate"])))
    for _ in range(2):
        lambda_.drain()
        lambda_.redeliver()
    progress_ = DynamoProgress(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    stored = counters(stack)
    # When the counters are recounted with a cutoff before its last write (a delivery may
    # still be adding a count)
    written = progress_.written_since_check()[CAMPAIGN]
    # Then nothing is changed, and the campaign's writes are found again next time
    assert progress_.recount(CAMPAIGN, cutoff=written[1]) is None
    assert counters(stack) == stored
    progress_.checked(written[0])
    # And the table is not scanned again within the day, and next time they are found again
    assert progress_.written_since_check() is None
    monkeypatch.setattr(progress_module, "SCAN_EVERY", timedelta(0))
    again = progress_.written_since_check()
    assert again is not None and again[CAMPAIGN] == written
    # When the recount comes after its last write, Then the lost charge is counted
    after = progress_.recount(CAMPAIGN, cutoff=written[1] + "~")
    assert after is not None and after["images_charged"] == 2

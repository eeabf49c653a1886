"""A job's calls set aside (their outcome unknown) are read with it only when asked
(`lost=True`): on DynamoDB as on the fake, the worker's reads see the job's images alone, a
cost read sees every call."""

from __future__ import annotations

import boto3
import pytest

from placard.aws.ledger import DynamoLedger
from placard.domain.ledger_items import Status
from placard.services.pipeline import unknown_call
from placard_local.stack import Stack
from tests.fakes import FakeLedger
from tests.integration.test_fakes_match_adapters import item

LATER = "2026-01-01T00:01:00.000+00:00"


@pytest.mark.parametrize("kind", ["fake", "dynamodb"])
def test_a_jobs_lost_calls_are_read_only_when_asked_for(stack: Stack, kind: str) -> None:
    table = stack.physical["LedgerTable"]
    ledger = FakeLedger() if kind == "fake" else DynamoLedger(boto3.client("dynamodb"), table)
    # Given a job whose image 0 was charged after a lost call, and another job's lost call
    ledger.save(unknown_call(item("summer", "job", 0), LATER))
    ledger.save(item("summer", "job", 0, Status.CHARGED))
    ledger.save(unknown_call(item("summer", "jo", 0), LATER))  # a job id that is a prefix
    # When the job is read, Then its image alone; with its lost calls, both items
    assert [i.lost for i in ledger.job_items("summer", "job")] == [False]
    both = ledger.job_items("summer", "job", lost=True)
    assert sorted(i.lost for i in both) == [False, True]
    assert {i.job_id for i in both} == {"job"}

"""Records of one SQS batch run at once (the worker's jobs wait on the image API together),
and each still fails or succeeds on its own."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from handlers.sqs_batch import each_record
from placard_local.cloud import LocalContext

BATCH = 10  # the worker's BatchSize in template.yaml


def sqs_event(*ids: str) -> dict[str, Any]:
    record = {
        "body": "{}", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "receiptHandle": "r",
    }  # fmt: skip
    return {"Records": [{**record, "messageId": i} for i in ids]}


def context() -> Any:
    return LocalContext("WorkerFunction", 600)


def test_a_full_batch_runs_every_record_at_once() -> None:
    # Given ten records whose handlers each wait until all ten are running (a barrier that
    # breaks, failing every record, if they ran one after another or in fewer threads)
    everyone = threading.Barrier(BATCH, timeout=30)

    def waits_for_the_others(record: SQSRecord) -> str:
        everyone.wait()
        return record.message_id

    # When the batch is handled at once
    ids = [f"m{i}" for i in range(BATCH)]
    reply = each_record(sqs_event(*ids), context(), waits_for_the_others, at_once=True)
    # Then every record met the others and succeeded
    assert reply == {"batchItemFailures": []}
    assert not everyone.broken


def test_at_once_only_the_records_that_failed_go_back_to_the_queue() -> None:
    # Given a batch where one job is running elsewhere and one fails, beside two that succeed
    def handle(record: SQSRecord) -> None:
        if record.message_id == "busy":
            raise IdempotencyAlreadyInProgressError("in progress")
        if record.message_id == "bad":
            raise ValueError("provider refused")

    # When it is handled at once
    reply = each_record(
        sqs_event("ok1", "busy", "bad", "ok2"), context(), handle,
        retry_quietly=(IdempotencyAlreadyInProgressError,), at_once=True,
    )  # fmt: skip
    # Then just those two come back, each on its own
    failed = sorted(f["itemIdentifier"] for f in reply["batchItemFailures"])
    assert failed == ["bad", "busy"]


def test_at_once_a_batch_that_failed_for_real_still_raises() -> None:
    def broken(record: SQSRecord) -> None:
        raise ValueError("a bug")

    with pytest.raises(BatchProcessingError, match="a bug"):
        each_record(sqs_event("m1", "m2"), context(), broken, at_once=True)


def test_at_once_a_batch_whose_jobs_all_run_elsewhere_goes_back_quietly() -> None:
    def busy(record: SQSRecord) -> None:
        raise IdempotencyAlreadyInProgressError("in progress")

    reply = each_record(
        sqs_event("m1", "m2"), context(), busy,
        retry_quietly=(IdempotencyAlreadyInProgressError,), at_once=True,
    )  # fmt: skip
    assert sorted(f["itemIdentifier"] for f in reply["batchItemFailures"]) == ["m1", "m2"]

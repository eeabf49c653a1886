"""Every job ends (issue #16): the worker hands the provider's call its invocation's deadline,
and a call that runs out of time on the last delivery still ends the job."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from handlers import worker
from placard import bootstrap
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.runs import UploadRun
from placard.providers.base import ImageRequest, ImageResult, OutOfTime
from placard_local.cloud import LocalContext, sqs_event
from placard_local.stack import Stack


class Hanging:
    """A provider that gives up at the deadline it is handed, as HttpCaller does."""

    name = "draft"

    def __init__(self) -> None:
        self.deadlines: list[float | None] = []

    def create(self, request: ImageRequest) -> ImageResult:
        self.deadlines.append(request.deadline)
        raise OutOfTime("out of time: 0.0s left in this invocation after 1 attempts")


def test_the_last_delivery_out_of_time_still_ends_the_job(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a sheet's only job on its last delivery, and a provider that never answers
    run = UploadRun("summer", "campaigns/summer/one.csv", "seq-1")
    job = Job("summer", "storefront-sign", "v1", {"store_name": "Zoe", "message": "Open"},
              Quality.MEDIUM, Size(1536, 1024),
              origin={"row": 2, "sheet": run.sheet, "run": run.run})  # fmt: skip
    parts.progress.expect(run, 1)
    hanging = Hanging()
    parts = dataclasses.replace(parts, make_provider=lambda settings: hanging)
    message: dict[str, Any] = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": job.to_json(),
        "Attributes": {"ApproximateReceiveCount": str(parts.settings.job_max_receives)},
        "MD5OfBody": "",
    }
    event = sqs_event([message], stack.arn("JobsQueue"), stack.region)
    # When the worker is invoked with 40 s of its invocation left
    context: Any = LocalContext("WorkerFunction", 40)
    before = time.monotonic()
    with pytest.raises(BatchProcessingError):  # its only record failed: Lambda logs it
        worker.process(event, context, parts)
    # Then the call was given a deadline that keeps the worker's margin for what follows
    (deadline,) = hanging.deadlines
    assert deadline is not None and before < deadline <= before + 40 - worker.END_MARGIN_SECONDS
    # And the job ended failed before the message goes on to the dead-letter queue
    (item,) = parts.ledger.job_items("summer", job.job_id)
    assert item.status is Status.FAILED and item.reason.startswith("out of time")
    assert parts.progress.has_ended(run, job.job_id)
    # And the upload, its only job ended, asks for its reports
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=stack.physical["ReportsQueue"]).get("Messages", [])
    assert [json.loads(m["Body"]) for m in got] == [run.to_dict()]

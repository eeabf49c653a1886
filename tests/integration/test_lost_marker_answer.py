"""A job is never lost to its own in-progress marker (issue #16).

Under load, DynamoDB (or the local moto server) may store Powertools' in-progress marker and
lose the answer: botocore then retries the same PutItem, the retry meets the marker its own
first attempt wrote, and Powertools, taking it for a twin delivery's, refused the job. The
marker lives until the invocation's deadline, so each quick redelivery met it again, and the
job went to the dead-letter queue with nothing made and nothing recorded.

The lost answer is injected on the wire: a `before-send` hook ahead of moto's stub stores the
first marker itself, then fails the request with a read timeout, as a slow server would."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ReadTimeoutError

from handlers import worker
from placard import bootstrap
from placard.bootstrap import CLIENT_CONFIG
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.runs import UploadRun
from placard_local.cloud import LocalContext, sqs_event
from placard_local.stack import Stack

RUN = UploadRun("summer", "campaigns/summer/one.csv", "seq-1")
JOB = Job("summer", "storefront-sign", "v1", {"store_name": "Zoe", "message": "Open"},
          Quality.LOW, Size(1024, 1024),
          origin={"row": 2, "sheet": RUN.sheet, "run": RUN.run})  # fmt: skip


CLIENT_ATTEMPTS = CLIENT_CONFIG.retries["total_max_attempts"]  # type: ignore[index]


class LostAnswer:
    """Lands the first `times` in-progress marker puts on `table`, then loses their answers."""

    def __init__(self, table: str, times: int = 1) -> None:
        self.table = table
        self.times = times
        self.lost = 0

    def answer(self, request: Any, **_: Any) -> None:
        params = json.loads(request.body)
        marker = params.get("Item", {}).get("status", {}).get("S") == "INPROGRESS"
        if self.lost >= self.times or params.get("TableName") != self.table or not marker:
            return
        boto3.client("dynamodb").put_item(**params)  # it landed...
        self.lost += 1
        raise ReadTimeoutError(endpoint_url=request.url)  # ...and its answer never came


def deliveries_until_settled(stack: Stack, parts: bootstrap.Parts) -> list[dict[str, Any]]:
    """The jobs queue's message delivered as the local runner delivers it: a failed record
    is given back at once (the runner waits a second or a few), until it is deleted or the
    queue's redrive policy moves it to the dead-letter queue. Returns each reply."""
    sqs, url = boto3.client("sqs"), stack.physical["JobsQueue"]
    replies: list[dict[str, Any]] = []
    for _ in range(parts.settings.job_max_receives + 1):
        got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])
        if not (messages := got.get("Messages", [])):
            break
        event = sqs_event(messages, stack.arn("JobsQueue"), stack.region)
        try:
            reply = dict(worker.process(event, LocalContext("WorkerFunction", 600), parts))
        except BatchProcessingError:
            reply = {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
        replies.append(reply)
        handle = messages[0]["ReceiptHandle"]
        if reply["batchItemFailures"]:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    return replies


def dead_lettered(stack: Stack) -> int:
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.physical["JobsDeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def losing(parts: bootstrap.Parts, times: int) -> LostAnswer:
    """The worker's idempotency store loses the answers to its first `times` marker puts."""
    layer = LostAnswer(parts.settings.idempotency_table, times)
    store = parts.idempotency["worker"]
    store.client.meta.events.register_first("before-send.dynamodb.PutItem", layer.answer)  # type: ignore[attr-defined]
    return layer


@pytest.fixture
def lost(stack: Stack, parts: bootstrap.Parts) -> LostAnswer:
    return losing(parts, 1)


def test_a_marker_whose_answer_was_lost_does_not_refuse_its_own_job(
    stack: Stack, parts: bootstrap.Parts, lost: LostAnswer
) -> None:
    # Given a sheet's job queued, and the answer to its marker's put lost after it landed
    parts.progress.expect(RUN, 1)
    parts.jobs_queue.send([JOB])
    # When the worker takes it, redelivered as the local runner would after a failure
    replies = deliveries_until_settled(stack, parts)
    # Then the lost answer happened, and the first delivery made the job all the same
    assert lost.lost == 1
    assert replies == [{"batchItemFailures": []}]
    (item,) = parts.ledger.job_items("summer", JOB.job_id)
    assert item.status is Status.CHARGED and item.s3_key
    # And nothing went to the dead-letter queue; the job went on to its read-back, once
    assert dead_lettered(stack) == 0
    proofs = boto3.client("sqs").receive_message(
        QueueUrl=stack.physical["ProofsQueue"], MaxNumberOfMessages=10
    )
    assert [JOB.job_id in m["Body"] for m in proofs.get("Messages", [])] == [True]


def test_a_marker_whose_every_try_lost_its_answer_is_withdrawn(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a sheet's job queued, and every try of its marker's put landing unanswered
    parts.progress.expect(RUN, 1)
    parts.jobs_queue.send([JOB])
    lost = losing(parts, CLIENT_ATTEMPTS)
    # When the worker takes it, redelivered as the local runner would after a failure
    replies = deliveries_until_settled(stack, parts)
    # Then the first delivery failed (nothing run under a marker it could not save), and the
    # next made the job: the marker left behind was withdrawn, not waited out
    assert lost.lost == CLIENT_ATTEMPTS
    assert [bool(r["batchItemFailures"]) for r in replies] == [True, False]
    (item,) = parts.ledger.job_items("summer", JOB.job_id)
    assert item.status is Status.CHARGED and item.s3_key
    assert dead_lettered(stack) == 0


def test_a_twin_delivery_still_waits_for_the_one_running(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given another delivery of the job running it now: its marker is in the store
    parts.jobs_queue.send([JOB])
    store, run_job = parts.store("worker", worker.idempotency), worker.run_job
    store.configure(worker.idempotency, f"{run_job.__module__}.{run_job.__qualname__}")
    store.save_inprogress(json.loads(JOB.to_json()), remaining_time_in_millis=600_000)
    # When this delivery is taken
    sqs, url = boto3.client("sqs"), stack.physical["JobsQueue"]
    messages = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    event = sqs_event(messages, stack.arn("JobsQueue"), stack.region)
    reply = worker.process(event, LocalContext("WorkerFunction", 600), parts)
    # Then it goes back to the queue, quietly, and nothing was made or charged
    assert reply == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert parts.ledger.job_items("summer", JOB.job_id) == []

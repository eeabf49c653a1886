"""The two handlers on in-process moto, wired exactly as template.yaml wires them."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from handlers import ingest, worker
from placard import bootstrap
from placard.domain.jobs import Job
from placard.domain.ledger_items import Status
from placard.domain.rounds import Cause, Round
from placard.providers.base import (
    ImageProvider,
    ImageRequest,
    ImageResult,
    ProviderRefused,
    ProviderUnavailable,
)
from placard_local.cloud import LocalContext, s3_put_event, sqs_event
from placard_local.stack import Stack
from tests.integration.derivatives import make_derivatives, read_back

DATA = Path(__file__).parents[1] / "data"


def upload(stack: Stack, sheet: Path, campaign: str = "summer") -> dict[str, Any]:
    key = f"campaigns/{campaign}/{sheet.name}"
    bucket = stack.physical["UploadsBucket"]
    boto3.client("s3").upload_file(str(sheet), bucket, key)
    event = s3_put_event(bucket, key, sheet.stat().st_size, stack.region)
    result: dict[str, Any] = ingest.handler(event, LocalContext("IngestFunction", 900))
    return result


def receive(stack: Stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=stack.physical["JobsQueue"],
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageSystemAttributeNames=["All"],  # as Lambda's poller asks
    ).get("Messages", []):
        messages += [m for m in batch if m["MessageId"] not in {x["MessageId"] for x in messages}]
        if len(batch) < 10:
            break
    return messages


def deliver(
    stack: Stack, messages: list[dict[str, Any]], parts: bootstrap.Parts | None = None
) -> dict[str, Any]:
    """The worker as Lambda invokes it; with `parts`, on those instead of the container's."""
    event = sqs_event(messages, stack.arn("JobsQueue"), stack.region)
    context = LocalContext("WorkerFunction", 600)
    result: dict[str, Any] = (
        worker.handler(event, context) if parts is None else worker.process(event, context, parts)
    )
    return result


def ledger_items(stack: Stack) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.physical["LedgerTable"])
    items: list[dict[str, Any]] = table.scan()["Items"]
    return [i for i in items if i["sk"].startswith("IMAGE#")]


def image_versions(stack: Stack, derivatives: bool = False) -> list[dict[str, Any]]:
    """Versions of the originals; with `derivatives`, of their web and thumbnail copies too."""
    s3 = boto3.client("s3")
    reply = s3.list_object_versions(Bucket=stack.physical["AssetsBucket"], Prefix="campaigns/")
    versions: list[dict[str, Any]] = reply.get("Versions", [])
    return [v for v in versions if derivatives or v["Key"].count(".") == 1]


def test_ingest_queues_good_rows_and_reports_bad_ones(stack: Stack) -> None:
    # Given a sheet with two good rows and four bad ones, When it lands in the uploads bucket
    result = upload(stack, DATA / "mixed.csv")
    # Then the two good rows are queued, one message each
    messages = receive(stack)
    assert len(messages) == 2
    assert sorted(json.loads(m["Body"])["origin"]["row"] for m in messages) == [2, 7]
    # And every problem is in errors.csv under reports/, with row, column and reason
    body = (
        boto3.client("s3")
        .get_object(Bucket=stack.physical["AssetsBucket"], Key="reports/summer/mixed/errors.csv")[
            "Body"
        ]
        .read()
    )
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {(r["row"], r["column"]) for r in rows} == {
        ("3", "headline"),
        ("4", "template"),
        ("5", "quality"),
        ("5", "size"),
        ("8", "n"),
    }
    assert result["uploads"][0]["jobs"] == 2


def test_worker_stores_images_and_charges_the_ledger(stack: Stack) -> None:
    # Given the queued jobs of a sheet
    upload(stack, DATA / "mixed.csv")
    messages = receive(stack)
    # When the worker receives them in one batch
    reply = deliver(stack, messages)
    # Then no record failed, three PNGs are stored (1 + 2 images) and three items charged
    assert reply == {"batchItemFailures": []}
    versions = image_versions(stack)
    assert len(versions) == 3
    s3 = boto3.client("s3")
    for version in versions:
        data = s3.get_object(Bucket=stack.physical["AssetsBucket"], Key=version["Key"])[
            "Body"
        ].read()
        assert data.startswith(b"\x89PNG")
    # When the proof function reads each job's round back, and the derivatives function
    # takes the jobs' requests (one a job)
    assert read_back(stack) == 2
    assert make_derivatives(stack) == 2
    # Then each image has a web-sized WebP and a thumbnail beside it
    derived = sorted(v["Key"] for v in image_versions(stack, derivatives=True) if v not in versions)
    assert derived == sorted(
        v["Key"].replace(".png", f".{variant}.webp")
        for v in versions
        for variant in ("thumb", "web")
    )
    items = ledger_items(stack)
    assert len(items) == 3
    for item in items:
        assert item["status"] == Status.CHARGED
        assert isinstance(item["cost_usd"], Decimal)
        assert item["provider"] == "draft"
        assert item["template_version"] and item["sha256"] and item["s3_key"]
        assert item["pk"] == "CAMPAIGN#summer"
        # and each draft was read back and its words found, on its first attempt
        assert item["proof"] == "pass" and item["attempt"] == 1


def test_a_duplicated_delivery_gives_one_image_and_one_charge(stack: Stack) -> None:
    # Given one job delivered and processed
    upload(stack, DATA / "events-semicolon-bom.csv")
    first = receive(stack)[:1]
    deliver(stack, first)
    # When SQS delivers the very same message again, and once more after the idempotency
    # record is gone (it expires; the ledger still remembers)
    deliver(stack, first)
    forget_idempotency_records(stack)
    deliver(stack, first)
    # Then there is still one image, one object version and one ledger item
    assert len(image_versions(stack)) == 1
    items = ledger_items(stack)
    assert len(items) == 1
    assert items[0]["status"] == Status.CHARGED


def forget_idempotency_records(stack: Stack) -> None:
    table = boto3.resource("dynamodb").Table(stack.physical["IdempotencyTable"])
    records = table.scan()["Items"]
    assert records, "the first delivery left an idempotency record"
    for record in records:
        table.delete_item(Key={"id": record["id"]})


def with_provider(parts: bootstrap.Parts, provider: ImageProvider) -> bootstrap.Parts:
    return dataclasses.replace(parts, make_provider=lambda settings: provider)


class Flaky:
    """A provider that fails as told, then behaves like the draft."""

    name = "draft"

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error

    def create(self, request: ImageRequest) -> ImageResult:
        if self.error:
            error, self.error = self.error, None
            raise error
        return ImageResult(images=(b"\x89PNG fake",) * request.n, model="fake")


def test_a_transient_failure_is_reported_for_retry_and_the_rest_go_on(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given two jobs and a provider that is throttled for the first call only
    upload(stack, DATA / "events-semicolon-bom.csv")
    messages = receive(stack)[:2]
    parts = with_provider(parts, Flaky(ProviderUnavailable("429 throttled")))
    # When the batch is processed
    reply = deliver(stack, messages, parts)
    # Then exactly one record is reported failed, so SQS retries only that one
    assert len(reply["batchItemFailures"]) == 1
    failed_id = reply["batchItemFailures"][0]["itemIdentifier"]
    # And its failure is in the ledger, at no cost, with the reason
    statuses = sorted(i["status"] for i in ledger_items(stack))
    assert statuses == ["charged", "failed"]
    # When the retry comes, Then it is charged once
    retry = [m for m in messages if m["MessageId"] == failed_id]
    assert deliver(stack, retry, parts) == {"batchItemFailures": []}
    assert sorted(i["status"] for i in ledger_items(stack)) == ["charged", "charged"]


def test_a_refusal_is_final_and_costs_nothing(stack: Stack, parts: bootstrap.Parts) -> None:
    upload(stack, DATA / "events-semicolon-bom.csv")
    messages = receive(stack)[:1]
    parts = with_provider(parts, Flaky(ProviderRefused("content policy")))
    # When the provider refuses, Then the message is consumed (no retry) and recorded as failed
    assert deliver(stack, messages, parts) == {"batchItemFailures": []}
    (item,) = ledger_items(stack)
    assert item["status"] == "failed"
    assert item["cost_usd"] == 0
    assert "content policy" in item["reason"]


def test_a_malformed_message_fails_alone(stack: Stack) -> None:
    upload(stack, DATA / "events-semicolon-bom.csv")
    good = receive(stack)[:1]
    bad = {**good[0], "MessageId": "bad", "Body": "{not json"}
    reply = deliver(stack, [*good, bad])
    assert reply == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(image_versions(stack)) == 1


def test_an_unknown_outcome_is_recorded_and_the_retry_charges_once(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a provider whose answer never came back after the request was sent
    upload(stack, DATA / "events-semicolon-bom.csv")
    messages = receive(stack)[:1]
    lost = ProviderUnavailable("no answer after sending: ReadTimeout", unknown_outcomes=1)
    parts = with_provider(parts, Flaky(lost))
    # When the job is processed, Then the batch fails (SQS will redeliver it)
    with pytest.raises(BatchProcessingError):
        deliver(stack, messages, parts)
    # And the ledger keeps the reservation and says the outcome is unknown
    (item,) = ledger_items(stack)
    assert item["status"] == "reserved"
    assert item["reason"].startswith("outcome unknown")
    assert item["unknown_outcomes"] == 1
    # When the retry succeeds, Then the image is charged once, in the image's own item
    assert deliver(stack, messages, parts) == {"batchItemFailures": []}
    image, unknown = sorted(ledger_items(stack), key=lambda i: bool(i.get("lost")))
    assert image["status"] == "charged" and not image.get("lost")
    assert len(image_versions(stack)) == 1
    # And the unknown call is set aside, still reserved at its price, saying why
    assert unknown["lost"] and unknown["status"] == "reserved"
    assert unknown["cost_usd"] == image["cost_usd"]
    assert unknown["reason"].startswith("outcome unknown, held until the provider's bill says")


def test_re_rolls_of_two_jobs_at_once_are_each_made_once(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given two jobs whose first rounds were made
    upload(stack, DATA / "mixed.csv")
    first = receive(stack)
    assert deliver(stack, first) == {"batchItemFailures": []}
    jobs = [Job.from_dict(json.loads(m["Body"])) for m in first]
    # When a re-roll of image 0 of each is queued (twice: a redelivery) and the worker runs them
    for job in jobs + jobs:
        parts.jobs_queue.send_round(job, Round(2, (0,), Cause.PROOF))
    # (a batch's records run at once: a twin that meets its original in progress goes back to
    # the queue, and its next delivery finds the outcome)
    deliver(stack, receive(stack))
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    # Then each job has its own second attempt, made once: a round's idempotency key is its
    # job's, its attempt and its images
    second = [i for i in ledger_items(stack) if i.get("attempt") == 2]
    assert sorted(i["job_id"] for i in second) == sorted(j.job_id for j in jobs), [
        (i["sk"], i["status"], i.get("reason"), i.get("lost")) for i in second
    ]
    assert all(i["s3_key"].endswith("/0-2.png") for i in second)

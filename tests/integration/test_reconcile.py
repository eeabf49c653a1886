"""The reconciler and redrive on moto, with template.yaml's queues and tables (issue #16): what
a crash left behind is settled, released or reported, dead-lettered jobs end once, uploads get
their reports, and a second run changes nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3

from handlers import reconcile as handler
from placard import bootstrap
from placard.aws.redrive import move_by_hand
from placard.domain.jobs import Job, Quality, Size
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord
from placard.domain.runs import UploadRun
from placard.services.pipeline import SENT
from placard_local.stack import Stack

CAMPAIGN = "spring"
LONG_AGO = "2026-01-01T00:00:00.000+00:00"


def reconcile(parts: bootstrap.Parts) -> dict[str, Any]:
    return handler.process(bootstrap.reconciler(parts, bootstrap.Clients.from_env()))


def reserved(job_id: str, reason: str = "", updated_at: str = LONG_AGO) -> LedgerItem:
    return LedgerItem(
        campaign=CAMPAIGN, job_id=job_id, image_index=0, template="storefront-sign",
        template_version="v1", provider="prospolabs", model="prospo-1", quality="medium",
        size="1536x1024", unit_price=Decimal("0.028"), cost_usd=Decimal("0.028"),
        estimate_usd=Decimal("0.028"), status=Status.RESERVED, created_at=updated_at,
        updated_at=updated_at, reason=reason,
    )  # fmt: skip


def job(row: int, **origin: object) -> Job:
    return Job(
        CAMPAIGN, "storefront-sign", "v1", {"store_name": f"Shop {row}", "message": "Open"},
        Quality.MEDIUM, Size(1536, 1024), origin={"row": row, **origin},
    )  # fmt: skip


def url(stack: Stack, logical_id: str) -> str:
    return stack.physical[logical_id]


def bodies(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    """Every message waiting in a queue, taken from it."""
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(
        QueueUrl=url(stack, logical_id), MaxNumberOfMessages=10
    ).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=url(stack, logical_id), ReceiptHandle=message["ReceiptHandle"]
            )
    return found


def waiting(stack: Stack, logical_id: str) -> int:
    reply = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url(stack, logical_id), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(reply["Attributes"]["ApproximateNumberOfMessages"])


def test_stale_reservations_are_charged_released_or_reported_and_fresh_ones_left(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given four reservations: stored by a delivery that died before settling, never sent,
    # sent with no image stored, and one a live delivery holds right now
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    for item in (reserved("stored", SENT), reserved("unsent"), reserved("sent", SENT),
                 reserved("live", SENT, updated_at=now)):  # fmt: skip
        parts.ledger.save(item)
    data = b"\x89PNG the provider's bytes"
    key = image_key(CAMPAIGN, "stored", 0, "png")
    parts.assets.put_new(key, data, "image/png", {"sha256": hashlib.sha256(data).hexdigest()})
    # When the reconciler runs
    first = reconcile(parts)
    # Then the stored image is charged with its object's sha256, at its price
    items = {i.job_id: i for i in parts.ledger.campaign_items(CAMPAIGN)}
    assert first["charged"] == [key]
    assert items["stored"].status is Status.CHARGED and items["stored"].s3_key == key
    assert items["stored"].sha256 == hashlib.sha256(data).hexdigest()
    assert items["stored"].cost_usd == Decimal("0.028")
    # And the one never sent is released at no cost
    assert first["released"] == ["unsent#0#1"]
    assert items["unsent"].status is Status.REFUNDED and items["unsent"].cost_usd == 0
    # And the one sent with nothing stored is reported, left reserved, with its reason
    assert first["unknown"] == [f"{CAMPAIGN} job sent image 0 attempt 1: outcome unknown: "
                                "sent to the provider, no image stored"]  # fmt: skip
    assert items["sent"].status is Status.RESERVED
    # And the live one is not touched
    assert items["live"] == reserved("live", SENT, updated_at=now)
    # When it runs again, Then it changes nothing and reports the same
    again = reconcile(parts)
    assert again == {**first, "charged": [], "released": []}
    assert {i.job_id: i for i in parts.ledger.campaign_items(CAMPAIGN)} == items


def test_dead_lettered_jobs_end_failed_once_and_their_upload_gets_its_reports(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given an upload of two jobs, one ended and the other dead-lettered uncounted (its last
    # delivery was stopped by Lambda), and an API job dead-lettered the same way
    run = UploadRun(CAMPAIGN, "campaigns/spring/shops.csv", "seq-1")
    origin = {"sheet": run.sheet, "run": run.run}
    ended, lost = job(2, **origin), job(3, **origin)
    api = job(0, api=True, callback_url="https://example.com/hook")
    parts.progress.expect(run, 2)
    assert parts.progress.job_ended(run, ended.job_id) is False
    parts.job_records.put(JobRecord(api.job_id, CAMPAIGN, api.template, 1, LONG_AGO))
    parts.ledger.save(reserved(lost.job_id).but(job_id=lost.job_id, status=Status.FAILED,
                                                reason="503 the provider is down"))  # fmt: skip
    sqs = boto3.client("sqs")
    for dead in (lost, api):
        sqs.send_message(QueueUrl=url(stack, "JobsDeadLetterQueue"), MessageBody=dead.to_json())
    # When the reconciler runs
    first = reconcile(parts)
    # Then both jobs ended failed, with the reason their ledger holds
    assert sorted(first["ended"]) == sorted([lost.job_id, api.job_id])
    assert parts.progress.has_ended(run, lost.job_id)
    record = parts.job_records.get(api.job_id)
    assert record is not None and record.ended == "failed"
    assert "gave up after every retry (jobs queue" in record.reason
    # And the upload, now complete, gets its reports, and the API job its callback
    assert bodies(stack, "ReportsQueue") == [run.to_dict()]
    assert [b["job_id"] for b in bodies(stack, "CallbacksQueue")] == [api.job_id]
    # And the dead letters stay for a redrive
    assert waiting(stack, "JobsDeadLetterQueue") == 2
    # When it runs again, Then nothing more is ended, reported or called back
    again = reconcile(parts)
    assert again["ended"] == [] and again["reports"] == []
    assert bodies(stack, "ReportsQueue") == [] and bodies(stack, "CallbacksQueue") == []


def test_an_upload_whose_jobs_all_ended_unreported_gets_its_reports_once(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given an upload whose one job ended before ingest set the total, and ingest stopped
    # after setting it, before asking for the reports
    run = UploadRun(CAMPAIGN, "campaigns/spring/late.csv", "seq-2")
    assert parts.progress.job_ended(run, "only") is False
    boto3.client("dynamodb").update_item(
        TableName=parts.settings.ledger_table,
        Key={"pk": {"S": f"CAMPAIGN#{CAMPAIGN}"}, "sk": {"S": f"RUN#{run.sheet}#{run.run}"}},
        UpdateExpression="SET jobs_total = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    # When the reconciler runs twice
    first, again = reconcile(parts), reconcile(parts)
    # Then its reports were asked for once
    assert first["reports"] == [run.to_dict()] and again["reports"] == []
    assert bodies(stack, "ReportsQueue") == [run.to_dict()]


def test_redrive_sends_dead_letters_back_to_their_queue(stack: Stack) -> None:
    # Given two jobs in the jobs dead-letter queue
    sqs = boto3.client("sqs")
    sent = [job(row).to_json() for row in (2, 3)]
    for body in sent:
        sqs.send_message(QueueUrl=url(stack, "JobsDeadLetterQueue"), MessageBody=body)
    # When they are redriven (by hand: moto has no message move task)
    moved = move_by_hand(sqs, url(stack, "JobsDeadLetterQueue"), url(stack, "JobsQueue"))
    # Then both are back on the jobs queue, as they were, and the dead-letter queue is empty
    assert moved == 2
    assert sorted(json.dumps(b, sort_keys=True) for b in bodies(stack, "JobsQueue")) == sorted(
        json.dumps(json.loads(b), sort_keys=True) for b in sent
    )
    assert waiting(stack, "JobsDeadLetterQueue") == 0


def test_a_job_that_stopped_between_its_marker_and_the_count_is_counted(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given an upload of one job whose end wrote its marker, then stopped before counting
    run = UploadRun(CAMPAIGN, "campaigns/spring/cut.csv", "seq-3")
    parts.progress.expect(run, 1)
    boto3.client("dynamodb").put_item(
        TableName=parts.settings.ledger_table,
        Item={"pk": {"S": f"CAMPAIGN#{CAMPAIGN}"},
              "sk": {"S": f"RUN#{run.sheet}#{run.run}#JOB#only"}, "job_id": {"S": "only"}},
    )  # fmt: skip
    # When the reconciler runs twice
    first, again = reconcile(parts), reconcile(parts)
    # Then the job is counted, the upload's reports asked for once, and its redelivery counts
    # it no more
    assert first["reports"] == [run.to_dict()] and again["reports"] == []
    assert bodies(stack, "ReportsQueue") == [run.to_dict()]
    assert parts.progress.job_ended(run, "only") is False

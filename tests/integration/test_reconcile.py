"""The reconciler and redrive on moto, with template.yaml's queues and tables (issue #16): what
a crash left behind is settled, released or reported, dead-lettered jobs end once, uploads get
their reports, and a second run changes nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from PIL import Image

from handlers import proof, report
from handlers import reconcile as handler
from placard import bootstrap
from placard.aws.progress import DynamoProgress
from placard.aws.redrive import move_by_hand
from placard.domain.jobs import Job, Quality, Size
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord
from placard.domain.proofs import ReadLine, Verdict
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun
from placard.services.pipeline import SENT, unknown_call
from placard.services.settle import call_id
from placard_local.cloud import LocalContext, sqs_event
from placard_local.stack import Stack
from tests.integration.derivatives import make_derivatives
from tests.pictures import encode

CAMPAIGN = "spring"
S3_PUT = Path(__file__).parents[2] / "events" / "s3-put.json"
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
    assert first["unknown"] == [f"{CAMPAIGN} call {call_id(items['sent'])}: outcome unknown: "
                                "sent to the provider, no image stored"]  # fmt: skip
    assert items["sent"].status is Status.RESERVED
    # And the live one is not touched
    assert items["live"] == reserved("live", SENT, updated_at=now)
    # When it runs again, Then it changes nothing and reports the same
    again = reconcile(parts)
    assert again == {**first, "charged": [], "released": []}
    assert {i.job_id: i for i in parts.ledger.campaign_items(CAMPAIGN)} == items


def test_an_unknown_call_set_aside_stays_reported_though_its_image_was_made_since(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a call that timed out, set aside (still reserved, its own key) when its job was
    # delivered again, and the image that later delivery made and charged under the same index
    timed_out = reserved("retried", "outcome unknown, will retry: read timeout")
    parts.ledger.save(unknown_call(dataclasses.replace(timed_out, unknown_outcomes=1), LONG_AGO))
    data = b"\x89PNG the second call's bytes"
    key = image_key(CAMPAIGN, "retried", 0, "png")
    parts.assets.put_new(key, data, "image/png", {"sha256": hashlib.sha256(data).hexdigest()})
    parts.ledger.save(dataclasses.replace(
        reserved("retried"), status=Status.CHARGED, s3_key=key,
        sha256=hashlib.sha256(data).hexdigest(),
    ))  # fmt: skip
    # When the reconciler runs
    done = reconcile(parts)
    # Then the set-aside call is reported, not charged with the other call's image
    assert done["charged"] == [] and done["released"] == []
    (said,) = done["unknown"]
    assert said.startswith(f"{CAMPAIGN} call retried#0#1#")
    assert said.split(": ", 1)[1].startswith("outcome unknown, held")
    items = parts.ledger.campaign_items(CAMPAIGN)
    assert sorted((i.lost, i.status.value) for i in items) == [
        (False, "charged"),
        (True, "reserved"),
    ]


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
    assert parts.progress.job_ended(run, ended.job_id, "succeeded") is False
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
    assert parts.progress.job_ended(run, "only", "succeeded") is False
    stop = RuntimeError("ingest stopped")
    stopped = mock.patch.object(DynamoProgress, "claim_reports", side_effect=stop)
    with stopped, pytest.raises(RuntimeError, match="ingest stopped"):
        parts.progress.expect(run, 1)
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
    assert parts.progress.job_ended(run, "only", "succeeded") is False


def taken(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    """Every message waiting in a queue as SQS hands it (attributes too), taken from it."""
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(
        QueueUrl=url(stack, logical_id), MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        found += messages
    return found


def failed_ingest(key: str, sequencer: str) -> dict[str, Any]:
    """Lambda's failure record of an S3-invoked ingest, as its on-failure destination gets it."""
    event = json.loads(S3_PUT.read_text())
    event["Records"][0]["s3"]["object"].update(key=key, sequencer=sequencer)
    return {
        "version": "1.0",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "requestContext": {
            "requestId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ingest:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ReadTimeoutError",
                            "errorMessage": "Read timeout on endpoint URL"},
    }  # fmt: skip


def test_a_sheet_whose_ingest_failed_every_try_gets_its_reports_saying_why_once(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a sheet whose ingest failed three times (its failure record in the ingest
    # dead-letter queue), and a reviewed sheet's failure beside it
    sheet = "campaigns/spring/spring shops.csv"
    boto3.client("s3").put_object(
        Bucket=parts.settings.uploads_bucket, Key=sheet,
        Body=b"template,store_name,message\r\nstorefront-sign,Zoe,Now open\r\n",
    )  # fmt: skip
    sqs = boto3.client("sqs")
    for key in ("campaigns%2Fspring%2Fspring+shops.csv", "campaigns/spring/review/shops.csv"):
        body = json.dumps(failed_ingest(key, "0067A1B2C3D4E5F601"))
        sqs.send_message(QueueUrl=url(stack, "IngestDeadLetterQueue"), MessageBody=body)
    # When the reconciler runs
    first = reconcile(parts)
    # Then the sheet's errors.csv, where ingest writes it, says ingest failed and why
    assert first["ingests"] == [sheet]
    errors = parts.assets.read("reports/spring/spring shops/errors.csv").decode("utf-8-sig")
    assert "ingest failed (ReadTimeoutError: Read timeout on endpoint URL, after 3 tries)" in errors
    # And its reports are asked for, and written with that line first
    run = UploadRun(CAMPAIGN, sheet, "0067A1B2C3D4E5F601")
    requests = taken(stack, "ReportsQueue")
    assert [json.loads(m["Body"]) for m in requests] == [run.to_dict()]
    context = LocalContext("ReportFunction", 300)
    answer = report.process(sqs_event(requests, stack.arn("ReportsQueue"), stack.region),
                            context, parts)  # fmt: skip
    assert answer == {"batchItemFailures": []}
    results = parts.assets.read("reports/spring/spring shops/results.csv").decode("utf-8-sig")
    assert "ingest failed (ReadTimeoutError" in results.splitlines()[1]
    # And the reviewed sheet's failure is left for a person, named
    assert first["left"] == [
        "ingest queue: campaigns/spring/review/shops.csv: ReadTimeoutError: Read timeout on "
        "endpoint URL, after 3 tries"
    ]
    # And both failure records stay for a redrive
    assert waiting(stack, "IngestDeadLetterQueue") == 2
    # When it runs again, Then nothing is written or asked for again
    parts.assets.put_report("reports/spring/spring shops/errors.csv", b"later", "text/csv")
    again = reconcile(parts)
    assert again["ingests"] == [] and again["reports"] == []
    assert parts.assets.read("reports/spring/spring shops/errors.csv") == b"later"
    assert bodies(stack, "ReportsQueue") == []


class Blind:
    """A reader that must not be asked: the round it is handed was not to be read."""

    def read(self, image: bytes) -> list[ReadLine]:
        raise AssertionError("an image was read back")

    def reads(self, text: str) -> bool:
        return True


def test_a_dead_lettered_proofs_round_delivers_its_images_unchecked_and_the_job_ends(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given an API job whose one image was made and charged, and whose read-back failed
    # every delivery (its proof request in the proofs dead-letter queue)
    api = job(0, api=True)
    parts.job_records.put(JobRecord(api.job_id, CAMPAIGN, api.template, 1, LONG_AGO))
    data = encode(Image.new("RGB", (96, 64), "white"))
    key = image_key(CAMPAIGN, api.job_id, 0, "png")
    parts.assets.put_new(key, data, "image/png", {"sha256": hashlib.sha256(data).hexdigest()})
    sha256 = hashlib.sha256(data).hexdigest()
    parts.ledger.save(reserved(api.job_id).but(status=Status.CHARGED, s3_key=key, sha256=sha256))
    request = {"job": api.to_dict(), "round": Round().to_dict(), "originals": [[0, key]],
               "status": "succeeded", "reason": "", "region": None}  # fmt: skip
    boto3.client("sqs").send_message(
        QueueUrl=url(stack, "ProofsDeadLetterQueue"), MessageBody=json.dumps(request)
    )
    # When the reconciler runs
    first = reconcile(parts)
    # Then the image stands unchecked, saying the read-back did not run, and nothing ended yet
    assert first["unchecked"] == [api.job_id] and first["ended"] == []
    (item,) = parts.ledger.job_items(CAMPAIGN, api.job_id)
    assert item.proved is not None and item.proved.verdict is Verdict.UNCHECKED
    assert "the read-back did not run: gave up after every retry (proofs queue" in (
        item.proved.detail
    )
    # And when the proof function takes the round again, it reads nothing and finishes it
    requests = taken(stack, "ProofsQueue")
    assert [json.loads(m["Body"]) for m in requests] == [request]
    blind = dataclasses.replace(parts, make_reader=Blind)
    event = sqs_event(requests, stack.arn("ProofsQueue"), stack.region)
    answer = proof.process(event, LocalContext("ProofFunction", 120), blind)
    assert answer == {"batchItemFailures": []}
    assert make_derivatives(stack) == 1
    # Then the job ends with its image
    record = parts.job_records.get(api.job_id)
    assert record is not None and record.ended == "succeeded"
    # And a second run hands nothing on again; the dead letter stays for a redrive
    again = reconcile(parts)
    assert again["unchecked"] == [] and bodies(stack, "ProofsQueue") == []
    assert waiting(stack, "ProofsDeadLetterQueue") == 1


def test_a_dead_lettered_report_request_is_asked_once_more_and_a_callback_is_listed(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a report request and a callback, each failed every delivery
    run = UploadRun(CAMPAIGN, "campaigns/spring/shops.csv", "seq-4")
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=url(stack, "ReportsDeadLetterQueue"),
                     MessageBody=json.dumps(run.to_dict()))  # fmt: skip
    hook = json.dumps({"job_id": "j-7", "url": "https://example.com/h"})
    sqs.send_message(QueueUrl=url(stack, "CallbacksDeadLetterQueue"), MessageBody=hook)
    callback = ("callbacks queue: job j-7: its callback failed every delivery; redrive once its "
                "receiver answers")  # fmt: skip
    # When the reconciler runs
    first = reconcile(parts)
    # Then the reports are asked for once more, and the callback is listed, not sent
    assert first["reports"] == [run.to_dict()] and first["left"] == [callback]
    assert bodies(stack, "ReportsQueue") == [run.to_dict()]
    assert bodies(stack, "CallbacksQueue") == []
    # When it runs again, Then it asks nothing more and lists both, left in their queues
    again = reconcile(parts)
    assert again["reports"] == [] and bodies(stack, "ReportsQueue") == []
    assert again["left"] == [
        "reports queue: campaigns/spring/shops.csv (run seq-4): asked for once more already; "
        "the message stays for a redrive",
        callback,
    ]
    assert waiting(stack, "ReportsDeadLetterQueue") == 1
    assert waiting(stack, "CallbacksDeadLetterQueue") == 1


def test_a_dead_letter_that_cannot_be_acted_on_is_listed_and_stops_no_other(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a proofs round whose template is gone from the catalogue, and a report request
    gone = dataclasses.replace(job(5, api=True), template="retired-sign")
    parts.job_records.put(JobRecord(gone.job_id, CAMPAIGN, gone.template, 1, LONG_AGO))
    request = {"job": gone.to_dict(), "round": Round().to_dict(), "originals": [],
               "status": "succeeded", "reason": "", "region": None}  # fmt: skip
    run = UploadRun(CAMPAIGN, "campaigns/spring/shops.csv", "seq-5")
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=url(stack, "ProofsDeadLetterQueue"), MessageBody=json.dumps(request))
    sqs.send_message(
        QueueUrl=url(stack, "ReportsDeadLetterQueue"), MessageBody=json.dumps(run.to_dict())
    )
    # When the reconciler runs
    first = reconcile(parts)
    # Then the round is listed, not acted on, and the report request is asked for all the same
    (left,) = first["left"]
    assert left.startswith("proofs queue: not acted on (") and "retired-sign" in left
    assert left.endswith("; the next run tries again")
    assert first["unchecked"] == [] and first["reports"] == [run.to_dict()]

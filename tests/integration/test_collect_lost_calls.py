"""`placard run`'s results folder when the ledger holds a lost call (issue #16): a call whose
answer a crash lost is kept as an item of its own, with no image (held, then settled from the
bill). The local runner's collect downloads images and must pass it by: under load the
throughput bench met one and stopped (an S3 download of an empty key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from handlers import ingest, worker
from placard import bootstrap
from placard.domain.ledger_items import Status
from placard.services.ingest import Upload
from placard.services.pipeline import unknown_call
from placard.services.settle import call_id
from placard_local.cloud import LocalContext, s3_put_event, sqs_event
from placard_local.runner import collect
from placard_local.stack import Stack


class Clients:
    """What collect asks of the local cloud: clients (here, the test's moto)."""

    def client(self, service: str) -> Any:
        return boto3.client(service)  # type: ignore[call-overload]


def test_a_lost_call_beside_an_image_is_not_downloaded(stack: Stack, tmp_path: Path) -> None:
    # Given a one-row sheet made by ingest and the worker
    sheet = tmp_path / "one.csv"
    sheet.write_text("template,product,headline,cta\nsocial-square,Tea,Matcha,Taste it\n")
    key, bucket = "campaigns/summer/one.csv", stack.physical["UploadsBucket"]
    boto3.client("s3").upload_file(str(sheet), bucket, key)
    ingest.handler(s3_put_event(bucket, key, 60, stack.region), LocalContext("IngestFunction", 900))
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.physical["JobsQueue"])["Messages"]
    parts = bootstrap.parts()
    event = sqs_event(messages, stack.arn("JobsQueue"), stack.region)
    assert worker.process(event, LocalContext("WorkerFunction", 600), parts) == {
        "batchItemFailures": []
    }
    # And beside its image, a lost call of the same job, settled from the bill: no image
    (image,) = parts.ledger.campaign_items("summer")
    lost = image.but(s3_key="", sha256="", attempt=2, status=Status.RESERVED)
    parts.ledger.save(unknown_call(lost, image.created_at))
    parts.settlement.settle("summer", call_id(lost), image.cost_usd)
    assert len(parts.ledger.campaign_items("summer")) == 2
    # When placard run collects the results
    summary = collect(Clients(), tmp_path / "out", Upload.parse(key))  # type: ignore[arg-type]
    # Then the image is downloaded and counted once; the lost call left no file
    assert summary.images == 1 and summary.rows == 1
    assert [p.suffix for p in (tmp_path / "out" / "images").glob("*.png")] == [".png"]

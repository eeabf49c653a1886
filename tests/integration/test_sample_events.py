"""The sample events in events/ (for `sam local invoke`) drive the handlers as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3

from handlers import ingest, worker
from placard_local.cloud import LocalContext
from placard_local.stack import Stack

ROOT = Path(__file__).parents[2]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    return event


def test_the_sample_s3_event_ingests_its_sheet(stack: Stack) -> None:
    # Given the sample sheet at the (URL-encoded) key the sample event names
    event = sample("s3-put.json")
    key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    boto3.client("s3").upload_file(
        str(ROOT / "samples" / "summer-campaign.csv"), stack.physical["UploadsBucket"], key
    )
    # When the ingest handler receives the event
    reply = ingest.handler(event, LocalContext("IngestFunction", 900))
    # Then all six rows are queued
    assert reply["uploads"] == [
        {
            "key": key,
            "jobs": 6,
            "errors": 0,
            "warnings": 0,
            "errors_key": "reports/summer/summer campaign/errors.csv",
        }
    ]


def test_the_sample_sqs_event_makes_its_image(stack: Stack) -> None:
    reply = worker.handler(sample("sqs-job.json"), LocalContext("WorkerFunction", 600))
    assert reply == {"batchItemFailures": []}
    listing = boto3.client("s3").list_objects_v2(
        Bucket=stack.physical["AssetsBucket"], Prefix="campaigns/"
    )
    assert [o["Key"].rsplit("/", 1)[-1] for o in listing["Contents"]] == ["0.png"]

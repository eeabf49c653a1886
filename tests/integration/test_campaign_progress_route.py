"""GET /v1/campaigns/{campaign}/progress on moto (#17): a sheet's jobs through ingest, the
worker and their ends, counted as they go; the spend is the costs route's total."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers import ingest
from placard.domain.keys import PROGRESS_SHARDS
from placard_local.cloud import LocalContext, s3_put_event
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets
from tests.integration.test_api import SECRET, call, run_queued_jobs
from tests.integration.test_handlers import upload

SHEET = Path(__file__).parents[1] / "data" / "events-semicolon-bom.csv"  # three rows


@pytest.fixture
def cloud(stack: Stack) -> Iterator[Stack]:
    yield put_api_secrets(stack, SECRET)


def counter_items(stack: Stack) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.physical["LedgerTable"])
    items: list[dict[str, Any]] = table.scan()["Items"]
    return [i for i in items if i["sk"].startswith("PROGRESS#")]


def test_a_sheet_is_queued_then_ended_and_its_spend_is_the_costs_total(cloud: Stack) -> None:
    # Given a sheet of three rows ingested, none made yet
    upload(cloud, SHEET, campaign="summer")
    status, queued = call("GET", "/v1/campaigns/summer/progress")
    # Then all three wait, nothing is spent, and there is no rate to estimate from
    assert status == 200
    assert (queued["jobs"], queued["queued"], queued["running"]) == (3, 3, 0)
    assert queued["spent_usd"] == "0" and queued["seconds_left"] is None
    assert queued["estimate_reason"] == "no job has ended in the last 10 minutes"
    # When the worker makes them and they end
    run_queued_jobs(cloud)
    status, done = call("GET", "/v1/campaigns/summer/progress")
    # Then every job ended succeeded, none is left, and the spend is the costs route's total
    assert status == 200
    assert (done["queued"], done["running"], done["ended"]["succeeded"]) == (0, 0, 3)
    assert done["seconds_left"] == 0 and done["rate_per_minute"] is not None
    _, costs = call("GET", "/v1/campaigns/summer/costs")
    assert done["spent_usd"] == costs["total"]["cost_usd"]
    assert done["images_charged"] == costs["total"]["images_charged"] == 3
    # And the answer came from a few counter items (a minute's bucket and the counters'
    # shards), not the campaign's images
    assert len(counter_items(cloud)) <= 1 + PROGRESS_SHARDS


def test_an_upload_event_delivered_twice_is_queued_once(cloud: Stack) -> None:
    # Given a sheet's S3 event delivered twice (at least once, as S3 promises)
    key, bucket = "campaigns/summer/events.csv", cloud.physical["UploadsBucket"]
    boto3.client("s3").upload_file(str(SHEET), bucket, key)
    event = s3_put_event(bucket, key, SHEET.stat().st_size, cloud.region)
    for _ in range(2):
        ingest.handler(event, LocalContext("IngestFunction", 900))
    # When the progress is asked for, Then its three jobs are counted once
    _, found = call("GET", "/v1/campaigns/summer/progress")
    assert (found["jobs"], found["queued"]) == (3, 3)


def test_an_unknown_campaign_is_404_and_the_route_is_signed(cloud: Stack) -> None:
    status, body = call("GET", "/v1/campaigns/nobody/progress")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _ = call("GET", "/v1/campaigns/summer/progress", secret="wrong")
    assert status == 401

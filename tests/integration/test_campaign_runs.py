"""An upload from S3 event to reports: re-delivery, re-upload, budgets and completion, on
in-process moto with the handlers wired as template.yaml wires them."""

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

from handlers import ingest, report, worker
from placard import bootstrap
from placard.aws.budgets import DynamoBudgets
from placard_local.cloud import LocalContext, s3_put_event, sqs_event
from placard_local.stack import Stack
from tests.integration.derivatives import make_derivatives, read_back

DATA = Path(__file__).parents[1] / "data"


def put_sheet(stack: Stack, sheet: Path, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Upload a sheet; returns the ObjectCreated event S3 would send for this PUT."""
    key = f"campaigns/summer/{sheet.name}"
    bucket = stack.physical["UploadsBucket"]
    extra = {"Metadata": metadata} if metadata else None
    boto3.client("s3").upload_file(str(sheet), bucket, key, ExtraArgs=extra)
    return s3_put_event(bucket, key, sheet.stat().st_size, stack.region)


def ingest_event(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ingest.handler(event, LocalContext("IngestFunction", 900))
    return result


def take_all(stack: Stack, queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=stack.physical[queue],
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", []):
        messages += batch
    return messages


def work(stack: Stack, messages: list[dict[str, Any]]) -> None:
    """The worker on each message, then the proofs and derivatives: the jobs have ended."""
    for message in messages:
        event = sqs_event([message], stack.arn("JobsQueue"), stack.region)
        assert worker.handler(event, LocalContext("WorkerFunction", 600)) == {
            "batchItemFailures": []
        }
    read_back(stack)
    make_derivatives(stack)


def charged(stack: Stack) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.physical["LedgerTable"])
    items: list[dict[str, Any]] = table.scan()["Items"]
    return [i for i in items if i["sk"].startswith("IMAGE#") and i["status"] == "charged"]


def report_file(stack: Stack, name: str, upload: str = "mixed") -> bytes:
    s3 = boto3.client("s3")
    key = f"reports/summer/{upload}/{name}"
    body: bytes = s3.get_object(Bucket=stack.physical["AssetsBucket"], Key=key)["Body"].read()
    return body


def test_the_same_s3_event_delivered_twice_queues_the_jobs_once(stack: Stack) -> None:
    # Given one upload's event
    event = put_sheet(stack, DATA / "events-semicolon-bom.csv")
    # When S3 delivers it twice
    first = ingest_event(event)
    second = ingest_event(event)
    # Then the jobs were queued once, and the second delivery answered as the first
    assert len(take_all(stack, "JobsQueue")) == 3
    assert second == first


def test_a_reupload_spends_nothing_new_and_a_changed_row_makes_one_new_job(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a sheet whose three jobs have run
    sheet = tmp_path / "events.csv"
    sheet.write_bytes((DATA / "events-semicolon-bom.csv").read_bytes())
    ingest_event(put_sheet(stack, sheet))
    work(stack, take_all(stack, "JobsQueue"))
    before = {i["sk"] for i in charged(stack)}
    assert len(before) == 3
    # When the same sheet is uploaded again (a new PUT, a new event)
    ingest_event(put_sheet(stack, sheet))
    work(stack, take_all(stack, "JobsQueue"))
    # Then nothing new is charged
    assert {i["sk"] for i in charged(stack)} == before
    # When one row's copy changes and the sheet is uploaded once more
    sheet.write_text(
        sheet.read_text(encoding="utf-8-sig").replace("Eintritt frei", "Eintritt 5 €"),
        encoding="utf-8-sig",
    )
    ingest_event(put_sheet(stack, sheet))
    work(stack, take_all(stack, "JobsQueue"))
    # Then exactly one new image is charged
    after = {i["sk"] for i in charged(stack)}
    assert before < after and len(after) == 4


def test_the_last_job_to_end_asks_for_the_reports_and_they_account_for_every_row(
    stack: Stack,
) -> None:
    # Given a sheet of two good rows, four bad ones and an empty one, ingested
    ingest_event(put_sheet(stack, DATA / "mixed.csv"))
    jobs = take_all(stack, "JobsQueue")
    assert len(jobs) == 2
    # When the first job ends, Then no reports are asked for yet
    work(stack, jobs[:1])
    assert take_all(stack, "ReportsQueue") == []
    # When the last one ends, Then one report request is queued
    work(stack, jobs[1:])
    requests = take_all(stack, "ReportsQueue")
    assert len(requests) == 1
    # When the report function takes it
    event = sqs_event(requests, stack.arn("ReportsQueue"), stack.region)
    assert report.handler(event, LocalContext("ReportFunction", 900)) == {"batchItemFailures": []}
    # Then results.csv has every non-empty row of the sheet, each with its outcome
    rows = list(csv.DictReader(io.StringIO(report_file(stack, "results.csv").decode("utf-8-sig"))))
    assert [r["row"] for r in rows] == ["2", "3", "4", "5", "7", "8"]
    assert [r["status"] for r in rows].count("succeeded") == 2
    assert [r["status"] for r in rows].count("rejected") == 4
    # And its links are presigned URLs of the stored images
    links = [r["links"] for r in rows if r["status"] == "succeeded"]
    assert all("X-Amz-Signature=" in link for link in links)
    # And the contact sheet shows every row, with the thumbnails stored beside the originals
    page = report_file(stack, "index.html").decode("utf-8")
    assert page.count(".thumb.webp") == 3  # 1 + 2 images
    for row in rows:
        assert f'id="row-{row["row"]}"' in page


def test_a_sheet_with_no_good_rows_gets_its_reports_at_once(stack: Stack, tmp_path: Path) -> None:
    # Given a sheet whose only row names an unknown template
    sheet = tmp_path / "bad.csv"
    sheet.write_text("template,headline\nno-such-template,Hello\n", encoding="utf-8")
    # When it is ingested
    ingest_event(put_sheet(stack, sheet))
    # Then no job is queued and the reports are asked for straight away
    assert take_all(stack, "JobsQueue") == []
    (request,) = take_all(stack, "ReportsQueue")
    assert json.loads(request["Body"])["sheet"] == "campaigns/summer/bad.csv"


def test_a_budget_comes_from_the_upload_metadata_and_binds_later_uploads_too(
    stack: Stack,
) -> None:
    # Given a sheet with no budget: its jobs reserve nothing before their calls
    ingest_event(put_sheet(stack, DATA / "events-semicolon-bom.csv"))
    assert not any(
        json.loads(m["Body"])["origin"].get("budget") for m in take_all(stack, "JobsQueue")
    )
    # When a sheet is uploaded with a budget
    ingest_event(put_sheet(stack, DATA / "mixed.csv", {"budget-usd": "0.50"}))
    # Then the campaign's budget holds it, and its jobs reserve from it
    budgets = DynamoBudgets(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    assert budgets.limit("summer") == Decimal("0.50")
    assert all(json.loads(m["Body"])["origin"]["budget"] for m in take_all(stack, "JobsQueue"))
    # And so do the jobs of a later upload that names no budget
    ingest_event(put_sheet(stack, DATA / "events-semicolon-bom.csv"))
    assert all(json.loads(m["Body"])["origin"]["budget"] for m in take_all(stack, "JobsQueue"))


def test_a_bad_budget_stops_the_sheet_and_says_why(stack: Stack) -> None:
    # When a sheet comes with a budget that is not an amount
    result = ingest_event(put_sheet(stack, DATA / "mixed.csv", {"budget-usd": "lots"}))
    # Then nothing is queued, and errors.csv names the metadata and the value
    assert result["uploads"][0]["jobs"] == 0
    assert take_all(stack, "JobsQueue") == []
    errors = report_file(stack, "errors.csv").decode("utf-8-sig")
    assert "budget-usd" in errors and "lots" in errors


@pytest.mark.parametrize(
    ("limit", "takes", "granted"),
    [
        (Decimal("0.036"), [Decimal("0.012")] * 5, 3),
        (Decimal("0"), [Decimal("0.012")], 0),
        (None, [Decimal("0.012")] * 3, 3),  # no budget: always room
    ],
)
def test_a_budget_grants_what_fits_and_takes_back_what_is_given(
    stack: Stack, limit: Decimal | None, takes: list[Decimal], granted: int
) -> None:
    budgets = DynamoBudgets(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    # Given a campaign with (or without) a budget
    if limit is not None:
        budgets.set_limit("summer", limit, spent=Decimal(0))
    # When reservations are asked for, Then as many as fit are granted
    held = [budgets.take("summer", amount) for amount in takes]
    assert sum(h is not None for h in held) == granted
    # And a campaign without a budget holds nothing
    assert all(
        h == (0 if limit is None else amount)
        for h, amount in zip(held, takes, strict=True)
        if h is not None
    )
    # When one is given back, Then it can be taken again
    if granted and limit is not None:
        budgets.give_back("summer", takes[0])
        assert budgets.take("summer", takes[0]) == takes[0]


def test_a_new_limit_moves_what_remains_by_the_difference(stack: Stack) -> None:
    budgets = DynamoBudgets(boto3.client("dynamodb"), stack.physical["LedgerTable"])
    # Given a budget of 0.024 of which 0.012 was spent before it was set, and 0.012 taken
    budgets.set_limit("summer", Decimal("0.036"), spent=Decimal("0.012"))
    assert budgets.take("summer", Decimal("0.012")) == Decimal("0.012")
    # When the limit is lowered to 0.024, Then nothing is left
    budgets.set_limit("summer", Decimal("0.024"), spent=Decimal("0.024"))
    assert budgets.take("summer", Decimal("0.001")) is None
    # When it is raised to 0.030, Then 0.006 is left
    budgets.set_limit("summer", Decimal("0.030"), spent=Decimal("0.024"))
    assert budgets.take("summer", Decimal("0.006")) == Decimal("0.006")
    assert budgets.take("summer", Decimal("0.000001")) is None


def test_each_idempotent_handler_has_a_store_of_its_own(parts: bootstrap.Parts) -> None:
    # The local cloud runs every handler in one process; a shared store keeps the first
    # handler's key path and would key the other's records on nothing.
    stores = [parts.idempotency[handler] for handler in ("api", "ingest", "worker")]
    assert len({id(store) for store in stores}) == 3


def test_inserting_a_row_does_not_make_its_neighbours_new_jobs(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a sheet whose jobs have run
    sheet = tmp_path / "events.csv"
    original = (DATA / "events-semicolon-bom.csv").read_text(encoding="utf-8-sig")
    sheet.write_text(original, encoding="utf-8-sig")
    ingest_event(put_sheet(stack, sheet))
    work(stack, take_all(stack, "JobsQueue"))
    before = {i["sk"] for i in charged(stack)}
    # When a new row is inserted at the top and the sheet is uploaded again
    header, rest = original.split("\n", 1)
    new_row = "event-poster;Night Market;Sat 9 pm;Old Port;Free entry;low"
    sheet.write_text(f"{header}\n{new_row}\n{rest}", encoding="utf-8-sig")
    ingest_event(put_sheet(stack, sheet))
    work(stack, take_all(stack, "JobsQueue"))
    # Then only the new row is a new image; the moved rows are the jobs they were
    after = {i["sk"] for i in charged(stack)}
    assert before < after and len(after - before) == 1


class Unreadable:
    """The assets bucket, every read of which fails."""

    def __init__(self, assets: Any) -> None:
        self.assets = assets

    def read(self, key: str) -> bytes:
        raise OSError("S3 is having a day")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assets, name)


def test_derivatives_that_cannot_be_made_still_end_the_job_on_the_last_try(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given a sheet whose two jobs' images are made, and derivatives that always fail
    sheet = DATA / "mixed.csv"
    ingest_event(put_sheet(stack, sheet))
    for message in take_all(stack, "JobsQueue"):
        worker.handler(sqs_event([message], stack.arn("JobsQueue"), stack.region),
                       LocalContext("WorkerFunction", 600))  # fmt: skip
    read_back(stack)

    broken = dataclasses.replace(parts, assets=Unreadable(parts.assets))
    requests = take_all(stack, "DerivativesQueue")
    assert len(requests) == 2
    # When they fail before the last delivery, Then the jobs have not ended
    deliver_copies(stack, requests, broken, receive_count=1)
    assert take_all(stack, "ReportsQueue") == []
    # When they fail on the last delivery, Then the jobs end and the reports are asked for
    deliver_copies(stack, requests, broken, receive_count=5)
    assert len(take_all(stack, "ReportsQueue")) == 1


def deliver_copies(
    stack: Stack, requests: list[dict[str, Any]], parts: bootstrap.Parts, receive_count: int
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from handlers import derivatives

    for message in requests:
        message["Attributes"]["ApproximateReceiveCount"] = str(receive_count)
    event = sqs_event(requests, stack.arn("DerivativesQueue"), stack.region)
    with pytest.raises(BatchProcessingError):  # every record failed: all go back to the queue
        derivatives.process(event, LocalContext("DerivativesFunction", 120), parts)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("template,headline,Headline\nlaunch-poster,A,B\n", "duplicate"),
        ("template,headline\n", "no rows"),
        ("", "empty"),
    ],
    ids=["duplicate-headers", "header-only", "empty-file"],
)
def test_a_sheet_that_cannot_be_read_still_gets_its_reports(
    stack: Stack, tmp_path: Path, content: str, said: str
) -> None:
    # Given a sheet that cannot be read as a sheet at all
    sheet = tmp_path / "broken.csv"
    sheet.write_text(content, encoding="utf-8")
    ingest_event(put_sheet(stack, sheet))
    # When the report function answers ingest's request
    requests = take_all(stack, "ReportsQueue")
    event = sqs_event(requests, stack.arn("ReportsQueue"), stack.region)
    assert report.handler(event, LocalContext("ReportFunction", 900)) == {"batchItemFailures": []}
    # Then results.csv and index.html are written, and both say why nothing ran
    results = report_file(stack, "results.csv", "broken").decode("utf-8-sig")
    page = report_file(stack, "index.html", "broken").decode("utf-8")
    assert said in results.lower()
    assert said in page.lower()

"""A call whose answer a crash lost, once a person has settled it from the bill, is charged (its
own ledger item, IMAGE#LOST#<job>..., beside the campaign's images and outside its job's
prefix): what reads a job's items one job at a time counts it too, as the campaign's read
does (#16/#17)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from placard.api.service import JobService
from placard.domain.jobs import Job, Quality
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord
from placard.domain.pricing import default_prices
from placard.domain.runs import UploadRun
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import Reporter, parsed_rows
from placard.services.pipeline import unknown_call
from placard.services.settle import Settlement, call_id
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeJobQueue,
    FakeJobRecords,
    FakeJobStore,
    FakeLedger,
    FakeReportRequests,
    FakeUploads,
)

NOW = "2026-11-26T00:00:00.000+00:00"
PRICE = Decimal("0.011")
SHEET = (
    "template,product,headline,cta,quality,size\r\n"
    "social-square,Cold brew,Summer #1,Try it,low,1024x1024\r\n"
)


def charged(job: Job) -> LedgerItem:
    return LedgerItem(
        campaign=job.campaign, job_id=job.job_id, image_index=0, template=job.template,
        template_version=job.template_version, provider="prospolabs", model="gpt-image-2",
        quality=job.quality.value, size="1024x1024", unit_price=PRICE, cost_usd=PRICE,
        status=Status.CHARGED, created_at=NOW, updated_at=NOW, sha256="0" * 64,
        s3_key=image_key(job.campaign, job.job_id, 0, "png"), estimate_usd=PRICE,
    )  # fmt: skip


def made_after_a_lost_call(ledger: FakeLedger, job: Job) -> None:
    """The job's image, made by a redelivery after the first delivery's answer was lost, and
    the lost call settled from the bill, which billed it."""
    first = charged(job).but(status=Status.RESERVED, created_at="2026-11-25T23:59:00.000+00:00")
    ledger.save(unknown_call(first, NOW))
    ledger.save(charged(job))
    settle = Settlement(ledger, FakeBudgets(), FakeJobStore(), FakeReportRequests(), lambda: NOW)
    settle.settle(job.campaign, call_id(first), PRICE)


class UnreadableCampaign(FakeLedger):
    """A ledger whose campaign read fails on one bad item: the report reads job by job."""

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        raise TypeError("missing 1 required positional argument: 'size'")


def test_a_report_read_job_by_job_counts_the_jobs_lost_calls() -> None:
    # Given an upload of one row whose job paid for a lost call and then for its image, in a
    # ledger the report can only read job by job
    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    [(_, job)] = parsed_rows(io.BytesIO(SHEET.encode()), "sheet.csv", run, b"",
                             default_catalogue())  # fmt: skip
    assert isinstance(job, Job)
    ledger, uploads, assets = UnreadableCampaign(), FakeUploads(), FakeAssets()
    made_after_a_lost_call(ledger, job)
    uploads.put(run.sheet, SHEET.encode())
    # When its reports are written
    Reporter(default_catalogue(), uploads, assets, ledger).write(run)
    # Then its row costs both calls, and delivers the one image
    text = assets.read(run.reports_prefix + "results.csv").decode("utf-8-sig")
    [line] = list(csv.DictReader(io.StringIO(text)))
    assert line["status"] == "succeeded"
    assert Decimal(line["cost_usd"]) == 2 * PRICE
    assert line["images"] == f"s3://assets/{charged(job).s3_key}"


def test_the_apis_job_counts_its_lost_calls_in_its_cost() -> None:
    # Given an API job that paid for a lost call and then for its image
    job = Job("spring", "social-square", "v1", {"product": "Cold brew", "headline": "Hi",
              "cta": "Try it"}, Quality.LOW, None)  # fmt: skip
    ledger, records = FakeLedger(), FakeJobRecords()
    made_after_a_lost_call(ledger, job)
    records.put(JobRecord(job.job_id, job.campaign, job.template, 1, NOW, ended="succeeded"))
    api = JobService(
        catalogue=default_catalogue(), prices=default_prices(), provider="prospolabs",
        uploads=FakeUploads(), assets=FakeAssets(), queue=FakeJobQueue(), ledger=ledger,
        records=records, remaining_budget=lambda _: None, check_callback=lambda _: None,
        clock=lambda: NOW,
    )  # fmt: skip
    # When its status is asked for
    status = api.status(job.job_id)
    # Then its cost and its image's count both calls, and the one image is delivered
    assert status.cost_usd == 2 * PRICE
    [image] = status.images
    assert image.cost_usd == 2 * PRICE and image.attempt == 1

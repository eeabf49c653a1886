"""Ingest on the fakes of its ports: a sheet in the uploads bucket becomes queued jobs, an
errors.csv, a budget and the run's expected count, with no moto."""

from __future__ import annotations

from decimal import Decimal

import pytest

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.runs import UploadRun
from placard.reporting.csv_reports import read_errors
from placard.services.ingest import Ingest, IngestReport
from placard.sheets.reader import RowError
from tests.fakes import (
    IngestFakes,
)

SHEET = "campaigns/summer/sheet.csv"
ERRORS = "reports/summer/sheet/errors.csv"
RUN = UploadRun("summer", SHEET, "run-1")
HEADER = "template,store_name,message"


def csv(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in (HEADER, *lines)).encode()


class World(IngestFakes):
    """Ingest and the fakes behind it."""

    @property
    def runner(self) -> Ingest:
        return self.service()

    def ingest(
        self, data: bytes, metadata: dict[str, str] | None = None, run: str = RUN.run
    ) -> IngestReport:
        """The sheet lands in the uploads bucket, and its S3 event reaches ingest."""
        self.uploads.put(SHEET, data, metadata)
        return self.runner.run(SHEET, run)

    def errors(self) -> dict[int, list[RowError]]:
        return read_errors(self.assets.read(ERRORS))


def test_good_rows_are_queued_once_and_bad_rows_go_to_errors_csv() -> None:
    # Given two good rows, one of them twice, and a row missing its message
    world = World()
    sheet = csv("storefront-sign,Zoe,Now open", "storefront-sign,Zoe,Now open",
                "storefront-sign,Ann,", "storefront-sign,Bo,Sale")  # fmt: skip
    # When the sheet is ingested
    report = world.ingest(sheet)
    # Then each distinct job is queued once, carrying its sheet, run and row
    jobs = world.queue.jobs
    assert [j.variables["store_name"] for j in jobs] == ["Zoe", "Bo"]
    assert [j.origin["row"] for j in jobs] == [2, 5]
    assert all(j.origin["sheet"] == SHEET and j.origin["run"] == "run-1" for j in jobs)
    assert report.jobs == 2 and report.errors == 1 and report.errors_key == ERRORS
    # And errors.csv names the bad row and its column
    assert [(e.row, e.column) for e in world.errors()[4]] == [(4, "message")]


def test_an_edit_row_naming_a_file_not_uploaded_fails_alone() -> None:
    # Given two edit rows, one naming a photo that was uploaded and one that was not
    world = World()
    world.uploads.put("campaigns/summer/shop.png", b"a photo")
    sheet = (
        b"template,new_text,source_image,mask_box\r\n"
        b'sign-text-swap,Sale,shop.png,"0,0,10,10"\r\n'
        b'sign-text-swap,Sale,gone.png,"0,0,10,10"\r\n'
    )
    # When the sheet is ingested
    report = world.ingest(sheet)
    # Then only the row whose photo exists is queued; the other says to upload it first
    assert [j.source_image for j in world.queue.jobs] == ["campaigns/summer/shop.png"]
    (error,) = world.errors()[3]
    assert error.column == "source_image" and "campaigns/summer/gone.png" in error.reason
    assert "upload it first" in error.reason and report.errors == 1


def item(status: Status, cost: str, index: int) -> LedgerItem:
    return LedgerItem(
        campaign="summer", job_id="earlier", image_index=index, template="storefront-sign",
        template_version="v1", provider="prospolabs", model="m", quality="medium",
        size="1536x1024", unit_price=Decimal(cost), cost_usd=Decimal(cost), status=status,
        created_at="t", updated_at="t",
    )  # fmt: skip


def test_a_budget_in_the_uploads_metadata_counts_what_the_campaign_already_holds() -> None:
    # Given a campaign with one image charged, one reserved and one failed
    world = World()
    for index, (status, cost) in enumerate(
        [(Status.CHARGED, "0.028"), (Status.RESERVED, "0.028"), (Status.FAILED, "0")]
    ):
        world.ledger.save(item(status, cost, index))
    # When a sheet arrives with a budget of $1 (S3 hands the metadata name in any case)
    world.ingest(csv("storefront-sign,Zoe,Now open"), {"Budget-USD": "1.00"})
    # Then the campaign's budget is $1, of which the charged and the reserved are gone
    assert world.budgets.limit("summer") == Decimal("1.00")
    assert world.budgets.remaining("summer") == Decimal("0.944")
    # And its jobs are queued to be held against it
    assert [j.origin.get("budget") for j in world.queue.jobs] == [True]


def test_a_campaign_with_a_budget_holds_a_sheet_that_carries_none() -> None:
    # Given a campaign that was given a budget before
    world = World()
    world.budgets.set_limit("summer", Decimal(5), spent=Decimal(0))
    # When a sheet without a budget arrives, then its jobs are still held against it
    world.ingest(csv("storefront-sign,Zoe,Now open"))
    assert [j.origin.get("budget") for j in world.queue.jobs] == [True]
    assert world.budgets.limit("summer") == 5


def test_a_campaign_without_a_budget_queues_jobs_that_hold_none() -> None:
    world = World()
    world.ingest(csv("storefront-sign,Zoe,Now open"))
    assert [j.origin.get("budget") for j in world.queue.jobs] == [None]
    assert world.budgets.limit("summer") is None


@pytest.mark.parametrize("given", ["ten", "-1", "NaN", "Infinity"])
def test_a_budget_that_is_not_an_amount_refuses_the_sheet(given: str) -> None:
    # Given a sheet whose budget metadata is not an amount of USD
    world = World()
    # When it is ingested
    report = world.ingest(csv("storefront-sign,Zoe,Now open"), {"budget-usd": given})
    # Then nothing is queued, no budget is set, and errors.csv says why on its first line
    assert world.queue.bodies == [] and world.budgets.limit("summer") is None
    (error,) = world.errors()[0]
    assert error.reason == f"upload metadata budget-usd: {given!r} is not an amount of USD"
    assert report.errors == 1


def test_queued_jobs_are_expected_and_the_reports_wait_for_them() -> None:
    # Given a sheet of two jobs
    world = World()
    # When it is ingested
    world.ingest(csv("storefront-sign,Zoe,Open", "storefront-sign,Bo,Sale"))
    # Then the run expects two jobs, and its reports wait for the last of them
    assert world.progress.total == {RUN: 2} and world.reports.sent == []
    assert [world.progress.job_ended(RUN, job, "succeeded") for job in ("a", "b")] == [False, True]


def test_jobs_that_ended_before_ingest_finished_ask_for_the_reports_at_once() -> None:
    # Given a run whose two jobs ended before ingest had counted them (fast workers)
    world = World()
    world.progress.job_ended(RUN, "a", "succeeded")
    world.progress.job_ended(RUN, "b", "succeeded")
    # When ingest finishes queueing them, then it asks for the reports itself
    world.ingest(csv("storefront-sign,Zoe,Open", "storefront-sign,Bo,Sale"))
    assert world.reports.sent == [RUN]


def test_a_sheet_with_no_jobs_asks_for_its_reports_at_once() -> None:
    # Given a sheet of which no row can become a job
    world = World()
    report = world.ingest(csv("no-such-template,Zoe,Open"))
    # Then nothing is queued, the row's error is in errors.csv, and the reports are asked for
    assert world.queue.bodies == [] and report.jobs == 0 and report.errors == 1
    assert world.errors()[2][0].column == "template"
    assert world.progress.total == {RUN: 0} and world.reports.sent == [RUN]


def test_a_sheet_that_cannot_be_read_is_answered_in_errors_csv() -> None:
    # Given an upload that is not a sheet
    world = World()
    report = world.ingest(b"%PDF-1.7\n")
    # Then errors.csv's first line says so, and the (empty) run asks for its reports
    assert "sheet.csv" in world.errors()[0][0].reason and report.errors == 1
    assert world.queue.bodies == [] and world.reports.sent == [RUN]


def test_the_same_sheet_uploaded_again_queues_the_same_jobs_for_a_new_run() -> None:
    # Given a sheet ingested once
    world = World()
    world.ingest(csv("storefront-sign,Zoe,Open"))
    first = world.queue.jobs
    # When it is uploaded again (a new S3 sequencer)
    world.ingest(csv("storefront-sign,Zoe,Open"), run="run-2")
    # Then its job has the same id (so the worker converges on the same images), in run-2
    again = world.queue.jobs[1]
    assert again.job_id == first[0].job_id and again.origin["run"] == "run-2"
    assert world.progress.total == {RUN: 1, UploadRun("summer", SHEET, "run-2"): 1}


@pytest.mark.parametrize("key", ["sheet.csv", "campaigns/sheet.csv", "other/summer/sheet.csv"])
def test_an_upload_outside_campaigns_folder_is_refused(key: str) -> None:
    world = World()
    world.uploads.put(key, csv("storefront-sign,Zoe,Open"))
    with pytest.raises(InvalidInput, match="campaigns/<campaign>/<file>"):
        world.runner.run(key, "run-1")
    assert world.queue.bodies == []


def test_a_queued_job_is_the_job_the_row_describes() -> None:
    # Given a row with every job column
    world = World()
    world.ingest(
        b"template,store_name,message,quality,size,n,id\r\n"
        b"storefront-sign,Zoe,Open,high,1024x1536,3,row-a\r\n"
    )
    # Then the job on the queue carries them, as the worker will read it
    (job,) = world.queue.jobs
    assert isinstance(job, Job) and job.template == "storefront-sign"
    assert (job.quality, job.size, job.n, job.row_id) == (
        Quality.HIGH,
        Size(1024, 1536),
        3,
        "row-a",
    )


def test_the_uploads_rerolls_go_with_each_of_its_jobs() -> None:
    # Given a sheet uploaded with rerolls metadata
    world = World()
    # When it is ingested
    world.ingest(csv("storefront-sign,Zoe,Now open"), {"rerolls": "0"})
    # Then its job carries the policy to the proof function
    assert [j.origin.get("rerolls") for j in world.queue.jobs] == [0]


@pytest.mark.parametrize("given", ["6", "-1", "two", "1.5", ""])
def test_rerolls_that_are_not_0_to_5_refuse_the_sheet(given: str) -> None:
    world = World()
    report = world.ingest(csv("storefront-sign,Zoe,Now open"), {"rerolls": given})
    assert world.queue.bodies == [] and report.errors == 1
    (error,) = world.errors()[0]
    assert error.reason == "upload metadata rerolls: must be a whole number from 0 to 5"

"""People's decisions on delivered images: recorded once, re-rolls queued once, sheets applied."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Quality, Size
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Review
from placard.domain.rounds import Cause, Round
from placard.domain.runs import UploadRun
from placard.reporting.csv_reports import OUTCOME_HEADER
from placard.services.reviews import NothingDelivered, Outcome, Reviews
from tests.fakes import FakeJobQueue, FakeJobStore, FakeLedger, FakeReportRequests, FakeUploads

SHEET = "campaigns/summer/launch.csv"


def a_job(headline: str, n: int = 1) -> Job:
    return Job(
        campaign="summer", template="launch-poster", template_version="1",
        variables={"headline": headline}, quality=Quality.LOW, size=Size(1024, 1024), n=n,
        origin={"sheet": SHEET, "run": "seq-1"},
    )  # fmt: skip


@dataclass
class World:
    ledger: FakeLedger = field(default_factory=FakeLedger)
    kept_jobs: FakeJobStore = field(default_factory=FakeJobStore)
    queue: FakeJobQueue = field(default_factory=FakeJobQueue)
    reports: FakeReportRequests = field(default_factory=FakeReportRequests)

    @property
    def reviews(self) -> Reviews:
        return Reviews(self.ledger, self.kept_jobs, FakeUploads(), self.queue, self.reports)

    def made(self, job: Job, attempts: int = 1, status: Status = Status.CHARGED) -> Job:
        """The job as the worker leaves it: the job kept, and each image's attempts charged."""
        self.kept_jobs.keep(job)
        for index in range(job.n):
            for attempt in range(1, attempts + 1):
                self.ledger.save(attempt_item(job, index, attempt, status))
        return job

    def item(self, job: Job, index: int, attempt: int = 1) -> LedgerItem:
        (found,) = [
            i
            for i in self.ledger.job_items("summer", job.job_id)
            if (i.image_index, i.attempt) == (index, attempt)
        ]
        return found


def attempt_item(job: Job, index: int, attempt: int, status: Status) -> LedgerItem:
    return LedgerItem(
        campaign="summer", job_id=job.job_id, image_index=index, template=job.template,
        template_version="1", provider="draft", model="m", quality="low", size="1024x1024",
        unit_price=Decimal("0.01"), cost_usd=Decimal("0.01"), status=status, created_at="",
        updated_at="", attempt=attempt, s3_key=image_key("summer", job.job_id, index, "png",
        attempt=attempt),
    )  # fmt: skip


def uri(job: Job, index: int = 0, attempt: int = 1) -> str:
    return "s3://assets/" + image_key("summer", job.job_id, index, "png", attempt=attempt)


def results_csv(*rows: dict[str, str]) -> bytes:
    """A results.csv as placard writes it (BOM, CRLF, its header), with the given cells."""
    header = ["row", "headline", *OUTCOME_HEADER]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\r\n")
    writer.writeheader()
    for number, row in enumerate(rows, start=2):
        writer.writerow({"row": str(number), "status": "succeeded", **row})
    return out.getvalue().encode("utf-8-sig")


def test_an_approval_is_recorded_on_every_delivered_image_once() -> None:
    # Given a job of two images, each delivered
    world = World()
    job = world.made(a_job("Sunrise", n=2))
    # When a person approves the job, twice
    first = world.reviews.decide("summer", job.job_id, Review.APPROVED)
    again = world.reviews.decide("summer", job.job_id, Review.APPROVED)
    # Then both images hold the approval, and the second call changed nothing
    assert [(d.index, d.outcome) for d in first] == [(0, Outcome.RECORDED), (1, Outcome.RECORDED)]
    assert {d.outcome for d in again} == {Outcome.UNCHANGED}
    assert world.item(job, 0).review_state is Review.APPROVED
    assert world.queue.bodies == []


def test_a_re_roll_queues_one_more_attempt_of_that_image_only_once() -> None:
    # Given image 1 of a job was delivered on its second attempt
    world = World()
    job = world.made(a_job("Sunrise", n=2), attempts=2)
    # When a person asks image 1 to be made again, and the call is repeated
    (decided,) = world.reviews.decide("summer", job.job_id, Review.REROLL, image=1)
    world.reviews.decide("summer", job.job_id, Review.REROLL, image=1)
    # Then one round is queued: attempt 3 of image 1, a person's, made from the stored job
    assert decided.outcome is Outcome.REROLLED and decided.said == "reroll: attempt 3 queued"
    ((queued, round_),) = world.queue.rounds
    assert round_ == Round(3, (1,), Cause.REVIEW)
    assert queued.job_id == job.job_id and queued.origin["sheet"] == SHEET
    assert world.item(job, 1, 2).review_state is Review.REROLL
    assert world.item(job, 0, 2).review_state is Review.PENDING


def test_a_decision_about_an_attempt_no_longer_delivered_is_superseded() -> None:
    # Given the image is now delivered on attempt 2 (a re-roll replaced attempt 1)
    world = World()
    job = world.made(a_job("Sunrise"), attempts=2)
    # When a decision names attempt 1
    (decided,) = world.reviews.decide("summer", job.job_id, Review.REROLL, image=0, attempt=1)
    # Then nothing is recorded or queued
    assert decided.outcome is Outcome.SUPERSEDED and decided.said == "superseded by attempt 2"
    assert world.item(job, 0, 2).review == "" and world.queue.bodies == []


def test_a_rejection_needs_a_note_and_keeps_it() -> None:
    world = World()
    job = world.made(a_job("Sunrise"))
    with pytest.raises(InvalidInput, match=r"^note: ") as refused:
        world.reviews.decide("summer", job.job_id, Review.REJECTED, note="  ")
    assert refused.value.field == "note"
    world.reviews.decide("summer", job.job_id, Review.REJECTED, note="logo too small")
    assert world.item(job, 0).review_note == "logo too small"


def test_a_job_with_nothing_delivered_or_an_image_it_lacks_is_refused() -> None:
    world = World()
    failed = world.made(a_job("Nothing"), status=Status.FAILED)
    with pytest.raises(NothingDelivered, match="no delivered image"):
        world.reviews.decide("summer", failed.job_id, Review.APPROVED)
    with pytest.raises(NothingDelivered):
        world.reviews.decide("summer", "0" * 32, Review.APPROVED)
    job = world.made(a_job("Sunrise"))
    with pytest.raises(InvalidInput, match=r"^image: .* has no image 3; it has \[0\]"):
        world.reviews.decide("summer", job.job_id, Review.APPROVED, image=3)


def review_round_trip_sheet(world: World) -> tuple[bytes, list[Job]]:
    """Three jobs of one upload, one reroll, one approved, one rejected row."""
    jobs = [world.made(a_job(h)) for h in ("Sunrise", "Noon", "Dusk")]
    sheet = results_csv(
        {"headline": "Sunrise", "job_id": jobs[0].job_id, "images": uri(jobs[0]),
         "decision": "reroll"},
        {"headline": "Noon", "job_id": jobs[1].job_id, "images": uri(jobs[1]),
         "decision": " Approved "},
        {"headline": "Dusk", "job_id": jobs[2].job_id, "images": uri(jobs[2]),
         "decision": "rejected", "note": "the date is wrong"},
        {"headline": "Undecided", "decision": ""},
    )  # fmt: skip
    return sheet, jobs


def test_a_reviewed_sheet_applied_twice_re_rolls_once_and_rewrites_its_reports_once() -> None:
    # Given a results sheet with a reroll, an approved and a rejected row, and an empty one
    world = World()
    sheet, jobs = review_round_trip_sheet(world)
    # When it is applied, and then the same file again
    first = world.reviews.apply_sheet("summer", sheet)
    second = world.reviews.apply_sheet("summer", sheet)
    # Then the decisions are recorded, one attempt is queued, the upload's reports asked once
    assert first.rows == 3 and first.errors == ()
    assert (first.outcomes[Outcome.REROLLED], first.outcomes[Outcome.RECORDED]) == (1, 2)
    assert [r for _, r in world.queue.rounds] == [Round(2, (0,), Cause.REVIEW)]
    states = [world.item(j, 0).review_state for j in jobs]
    assert states == [Review.REROLL, Review.APPROVED, Review.REJECTED]
    assert world.item(jobs[2], 0).review_note == "the date is wrong"
    assert world.reports.sent == [UploadRun("summer", SHEET, "seq-1")]
    # And the second application changed nothing
    assert second.outcomes[Outcome.UNCHANGED] == 3 and second.errors == ()
    assert len(world.queue.bodies) == 1 and len(world.reports.sent) == 1
    assert first.lines()[0].endswith("images 2 recorded, 1 rerolled, 0 unchanged, 0 superseded")


def test_the_sheet_applied_after_the_re_roll_was_made_leaves_the_new_attempt_alone() -> None:
    # Given a sheet re-rolled an image and its attempt 2 has been made since
    world = World()
    sheet, jobs = review_round_trip_sheet(world)
    world.reviews.apply_sheet("summer", sheet)
    world.ledger.save(attempt_item(jobs[0], 0, 2, Status.CHARGED))
    # When the same sheet (naming attempt 1) is applied again
    outcome = world.reviews.apply_sheet("summer", sheet)
    # Then the new attempt stays pending and nothing more is queued
    assert outcome.outcomes[Outcome.SUPERSEDED] == 1
    assert world.item(jobs[0], 0, 2).review_state is Review.PENDING
    assert len(world.queue.bodies) == 1


def test_rows_that_cannot_be_applied_are_named_by_row_and_column() -> None:
    # Given a sheet with a bad decision, a rejection without a note, another campaign's image
    world = World()
    job = world.made(a_job("Sunrise"))
    other = uri(job).replace("/summer/", "/winter/")
    sheet = results_csv(
        {"job_id": job.job_id, "images": uri(job), "decision": "maybe"},
        {"job_id": job.job_id, "images": uri(job), "decision": "rejected"},
        {"job_id": job.job_id, "images": other, "decision": "approved"},
        {"job_id": "", "images": "", "decision": "approved"},
        {"job_id": job.job_id, "images": uri(job), "decision": "approved"},
    )
    # When it is applied
    outcome = world.reviews.apply_sheet("summer", sheet)
    # Then each bad row is an error naming its row and column; the good row is applied
    said = [(e.row, e.column) for e in outcome.errors]
    assert said == [(2, "decision"), (3, "note"), (4, "images"), (5, "images")]
    assert "must be one of pending, approved, rejected, reroll" in outcome.errors[0].reason
    assert "campaign winter, not summer" in outcome.errors[2].reason
    assert outcome.outcomes[Outcome.RECORDED] == 1
    assert "row 2, decision: must be one of" in outcome.lines()[1]


def test_a_sheet_without_a_decision_column_is_refused_as_a_whole() -> None:
    outcome = World().reviews.apply_sheet("summer", b"headline,status\r\nSunrise,succeeded\r\n")
    ((error),) = outcome.errors
    assert error.row == 0 and "no decision column" in error.reason


def test_a_sheet_re_saved_as_xlsx_is_read_by_column_name() -> None:
    # Given Excel re-saved the results as a workbook, its columns in another order
    from openpyxl import Workbook

    world = World()
    job = world.made(a_job("Sunrise"))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Decision", "Note", "images", "job_id"])
    sheet.append(["approved", "", uri(job), job.job_id])
    data = io.BytesIO()
    book.save(data)
    # When it is applied (under any name)
    outcome = world.reviews.apply_sheet("summer", data.getvalue(), "results (2).xlsx")
    # Then the decision is recorded
    assert outcome.outcomes[Outcome.RECORDED] == 1
    assert world.item(job, 0).review_state is Review.APPROVED


def test_a_job_from_the_api_has_no_upload_whose_reports_to_rewrite() -> None:
    world = World()
    job = world.made(replace(a_job("Sunrise"), origin={"api": True}))
    sheet = results_csv({"job_id": job.job_id, "images": uri(job), "decision": "approved"})
    outcome = world.reviews.apply_sheet("summer", sheet)
    assert outcome.outcomes[Outcome.RECORDED] == 1
    assert outcome.reports == 0 and world.reports.sent == []


def test_fifty_reviewers_asking_the_same_re_roll_at_once_queue_one_attempt() -> None:
    # Given a delivered image, and fifty callers (a sheet, the API, retries) at once
    world = World()
    job = world.made(a_job("Sunrise"))
    start = threading.Barrier(50)

    def ask() -> None:
        start.wait()
        world.reviews.decide("summer", job.job_id, Review.REROLL)

    callers = [threading.Thread(target=ask) for _ in range(50)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    # Then the decision took once, and one attempt was queued
    assert [round_ for _, round_ in world.queue.rounds] == [Round(2, (0,), Cause.REVIEW)]

"""Statuses as enums across each crossing: ledger items -> a row's status, a job's outcome ->
the API's state; over budget is read from data, and old items that only say it still count."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from placard.api.service import JobService
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord
from placard.domain.pricing import default_prices
from placard.domain.statuses import OVER_BUDGET_REASON, JobState, RowStatus, ended_state
from placard.domain.templates import default_catalogue
from placard.reporting.contact_sheet import Entry, contact_sheet
from placard.reporting.csv_reports import OUTCOME_HEADER, RowOutcome, row_outcome
from placard.services.endings import JobEndings
from placard.services.pipeline import Pipeline
from placard.sheets.reader import RowError
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeCallbackRequests,
    FakeJobQueue,
    FakeJobRecords,
    FakeJobStore,
    FakeLedger,
    FakeProgress,
    FakeProvider,
    FakeReportRequests,
    FakeUploads,
)

NOW = "2026-01-01T00:00:00.000+00:00"
JOB = Job(
    "summer", "storefront-sign", "v1", {"store_name": "Zoe", "message": "Now open"},
    Quality.MEDIUM, Size(1536, 1024), n=2, origin={"api": True, "budget": True},
)  # fmt: skip


def item(index: int, status: Status, reason: str = "", **changes: object) -> LedgerItem:
    price = Decimal(0) if status is Status.FAILED else Decimal("0.028")
    base = LedgerItem(
        "summer", JOB.job_id, index, "storefront-sign", "v1", "prospolabs", "m", "medium",
        "1536x1024", price, price, status, NOW, NOW, s3_key=f"k/{index}.png", sha256=f"{index}",
        reason=reason,
    )  # fmt: skip
    return base.but(**changes)


def status_of(*items: LedgerItem) -> RowStatus:
    return row_outcome(JOB, {JOB.job_id: items}, uri=str, link=str).status


# --------------------------------------------------------------- ledger items -> row status


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((item(0, Status.CHARGED), item(1, Status.CHARGED)), RowStatus.SUCCEEDED),
        (
            (
                item(0, Status.FAILED, "any words", over_budget=True),
                item(1, Status.FAILED, "any words", over_budget=True),
            ),
            RowStatus.OVER_BUDGET,
        ),
        (
            (item(0, Status.CHARGED), item(1, Status.FAILED, "budget", over_budget=True)),
            RowStatus.OVER_BUDGET,
        ),
        (
            (
                item(0, Status.FAILED, "refused", over_budget=True),
                item(1, Status.FAILED, "content policy: refused"),
            ),
            RowStatus.FAILED,
        ),
        ((item(0, Status.FAILED, "over budget"), item(1, Status.RESERVED)), RowStatus.FAILED),
        (
            (
                item(0, Status.RESERVED, "outcome unknown, held", lost=True),
                item(0, Status.FAILED, "budget", over_budget=True),
                item(1, Status.FAILED, "budget", over_budget=True),
            ),
            RowStatus.OVER_BUDGET,  # a call held beside them is no outcome of the job
        ),
        ((item(0, Status.CHARGED),), RowStatus.FAILED),  # one of two images: not all made
        ((), RowStatus.FAILED),
    ],
    ids=[
        "charged",
        "refused",
        "rest-refused",
        "also-failed",
        "unfinished",
        "held-beside",
        "short",
        "none",
    ],
)
def test_a_rows_status_comes_from_its_items_statuses_and_flags(
    items: tuple[LedgerItem, ...], expected: RowStatus
) -> None:
    # Given a job's ledger items, When its row's outcome is read, Then its status is the enum
    assert status_of(*items) is expected


def test_a_failed_row_whose_only_word_is_a_held_call_says_so() -> None:
    # Given a job whose only items are calls held, their outcome unknown
    held = item(0, Status.RESERVED, "outcome unknown, held until the bill says", lost=True)
    # When its row's outcome is read
    outcome = row_outcome(JOB, {JOB.job_id: (held,)}, uri=str, link=str)
    # Then it failed, saying why, and not that a call is still running
    assert outcome.status is RowStatus.FAILED
    assert outcome.reason == "outcome unknown, held until the bill says"


def test_a_row_that_never_became_a_job_is_rejected_with_its_errors() -> None:
    # Given a row ingest rejected, When its outcome is read
    outcome = row_outcome([RowError(4, "n", "0", "must be from 1 to 10")], {}, str, str)
    # Then it is rejected, costs nothing and says why in its cells
    assert outcome == RowOutcome(RowStatus.REJECTED, reason="n: must be from 1 to 10")
    assert outcome.cells() == (
        ("rejected", "", "", "", "", "0", "", "", "", "", "", "", "", "", "n: must be from 1 to 10")
    )


def test_an_over_budget_item_is_recognised_without_its_sentence() -> None:
    # Given items the budget refused, whose reason is reworded, stored and read back
    ledger = FakeLedger()
    for index in range(2):
        ledger.save(item(index, Status.FAILED, "no room left this month", over_budget=True))
    stored = ledger.job_items("summer", JOB.job_id)
    # Then the flag survived the round trip, and the row is over budget
    assert [i.over_budget for i in stored] == [True, True]
    assert status_of(*stored) is RowStatus.OVER_BUDGET


def test_an_item_stored_before_the_flag_is_over_budget_by_its_sentence() -> None:
    # Given a failed item as written before over_budget was stored: only the sentence says it
    old = item(0, Status.FAILED, OVER_BUDGET_REASON).to_item()
    assert "over_budget" not in old
    # When it is read, Then it is over budget; another failure's item is not
    assert LedgerItem.from_item(old).over_budget
    assert not LedgerItem.from_item(item(0, Status.FAILED, "timed out").to_item()).over_budget


def test_an_item_not_refused_stores_no_flag() -> None:
    # Given a charged item, When it is stored, Then its DynamoDB item has no over_budget field
    assert "over_budget" not in item(0, Status.CHARGED).to_item()


# --------------------------------------------------------------- job outcome -> API state


def service(records: FakeJobRecords, ledger: FakeLedger) -> JobService:
    return JobService(
        catalogue=default_catalogue(), prices=default_prices(), provider="prospolabs",
        uploads=FakeUploads(), assets=FakeAssets(), queue=FakeJobQueue(), ledger=ledger,
        records=records, remaining_budget=lambda _: None, check_callback=lambda _: None,
        clock=lambda: NOW,
    )  # fmt: skip


def test_a_job_the_budget_refused_reads_over_budget_in_the_api() -> None:
    # Given an API job on a campaign with $0.05 left, two images at $0.028
    ledger, budgets, records = FakeLedger(), FakeBudgets(), FakeJobRecords()
    budgets.set_limit("summer", Decimal("0.05"), spent=Decimal(0))
    records.put(JobRecord(JOB.job_id, "summer", JOB.template, JOB.n, NOW))
    pipeline = Pipeline(
        default_catalogue(), default_prices(), FakeProvider(), FakeAssets(), ledger,
        FakeUploads(), budgets, FakeJobStore(), clock=lambda: NOW,
    )  # fmt: skip
    # When it runs, and its outcome travels as the worker's message does (JSON) to its end
    outcome = pipeline.run(JOB)
    sent = json.loads(json.dumps(outcome.to_dict()))
    endings = JobEndings(records, FakeCallbackRequests(), FakeProgress(), FakeReportRequests())
    endings.ended(JOB, sent["status"], sent["reason"])
    # Then the outcome is over budget as data, and so is the state the API gives
    assert outcome.status is JobState.OVER_BUDGET and sent["status"] == "over_budget"
    status = service(records, ledger).status(JOB.job_id)
    assert status.status is JobState.OVER_BUDGET
    assert json.loads(status.model_dump_json())["status"] == "over_budget"


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("succeeded", "", JobState.SUCCEEDED),
        ("failed", "content policy: refused", JobState.FAILED),
        ("over_budget", OVER_BUDGET_REASON, JobState.OVER_BUDGET),
        ("failed", OVER_BUDGET_REASON, JobState.OVER_BUDGET),  # an outcome stored before
    ],
)
def test_an_outcomes_status_becomes_the_apis_final_state(
    status: str, reason: str, expected: JobState
) -> None:
    # Given an outcome's status and reason as the queue carries them
    # When the job ends, Then the API's state is the enum
    assert ended_state(status, reason) is expected


@pytest.mark.parametrize(
    ("ended", "reserved", "expected"),
    [("", False, JobState.QUEUED), ("", True, JobState.RUNNING), ("failed", True, JobState.FAILED)],
)
def test_a_jobs_state_before_and_after_it_ends(
    ended: str, reserved: bool, expected: JobState
) -> None:
    # Given an API job, with or without a reserved image, ended or not
    ledger, records = FakeLedger(), FakeJobRecords()
    records.put(JobRecord(JOB.job_id, "summer", JOB.template, JOB.n, NOW, ended=ended))
    if reserved:
        ledger.reserve([item(0, Status.RESERVED)])
    # When its status is asked for, Then it is the enum
    assert service(records, ledger).status(JOB.job_id).status is expected


# --------------------------------------------------------------- the words stay the same


@pytest.mark.parametrize(
    ("enum", "words"),
    [
        (JobState, ["queued", "running", "succeeded", "failed", "over_budget", "needs_review"]),
        (RowStatus, ["succeeded", "failed", "rejected", "over_budget", "needs_review"]),
        (Status, ["reserved", "charged", "refunded", "failed"]),
    ],
)
def test_each_status_is_the_word_json_csv_and_dynamodb_already_hold(
    enum: type[JobState | RowStatus | Status], words: list[str]
) -> None:
    # Given each enum, Then its members are those words, printed and dumped as themselves
    assert [str(member) for member in enum] == words
    assert json.dumps(list(enum)) == json.dumps(words)


def test_results_csv_cells_print_the_status_word() -> None:
    # Given a row's outcome, When its cells are written as results.csv writes them
    buffer = io.StringIO()
    csv.writer(buffer).writerow(RowOutcome(RowStatus.OVER_BUDGET, "j1").cells())
    # Then the status cell is the bare word, under the header's fifteen columns
    assert buffer.getvalue() == "over_budget,j1,,,,0,,,,,,,,,\r\n"
    assert len(RowOutcome(RowStatus.SUCCEEDED).cells()) == len(OUTCOME_HEADER)


def test_the_contact_sheet_is_the_same_bytes_with_enums_as_with_words() -> None:
    # Given one card per status, as enums and as the plain words they stand for
    def entries(statuses: list[str]) -> list[Entry]:
        return [
            Entry(row, status, "t", {"a": "b"}, Decimal(0), "why", [])  # type: ignore[arg-type]
            for row, status in enumerate(statuses, start=2)
        ]

    # When both are rendered, Then the pages are identical
    words = [str(status.value) for status in RowStatus]
    assert contact_sheet("c", "u", entries(list(RowStatus))) == contact_sheet(
        "c", "u", entries(words)
    )

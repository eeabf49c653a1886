"""A campaign's progress from its counters (#17): the domain's arithmetic, the counters the
services keep on the fakes, and the API service's answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from placard.api.service import ApiError, JobService
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.pricing import default_prices
from placard.domain.progress import CampaignCounts, minute_of, progress
from placard.domain.runs import UploadRun
from placard.domain.spend import Spend
from placard.domain.templates import default_catalogue
from placard.services.endings import JobEndings
from placard.services.pipeline import Pipeline
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

NOW = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC)
RUN = UploadRun("spring", "campaigns/spring/shelves.csv", "0001")


def minutes_ago(n: int) -> str:
    return minute_of(NOW - timedelta(minutes=n))


def sheet_job(row: int) -> Job:
    return Job(
        campaign="spring", template="storefront-sign", template_version="v1",
        variables={"store_name": f"Zoe {row}", "message": "Now open"},
        quality=Quality.LOW, size=Size(1024, 1024),
        origin={"sheet": RUN.sheet, "run": RUN.run, "row": row},
    )  # fmt: skip


def charged(cost: str, estimate: str = "0", status: Status = Status.CHARGED) -> LedgerItem:
    return LedgerItem(
        campaign="spring", job_id="j", image_index=0, template="t", template_version="1",
        provider="openai", model="m", quality="low", size="1024x1024",
        unit_price=Decimal(cost), cost_usd=Decimal(cost), estimate_usd=Decimal(estimate),
        status=status, created_at="2026-12-02T12:00:00", updated_at="2026-12-02T12:00:00",
    )  # fmt: skip


def test_queued_running_and_ended_add_up_to_what_was_queued() -> None:
    # Given 100 jobs queued, 30 taken by the worker, 20 of them ended
    counts = CampaignCounts(queued=100, started=30, ended={"succeeded": 18, "failed": 2})
    # When the progress is read
    found = progress(counts, NOW)
    # Then 10 run, 70 wait, and every ended status is there, 0 included
    assert (found.queued, found.running, found.ended_total, found.total) == (70, 10, 20, 100)
    assert found.ended == {"succeeded": 18, "failed": 2, "over_budget": 0, "needs_review": 0}


def test_counters_that_lag_one_another_never_give_a_negative_figure() -> None:
    # Given jobs that ended before their upload's total was added, and before being started
    counts = CampaignCounts(queued=0, started=1, ended={"succeeded": 3})
    # Then nothing is queued or running below zero
    found = progress(counts, NOW)
    assert (found.queued, found.running) == (0, 0)


def test_the_rate_of_a_young_campaign_is_measured_over_its_own_minutes() -> None:
    # Given 60 jobs ended over the last two minutes (this one half gone), 150 left
    counts = CampaignCounts(queued=210, started=60, ended={"succeeded": 60},
                            recent={minutes_ago(1): 40, minutes_ago(0): 20})  # fmt: skip
    # When the time left is estimated
    found = progress(counts, NOW)
    # Then the rate is 60 over 1.5 minutes, and 150 jobs take 3.75 minutes at it
    assert found.rate_per_minute == Decimal("40.0")
    assert found.seconds_left == 225
    assert found.why_no_estimate == ""


def test_ends_older_than_the_window_are_not_the_rate() -> None:
    # Given ends only 20 minutes ago
    counts = CampaignCounts(queued=10, ended={"succeeded": 5}, recent={minutes_ago(20): 5})
    # Then there is no estimate, and the reason says why
    found = progress(counts, NOW)
    assert (found.rate_per_minute, found.seconds_left) == (None, None)
    assert found.why_no_estimate == "no job has ended in the last 10 minutes"


def test_a_finished_campaign_has_no_time_left() -> None:
    found = progress(CampaignCounts(queued=2, started=2, ended={"succeeded": 2}), NOW)
    assert (found.seconds_left, found.why_no_estimate) == (0, "")


def test_spend_kept_as_counters_is_the_sum_the_costs_route_makes() -> None:
    # Given charged items (one with an estimate) and one refunded
    items = [charged("0.011", "0.01"), charged("0.02"), charged("0.5", status=Status.REFUNDED)]
    # When each is added to a counter as it is charged, and the counters are read back
    counters: dict[str, Decimal] = {}
    for item in items:
        for name, value in Spend.of([item]).counters().items():
            counters[name] = counters.get(name, Decimal(0)) + value
    # Then they are the Spend of every item, as GET /costs sums them
    assert Spend.from_counters(counters) == replace(Spend.of(items), bases=frozenset())


def test_a_job_ended_twice_counts_once_under_its_status() -> None:
    # Given the endings of a sheet's job, delivered twice
    progress_, job = FakeProgress(), sheet_job(2)
    endings = JobEndings(FakeJobRecords(), FakeCallbackRequests(), progress_, FakeReportRequests())
    progress_.expect(RUN, 2)
    # When it ends needs_review, twice
    endings.ended(job, "needs_review", "")
    endings.ended(job, "needs_review", "")
    # Then the campaign has one job needing review, and one still queued
    counts = progress_.counts("spring", progress_.now)
    assert counts is not None
    found = progress(counts, progress_.now)
    assert found.ended["needs_review"] == 1
    assert (found.queued, found.running) == (1, 0)


def test_a_job_is_started_by_its_first_delivery_only() -> None:
    # Given the worker and a sheet's job
    progress_ = FakeProgress()
    pipeline = Pipeline(default_catalogue(), default_prices(), FakeProvider(), FakeAssets(),
                        FakeLedger(), FakeUploads(), FakeBudgets(), FakeJobStore(),
                        started=progress_.job_started)  # fmt: skip
    job = sheet_job(3)
    # When it is delivered twice
    pipeline.run(job)
    pipeline.run(job)
    # Then it was started once
    counts = progress_.counts("spring", NOW)
    assert counts is not None and counts.started == 1


def service() -> JobService:
    return JobService(
        catalogue=default_catalogue(), prices=default_prices(), provider="draft",
        uploads=FakeUploads(), assets=FakeAssets(), queue=FakeJobQueue(), ledger=FakeLedger(),
        records=FakeJobRecords(), remaining_budget=lambda campaign: None,
        check_callback=lambda url: None, clock=lambda: NOW.isoformat(),
    )  # fmt: skip


def test_the_api_answers_a_campaigns_progress_from_its_counters() -> None:
    # Given a campaign of three sheet jobs: one ended, one running, one queued, 0.25 USD spent
    counters = FakeProgress()
    counters.now = NOW
    counters.expect(RUN, 3)
    counters.job_started(sheet_job(2))
    counters.job_started(sheet_job(3))
    counters.job_ended(RUN, sheet_job(2).job_id, "succeeded")
    counters.charged(charged("0.25"))
    # When its progress is asked for
    answer = service().progress("spring", counters)
    # Then it says each, what was spent, and the time left at one job a minute
    assert (answer.jobs, answer.queued, answer.running) == (3, 1, 1)
    assert answer.ended["succeeded"] == 1
    assert (answer.spent_usd, answer.images_charged) == (Decimal("0.25"), 1)
    assert answer.rate_per_minute == Decimal("1.0") and answer.seconds_left == 120


def test_a_campaign_without_counters_is_404() -> None:
    with pytest.raises(ApiError) as refused:
        service().progress("nobody", FakeProgress())
    assert refused.value.status == 404 and "nobody" in refused.value.message


def test_placard_runs_bar_says_what_the_route_says() -> None:
    from placard_local.cli import progress_line

    # Given a campaign with jobs queued, running, ended two ways, money spent and a rate
    counts = CampaignCounts(queued=10, started=6, ended={"succeeded": 3, "needs_review": 1},
                            spend=Spend(cost_usd=Decimal("1.2")),
                            recent={minutes_ago(0): 4})  # fmt: skip
    # When the bar's line is made
    line = progress_line(progress(counts, NOW))
    # Then it names each count, the spend and the time left (6 jobs at 4 a minute)
    assert line == "queued 4, running 2, 3 succeeded, 1 needs review, $1.20, 1m30s left"

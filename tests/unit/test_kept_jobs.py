"""The pipeline keeps each job by its first delivery (issue #15: an item of the ledger table,
no longer jobs/<campaign>/<job>.json), and a job too large to keep fails before any money is at
stake, saying why."""

from __future__ import annotations

from decimal import Decimal

from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.ports import KEPT_JOB_BYTES
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.services.pipeline import Pipeline
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeJobStore,
    FakeLedger,
    FakeProvider,
    FakeUploads,
)

NOW = "2026-01-01T00:00:00.000+00:00"


def world() -> tuple[Pipeline, FakeProvider, FakeJobStore, FakeAssets, FakeBudgets]:
    provider, kept, assets, budgets = FakeProvider(), FakeJobStore(), FakeAssets(), FakeBudgets()
    pipeline = Pipeline(
        catalogue=default_catalogue(), prices=default_prices(), provider=provider,
        assets=assets, ledger=FakeLedger(), uploads=FakeUploads(), budgets=budgets,
        kept_jobs=kept, clock=lambda: NOW,
    )  # fmt: skip
    return pipeline, provider, kept, assets, budgets


def sign(**more: str) -> Job:
    return Job(
        campaign="spring", template="storefront-sign", template_version="v1",
        variables={"store_name": "Zoe", "message": "Now open", **more}, quality=Quality.MEDIUM,
        size=Size(1536, 1024), origin={"budget": True},
    )  # fmt: skip


def test_a_job_is_kept_by_its_first_delivery_and_no_longer_in_the_bucket() -> None:
    # Given a job
    pipeline, provider, kept, assets, _ = world()
    job = sign()
    # When it is delivered twice
    first, again = pipeline.run(job), pipeline.run(job)
    # Then it is kept as run, made once, and the assets bucket holds only its image
    assert first.status == again.status == "succeeded" and provider.calls == 1
    found = kept.get("spring", job.job_id)
    assert found is not None and found.to_dict() == job.to_dict()
    assert [key.split("/")[0] for key in assets.objects] == ["campaigns"]


def test_a_job_too_large_to_keep_fails_before_any_money_is_at_stake() -> None:
    # Given a campaign with a budget, and a job with a variable longer than can be kept (a
    # template's variable without a max_length is bounded only by a sheet's 1 MiB row)
    pipeline, provider, kept, _, budgets = world()
    budgets.set_limit("spring", Decimal(1), Decimal(0))
    job = sign(notes="x" * KEPT_JOB_BYTES)
    # When it runs
    outcome = pipeline.run(job)
    # Then it fails naming its variables, uncalled, unkept, and nothing taken from the budget
    assert outcome.status == "failed" and outcome.reason.startswith("variables: too long")
    assert [i.status for i in outcome.items] == [Status.FAILED]
    assert provider.calls == 0 and kept.get("spring", job.job_id) is None
    assert budgets.remaining("spring") == Decimal(1)

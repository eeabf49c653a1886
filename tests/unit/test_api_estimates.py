"""The API's estimate and 202 (#15): the quote, whether it is exact or approximate, and what the
worker will reserve; the 402 budget check against that reservation, not the quote."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest
from PIL import Image

from placard.api.models import JobRequest
from placard.api.service import ApiError, JobService
from placard.domain.jobs import Quality, Size
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.services.pipeline import Pipeline
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeJobQueue,
    FakeJobRecords,
    FakeJobStore,
    FakeLedger,
    FakeProvider,
    FakeUploads,
)

NOW = "2026-01-01T00:00:00.000+00:00"
OPENAI = default_prices()["openai"]
AD = {"product": "Cold brew", "headline": "Summer in a Can", "cta": "Try it"}


def service(
    provider: str, uploads: FakeUploads | None = None, left: str | None = None
) -> JobService:
    return JobService(
        catalogue=default_catalogue(), prices=default_prices(), provider=provider,
        uploads=uploads or FakeUploads(), assets=FakeAssets(), queue=FakeJobQueue(),
        ledger=FakeLedger(), records=FakeJobRecords(),
        remaining_budget=lambda _: None if left is None else Decimal(left),
        check_callback=lambda _: None, clock=lambda: NOW,
    )  # fmt: skip


def ad(size: str = "1024x1024", n: int = 2) -> JobRequest:
    return JobRequest(campaign="spring", template="social-square", variables=AD,
                      quality=Quality.LOW, size=size, n=n)  # fmt: skip


def prompt() -> str:
    template = default_catalogue()["social-square"]
    return template.render(template.values(AD))


@dataclass
class WatchedBudgets(FakeBudgets):
    """FakeBudgets that remembers what each reservation took."""

    taken: list[Decimal] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def take(self, campaign: str, amount: Decimal) -> Decimal | None:
        self.taken.append(amount)
        return super().take(campaign, amount)


def test_an_openai_estimate_is_its_quote_and_reserves_what_the_worker_will_hold() -> None:
    # Given the API on OpenAI's token prices
    api = service("openai")
    # When two low squares are estimated
    estimate = api.estimate(ad())
    # Then the estimate is the quote (output table + prompt text), not exact, not approximate
    quote = OPENAI.quote(Quality.LOW, Size(1024, 1024), 2, prompt())
    assert estimate.estimated_cost_usd == quote.usd
    assert (estimate.exact, estimate.approximate) == (False, False)
    # And it says the worker reserves the answer's bound, above the quote
    bound = OPENAI.answer_bound(Quality.LOW, Size(1024, 1024), 2, prompt(), 0)
    assert estimate.reserved_usd == bound and bound > quote.usd
    # And that is what the worker takes from a budget, and the ledger keeps the same estimate
    budgets, ledger = WatchedBudgets(), FakeLedger()
    budgets.set_limit("spring", Decimal(1), Decimal(0))
    job, _ = api.plan(ad())
    job = replace(job, origin={"budget": True})
    Pipeline(default_catalogue(), default_prices(), FakeProvider(name="openai"), FakeAssets(),
             ledger, FakeUploads(), budgets, FakeJobStore(),
             clock=lambda: NOW).run(job)  # fmt: skip
    assert budgets.taken == [estimate.reserved_usd]
    items = ledger.job_items("spring", job.job_id)
    assert sum(i.estimate_usd for i in items) == estimate.estimated_cost_usd


def test_a_size_off_the_token_table_is_marked_approximate() -> None:
    estimate = service("openai").estimate(ad("1280x720", n=1))
    assert (estimate.exact, estimate.approximate) == (False, True)
    assert (
        estimate.estimated_cost_usd == OPENAI.quote(Quality.LOW, Size(1280, 720), 1, prompt()).usd
    )


def test_a_flat_estimate_is_exact_and_reserves_itself() -> None:
    estimate = service("prospolabs").estimate(ad())
    assert estimate.estimated_cost_usd == estimate.reserved_usd == Decimal("0.0144")
    assert (estimate.exact, estimate.approximate) == (True, False)


def test_an_edit_estimate_counts_the_source_photo_as_sent() -> None:
    # Given a 1024x1536 photo in the uploads bucket
    uploads, photo = FakeUploads(), io.BytesIO()
    Image.new("RGB", (1024, 1536), "navy").save(photo, "PNG")
    uploads.put("campaigns/spring/shelf.png", photo.getvalue())
    request = JobRequest(campaign="spring", template="sign-text-swap",
                         variables={"new_text": "Sale"}, source_image="shelf.png",
                         mask_box="64,64,320,160")  # fmt: skip
    # When its edit is estimated
    estimate = service("openai", uploads).estimate(request)
    # Then the quote counts the photo sent at the edit's size (1536 patches), the bound 1536
    template = default_catalogue()["sign-text-swap"]
    text = template.render(template.values({"new_text": "Sale"}))
    size = Size(1024, 1536)
    assert estimate.size == str(size)
    assert estimate.estimated_cost_usd == OPENAI.quote(Quality.MEDIUM, size, 1, text, [size]).usd
    assert estimate.reserved_usd == OPENAI.answer_bound(Quality.MEDIUM, size, 1, text, 1)
    assert estimate.estimated_cost_usd > OPENAI.quote(Quality.MEDIUM, size, 1, text).usd


def test_a_budget_with_room_for_the_quote_but_not_the_reservation_is_402() -> None:
    # Given a campaign with room for the quote of two low squares, one micro-dollar short
    # of their reservation
    reserved = service("openai").estimate(ad()).reserved_usd
    short = service("openai", left=str(reserved - Decimal("0.000001")))
    # When the job is posted, Then it is refused, naming the reservation
    with pytest.raises(ApiError) as refused:
        short.submit(ad())
    assert refused.value.status == 402 and str(reserved) in refused.value.message
    # And with room for the reservation it is accepted, carrying the same three figures
    accepted = service("openai", left=str(reserved)).submit(ad())
    assert accepted.reserved_usd == reserved and not accepted.exact and not accepted.approximate
    assert accepted.estimated_cost_usd < reserved

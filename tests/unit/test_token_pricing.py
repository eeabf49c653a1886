"""OpenAI's token bill in placard's prices (SPEC §6): an answer's usage at prices.json's token
prices, to the micro-dollar; the bound a reservation holds; shares of a bill over its images;
and the pipeline charging them, with no network (the emulator's arithmetic stands in for the
bill)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from decimal import Decimal

import httpx
import pytest

from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.pricing import PriceTable, default_prices, shares
from placard.domain.statuses import JobState
from placard.domain.templates import default_catalogue
from placard.providers.base import ImageRequest, ImageResult
from placard.providers.openai import OpenAIProvider
from placard.services.pipeline import Pipeline
from placard_emulator import billing
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeProvider, FakeUploads

OPENAI = default_prices()["openai"]
EMULATOR_PRICES = (Decimal("5.00"), Decimal("8.00"), Decimal("30.00"))


def answer_usage(usage: billing.Usage) -> dict[str, int]:
    """The usage as placard's OpenAI client reads it from an answer."""
    response = httpx.Response(200, json={"data": [], "usage": usage})
    return OpenAIProvider._parse(response)[1]


def test_usage_is_priced_per_kind_and_the_input_total_is_not_counted_again() -> None:
    # Given an answer's usage: 300 text and 1536 image tokens in (1836 in all), 1756 out
    usage = answer_usage(
        {"input_tokens": 1836, "input_tokens_details": {"text_tokens": 300, "image_tokens": 1536},
         "output_tokens": 1756, "total_tokens": 3592}
    )  # fmt: skip
    # When it is priced
    cost = OPENAI.cost_from_usage(usage)
    # Then each kind is at its price (300 x 5 + 1536 x 8 + 1756 x 30 = 66,468 per million)
    assert usage["input_tokens"] == 1836
    assert cost == Decimal("0.066468")


def test_an_answer_is_rounded_once_half_up_not_kind_by_kind() -> None:
    # Given token prices whose single tokens cost half a micro-dollar or less
    prices = PriceTable.parse(
        {"providers": {"x": {"model": "m", "flat": False, "per_image": {"low": "0.01"},
                             "tokens_per_million": {"input_text_tokens": "2.50",
                                                    "input_image_tokens": "0.50",
                                                    "output_tokens": "1.50"},
                             "output_tokens": {"1024x1024": {"low": 1}}}}}
    )["x"]  # fmt: skip
    # When one token of each is priced (2.5 + 0.5 + 1.5 = 4.5 millionths)
    usage = {"input_text_tokens": 1, "input_image_tokens": 1, "output_tokens": 1}
    # Then the sum is rounded once, half up: 5, where rounding each kind would say 3 + 1 + 2
    assert prices.cost_from_usage(usage) == Decimal("0.000005")


def test_usage_missing_a_priced_kind_is_no_bill_and_flat_providers_have_none() -> None:
    # Given answers whose usage says nothing of their output, or nothing at all
    # When they are priced
    # Then there is no bill to charge (the pipeline charges the estimate instead)
    assert OPENAI.cost_from_usage({"input_text_tokens": 10, "input_image_tokens": 0}) is None
    assert OPENAI.cost_from_usage({}) is None
    assert default_prices()["prospolabs"].cost_from_usage({"output_tokens": 10}) is None


def test_a_price_file_whose_tokens_no_reservation_could_bound_is_refused() -> None:
    # Given token prices for a kind the bound does not count
    spec = {"model": "m", "flat": False, "per_image": {"low": "0.01"},
            "tokens_per_million": {"cached_tokens": "1"},
            "output_tokens": {"1024x1024": {"low": 1}}}  # fmt: skip
    # When the file is read, Then it is refused, naming the provider
    with pytest.raises(ValueError, match="x: tokens_per_million"):
        PriceTable.parse({"providers": {"x": spec}})


@pytest.mark.parametrize(
    ("quality", "size", "tokens"),
    [
        (Quality.LOW, Size(1024, 1024), 196),
        (Quality.HIGH, Size(1024, 1024), 7024),
        (Quality.MEDIUM, Size(1024, 1536), 1372),
        (Quality.HIGH, Size(1536, 1024), 5488),
        (Quality.HIGH, Size(2048, 2048), 4 * 7024),
        (Quality.LOW, Size(1280, 720), 173),  # 196 x 0.8789 = 172.27, rounded up
        (Quality.MEDIUM, Size(3840, 2160), 13891),  # 1756 x 7.9102 = 13890.23
    ],
)
def test_output_tokens_are_the_guides_else_the_square_scaled_by_area(
    quality: Quality, size: Size, tokens: int
) -> None:
    assert OPENAI.output_tokens(quality, size) == tokens


def test_the_bound_counts_output_prompt_bytes_and_each_input_image_at_most() -> None:
    # Given a low square with a 100-character prompt of two-byte letters (200 bytes)
    prompt = "é" * 100
    # When the most its answer can bill is asked, for a new image and for an edit
    new = OPENAI.answer_bound(Quality.LOW, Size(1024, 1024), 1, prompt, input_images=0)
    edit = OPENAI.answer_bound(Quality.LOW, Size(1024, 1024), 1, prompt, input_images=1)
    # Then it is 196 x 30 + 200 x 5 per million, and the edit adds 1536 image tokens x 8
    assert new == Decimal("0.006880")
    assert edit == Decimal("0.019168")
    assert (
        default_prices()["prospolabs"].answer_bound(Quality.LOW, Size(1024, 1024), 1, "", 0) is None
    )


SIZES = [Size(1024, 1024), Size(1024, 1536), Size(1536, 1024), Size(1280, 720), Size(3840, 2160)]
SOURCES = [(), ((1024, 1024),), ((600, 400),), ((3840, 2160),), ((400, 1600),)]
PROMPTS = ["A", "Summer sale: 2 for €5 ✨", "x" * 4001]


@pytest.mark.parametrize(("size", "quality"), list(itertools.product(SIZES, Quality)))
def test_the_bound_never_falls_below_the_bill_and_the_usage_prices_to_it(
    size: Size, quality: Quality
) -> None:
    for n, sources, prompt in itertools.product((1, 3), SOURCES, PROMPTS):
        # Given the usage an OpenAI answer reports, and what it bills (the emulator's rules)
        usage = billing.usage(prompt, size.width, size.height, quality, n, sources)
        bill = billing.token_cost(usage, *EMULATOR_PRICES)
        # When placard reads and prices it, and bounds it before the call
        cost = OPENAI.cost_from_usage(answer_usage(usage))
        bound = OPENAI.answer_bound(quality, size, n, prompt, input_images=len(sources))
        # Then the price is the bill to the micro-dollar, and the bound is at least the bill
        assert cost == bill, (size, quality, n, sources, prompt[:10])
        assert bound is not None and bound >= bill, (size, quality, n, sources, prompt[:10])


@pytest.mark.parametrize(
    ("amount", "n", "expected"),
    [
        ("0.165040", 1, ["0.165040"]),
        ("0.100001", 3, ["0.033333", "0.033333", "0.033335"]),
        ("0.000002", 4, ["0", "0", "0", "0.000002"]),
        ("0.125748", 2, ["0.062874", "0.062874"]),
    ],
)
def test_shares_of_a_bill_sum_to_it_with_the_remainder_on_the_last(
    amount: str, n: int, expected: list[str]
) -> None:
    parts = shares(Decimal(amount), n)
    assert parts == [Decimal(e) for e in expected]
    assert sum(parts) == Decimal(amount)


# The pipeline, on the fakes of its ports.

CAMPAIGN = "summer"
NOW = "2026-01-01T00:00:00.000+00:00"


@dataclass
class TokenProvider(FakeProvider):
    """FakeProvider as OpenAI answers: with the usage the emulator would report, or none."""

    name: str = "openai"
    reports_usage: bool = True

    def create(self, request: ImageRequest) -> ImageResult:
        result = super().create(request)
        if not self.reports_usage:
            return result
        size, quality = request.size, request.quality.value
        usage = billing.usage(request.prompt, size.width, size.height, quality, request.n, ())
        return replace(result, usage=answer_usage(usage))


def pipeline(provider: FakeProvider, budgets: FakeBudgets, ledger: FakeLedger) -> Pipeline:
    return Pipeline(catalogue=default_catalogue(), prices=default_prices(), provider=provider,
                    assets=FakeAssets(), ledger=ledger, uploads=FakeUploads(), budgets=budgets,
                    kept_jobs=FakeJobStore(), clock=lambda: NOW)  # fmt: skip


def sign(n: int, quality: Quality = Quality.HIGH) -> Job:
    return Job(CAMPAIGN, "storefront-sign", "v1", {"store_name": "Zoe", "message": "Now open"},
               quality, Size(1536, 1024), n, origin={"budget": True})  # fmt: skip


def billed(request: ImageRequest) -> Decimal:
    size = request.size
    usage = billing.usage(request.prompt, size.width, size.height, request.quality, request.n, ())
    return billing.token_cost(usage, *EMULATOR_PRICES)


def test_an_answers_bill_is_charged_over_its_images_and_the_budget_gets_back_the_rest() -> None:
    # Given a campaign with a 1 USD budget and an API that reports its usage
    provider, budgets, ledger = TokenProvider(), FakeBudgets(), FakeLedger()
    budgets.set_limit(CAMPAIGN, Decimal(1), Decimal(0))
    # When a job of three high 1536x1024 images runs
    outcome = pipeline(provider, budgets, ledger).run(sign(3))
    # Then its three images are charged shares summing to the answer's bill, to the micro-dollar
    (request,) = provider.requests
    bill = billed(request)
    items = sorted(ledger.job_items(CAMPAIGN, outcome.job_id), key=lambda i: i.image_index)
    assert [i.status for i in items] == [Status.CHARGED] * 3
    assert [i.cost_usd for i in items] == shares(bill, 3) and outcome.cost_usd == bill
    # And each keeps the usage and the token prices it was charged at, not estimated
    assert all(i.usage["output_tokens"] == 3 * 5488 and not i.estimated for i in items)
    # And each keeps its share of the quote made before the call: at a listed size, the bill
    quote = OPENAI.quote(Quality.HIGH, Size(1536, 1024), 3, request.prompt)
    assert [i.estimate_usd for i in items] == shares(quote.usd, 3) == shares(bill, 3)
    assert items[0].token_prices == {
        "input_text_tokens": "5.00", "input_image_tokens": "8.00", "output_tokens": "30.00"
    }  # fmt: skip
    # And the budget held the bound during the call and now holds only the bill
    assert budgets.remaining(CAMPAIGN) == 1 - bill


def test_an_answer_without_usage_is_charged_its_estimate_marked_estimated() -> None:
    # Given an OpenAI-priced API whose answers report no usage
    provider, budgets, ledger = TokenProvider(reports_usage=False), FakeBudgets(), FakeLedger()
    budgets.set_limit(CAMPAIGN, Decimal(1), Decimal(0))
    # When a job of two low images runs
    job = sign(2, Quality.LOW)
    outcome = pipeline(provider, budgets, ledger).run(job)
    # Then each is charged its share of the call's quote (not of the bound reserved), estimated
    (request,) = provider.requests
    quote = OPENAI.quote(Quality.LOW, job.size or Size(0, 0), 2, request.prompt)
    bound = OPENAI.answer_bound(Quality.LOW, job.size or Size(0, 0), 2, request.prompt, 0)
    assert bound is not None and quote.usd < bound
    items = sorted(ledger.job_items(CAMPAIGN, outcome.job_id), key=lambda i: i.image_index)
    assert [i.cost_usd for i in items] == [i.estimate_usd for i in items] == shares(quote.usd, 2)
    assert all(i.estimated and i.status is Status.CHARGED and not i.token_prices for i in items)
    # And the budget gives back the rest of the reservation, keeping the estimate charged
    assert budgets.remaining(CAMPAIGN) == 1 - quote.usd


def test_the_reseller_stays_flat_and_is_never_estimated() -> None:
    # Given prospolabs, whose answers report no usage
    provider, budgets, ledger = FakeProvider(), FakeBudgets(), FakeLedger()
    # When a job of two high images runs
    outcome = pipeline(provider, budgets, ledger).run(sign(2))
    # Then each is charged the flat price, its estimate too, and none is an estimate
    items = ledger.job_items(CAMPAIGN, outcome.job_id)
    assert [i.cost_usd for i in items] == [i.estimate_usd for i in items] == [Decimal("0.077")] * 2
    assert not any(i.estimated or i.token_prices for i in items)


def test_estimated_and_token_prices_survive_the_ledger_and_read_back_empty_when_missing() -> None:
    # Given a charged item that was estimated and priced by tokens
    item = LedgerItem(CAMPAIGN, "j", 0, "t", "v1", "openai", "gpt-image-2", "low", "1024x1024",
                      Decimal("0.007"), Decimal("0.007"), Status.CHARGED, NOW, NOW,
                      estimated=True, token_prices={"output_tokens": "30.00"})  # fmt: skip
    # When it is stored and read back, and an item stored before the fields is read
    again = LedgerItem.from_item(item.to_item())
    old = {k: v for k, v in item.to_item().items() if k not in ("estimated", "token_prices")}
    # Then the fields are as written, and an old item is neither estimated nor token-priced
    assert again == item
    assert LedgerItem.from_item(old).estimated is False
    assert LedgerItem.from_item(old).token_prices == {}


# A bill above its reservation (issue #15): recorded, and counted before any further one.


@dataclass
class OverbillingProvider(TokenProvider):
    """TokenProvider whose answers report more output tokens than any bound allows."""

    extra_output_tokens: int = 10_000  # 0.30 USD at 30 per million

    def create(self, request: ImageRequest) -> ImageResult:
        result = super().create(request)
        usage = {
            **result.usage,
            "output_tokens": result.usage["output_tokens"] + self.extra_output_tokens,
        }
        return replace(result, usage=usage)


def bound_of(job: Job, prompt: str) -> Decimal:
    bound = OPENAI.answer_bound(job.quality, job.size or Size(0, 0), job.n, prompt, 0)
    assert bound is not None
    return bound


def test_a_bill_above_its_reservation_records_the_overshoot_and_the_budget_pays_it_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a campaign with a 1 USD budget and an API that bills above the bound of its answer
    provider, budgets, ledger = OverbillingProvider(), FakeBudgets(), FakeLedger()
    budgets.set_limit(CAMPAIGN, Decimal(1), Decimal(0))
    # When a job of two low images runs
    job = sign(2, Quality.LOW)
    with caplog.at_level("WARNING", logger="placard.services.pipeline"):
        outcome = pipeline(provider, budgets, ledger).run(job)
    # Then the images are charged the whole bill, and each records its share of the overshoot
    (request,) = provider.requests
    bound = bound_of(job, request.prompt)
    bill = OPENAI.cost_from_usage(provider.create(request).usage)
    assert bill is not None and bill > bound
    items = sorted(ledger.job_items(CAMPAIGN, outcome.job_id), key=lambda i: i.image_index)
    assert [i.cost_usd for i in items] == shares(bill, 2)
    assert [i.overshoot_usd for i in items] == shares(bill - bound, 2)
    # And the campaign's budget drops by the whole bill, not the bound, and a warning says so
    assert budgets.remaining(CAMPAIGN) == 1 - bill
    assert "exceeds its reservation" in caplog.text


def test_an_overshoot_takes_the_room_the_next_reservation_needed_and_it_is_refused() -> None:
    # Given a budget that holds exactly the bounds of two like jobs, and an API that overbills
    provider, budgets, ledger = OverbillingProvider(), FakeBudgets(), FakeLedger()
    first = replace(sign(1, Quality.LOW), variables={"store_name": "Zoe", "message": "Now open"})
    second = replace(first, variables={"store_name": "Zoe", "message": "Now shut"})
    template = default_catalogue()[first.template]
    bound = [bound_of(j, template.render(template.values(j.variables))) for j in (first, second)]
    budgets.set_limit(CAMPAIGN, bound[0] + bound[1], Decimal(0))
    run = pipeline(provider, budgets, ledger).run
    # When the first job is billed above its bound, then the second is asked for
    assert run(first).status is JobState.SUCCEEDED
    outcome = run(second)
    # Then the second is refused for budget before any call
    (charged,) = ledger.job_items(CAMPAIGN, first.job_id)
    assert charged.overshoot_usd > 0 and provider.calls == 1
    assert outcome.status is JobState.OVER_BUDGET
    assert all(i.over_budget for i in ledger.job_items(CAMPAIGN, outcome.job_id))
    # And the budget is left short of the second bound by exactly the first overshoot
    assert budgets.remaining(CAMPAIGN) == bound[1] - charged.overshoot_usd


def test_overshoot_survives_the_ledger_and_is_dropped_when_none() -> None:
    # Given a charged item with an overshoot, and one without
    item = LedgerItem(CAMPAIGN, "j", 0, "t", "v1", "openai", "gpt-image-2", "low", "1024x1024",
                      Decimal("0.007"), Decimal("0.31"), Status.CHARGED, NOW, NOW,
                      overshoot_usd=Decimal("0.303"))  # fmt: skip
    plain = item.but(overshoot_usd=Decimal(0))
    # When they are stored and read back
    # Then the overshoot is as written, and none is not stored and reads back 0
    assert LedgerItem.from_item(item.to_item()) == item
    assert "overshoot_usd" not in plain.to_item()
    assert LedgerItem.from_item(plain.to_item()).overshoot_usd == Decimal(0)

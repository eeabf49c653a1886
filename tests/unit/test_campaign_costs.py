"""GET /v1/campaigns/{c}/costs: what was charged beside what placard estimated, and the drift
between them (issue #15), by quality, provider and day."""

from __future__ import annotations

import json
from decimal import Decimal

from placard.api.service import campaign_costs
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.spend import CostBasis, Spend

TOKENS = {"text_input": "5.00", "image_input": "8.00", "image_output": "30.00"}
DAY_1, DAY_2 = "2026-11-26T09:00:00.000+00:00", "2026-11-27T09:00:00.000+00:00"


def item(index: int, cost: str, estimate: str = "0", **changes: object) -> LedgerItem:
    """An image of job j1, charged `cost` and estimated at `estimate` (0: none kept)."""
    made = LedgerItem(
        "summer", "j1", index, "social-square", "v1", "openai", "gpt-image-2", "medium",
        "1024x1024", Decimal("0.0527"), Decimal(cost), Status.CHARGED, DAY_1, DAY_1,
        estimate_usd=Decimal(estimate), token_prices=TOKENS,
    )  # fmt: skip
    return made.but(**changes)


def test_the_totals_give_the_estimate_the_bill_and_the_drift_in_decimal() -> None:
    # Given three OpenAI images billed by tokens, each estimated before its call
    items = [
        item(0, "0.041372", "0.0412"),
        item(1, "0.04101", "0.0412"),
        item(2, "0.0433", "0.0412"),
    ]
    # When the campaign's costs are read
    total = campaign_costs("summer", items).total
    # Then the bill, the estimate and the drift are exact: 0.125682 - 0.1236 = 0.002082
    assert total.cost_usd == Decimal("0.125682") and total.estimate_usd == Decimal("0.1236")
    assert total.drift_usd == Decimal("0.002082")
    assert (total.images_charged, total.images_estimated) == (3, 0)
    # And the JSON answer carries them as exact decimal strings, never floats
    body = json.loads(campaign_costs("summer", items).model_dump_json())
    assert body["total"]["drift_usd"] == "0.002082" and body["total"]["estimate_usd"] == "0.1236"


def test_an_answer_without_usage_is_counted_as_charged_at_an_estimate() -> None:
    # Given two images billed by usage and one whose answer reported none (charged its
    # reservation, marked estimated)
    items = [
        item(0, "0.041372", "0.0412"),
        item(1, "0.0412", "0.0412"),
        item(2, "0.0556", "0.0412", estimated=True, token_prices={}),
    ]
    # When the campaign's costs are read
    total = campaign_costs("summer", items).total
    # Then one image is counted as charged at an estimate, and its charge is in the drift
    assert total.images_estimated == 1 and total.images_charged == 3
    assert total.drift_usd == Decimal("0.041372") + Decimal("0.0556") - Decimal("0.0412") * 2


def test_the_drift_leaves_out_images_without_an_estimate_and_failures() -> None:
    # Given an image made before estimates were kept, one failed at the provider (estimated,
    # never billed), one refunded, and one billed beside its estimate
    items = [
        item(0, "0.05", "0"),
        item(1, "0", "0.0412", status=Status.FAILED),
        item(2, "0", "0.0412", status=Status.REFUNDED),
        item(3, "0.0400", "0.0412"),
    ]
    # When the campaign's costs are read
    total = campaign_costs("summer", items).total
    # Then the cost is every charge, the estimate and drift only the charged image that has one
    assert total.cost_usd == Decimal("0.0900") and total.estimate_usd == Decimal("0.0412")
    assert total.drift_usd == Decimal("-0.0012")
    assert (total.images_charged, total.images_refunded) == (2, 1)


def test_each_group_has_its_own_estimate_drift_and_overshoot() -> None:
    # Given a medium image on day 1 billed above its reservation, and a high one on day 2
    items = [
        item(0, "0.0530", "0.0527", overshoot_usd=Decimal("0.0001")),
        item(1, "0.2000", "0.2107", quality="high", created_at=DAY_2),
    ]
    # When the campaign's costs are read
    costs = campaign_costs("summer", items)
    # Then each quality and each day has its own figures, and the total both
    medium, high = costs.by_quality["medium"], costs.by_quality["high"]
    assert (medium.estimate_usd, medium.drift_usd) == (Decimal("0.0527"), Decimal("0.0003"))
    assert (high.estimate_usd, high.drift_usd) == (Decimal("0.2107"), Decimal("-0.0107"))
    assert medium.overshoot_usd == Decimal("0.0001") and high.overshoot_usd == 0
    assert list(costs.by_day) == ["2026-11-26", "2026-11-27"]
    assert costs.by_day["2026-11-27"] == high
    assert costs.total.drift_usd == Decimal("-0.0104")
    assert costs.total.overshoot_usd == Decimal("0.0001")


def test_a_spend_is_marked_by_its_least_certain_charge() -> None:
    # Given a bill, a flat price and an estimate
    bill, flat = item(0, "0.04"), item(1, "0.028", provider="prospolabs", token_prices={})
    guess = item(2, "0.05", estimated=True, token_prices={})
    # Then a spend's basis is the least certain of its charges, none when nothing was charged
    assert Spend.of([bill]).basis is CostBasis.BILL
    assert Spend.of([flat]).basis is CostBasis.FLAT
    assert Spend.of([bill, guess]).basis is CostBasis.ESTIMATE
    assert Spend.of([item(3, "0", status=Status.FAILED)]).basis is None
    # And the drift's share of the estimate is rounded to one decimal place, None without one
    assert Spend.of([item(0, "0.041372", "0.0412")]).drift_percent == Decimal("0.4")
    assert Spend.of([bill]).drift_percent is None and Spend.of([bill]).estimate is None


def test_a_call_of_unknown_outcome_is_shown_held_not_charged() -> None:
    # Given an image charged, and a call set aside whose outcome nobody knows yet
    items = [
        item(0, "0.041372", "0.0412"),
        item(0, "0.0556", "0.0412", status=Status.RESERVED, lost=True, attempt=1),
    ]
    # When the campaign's costs are read
    total = campaign_costs("summer", items).total
    # Then the held call is not in the cost, and is shown with what the budget holds for it
    assert (total.images_charged, total.cost_usd) == (1, Decimal("0.041372"))
    assert (total.calls_held, total.held_usd) == (1, Decimal("0.0556"))

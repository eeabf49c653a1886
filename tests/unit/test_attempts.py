"""An image's attempts read together: the one delivered, the cost of them all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from placard.domain.attempts import by_image
from placard.domain.keys import image_key, image_sk
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Verdict


def attempt(index: int, number: int, status: Status, proof: str = "") -> LedgerItem:
    cost = Decimal("0.028") if status is Status.CHARGED else Decimal(0)
    return LedgerItem(
        campaign="c", job_id="j", image_index=index, template="t", template_version="v",
        provider="draft", model="m", quality="low", size="1024x1024", unit_price=cost,
        cost_usd=cost, status=status, created_at="", updated_at="", attempt=number, proof=proof,
    )  # fmt: skip


def test_the_latest_charged_attempt_is_delivered_and_every_charge_counts() -> None:
    # Given image 0 failed its proof once, its re-roll passed; image 1's re-roll never got made
    items = [
        attempt(0, 2, Status.CHARGED, "pass"),
        attempt(0, 1, Status.CHARGED, "fail"),
        attempt(1, 1, Status.CHARGED, "fail"),
        attempt(1, 2, Status.FAILED),
    ]
    # When they are grouped per image
    first, second = by_image(items)
    # Then each image delivers its latest charged attempt, and costs every attempt charged
    assert (first.index, first.attempts, first.delivered) == (0, 2, items[0])
    assert first.verdict is Verdict.PASS and first.cost_usd == Decimal("0.056")
    assert second.delivered == items[2] and second.verdict is Verdict.FAIL
    assert second.attempts == 2 and second.latest.status is Status.FAILED


def test_an_image_never_charged_delivers_nothing() -> None:
    (only,) = by_image([attempt(0, 1, Status.FAILED)])
    assert only.delivered is None and only.verdict is None and only.cost_usd == 0


def test_a_re_roll_has_keys_of_its_own_and_the_first_keeps_todays() -> None:
    assert image_sk("j", 3) == "IMAGE#j#03"
    assert image_sk("j", 3, 2) == "IMAGE#j#03#02"
    assert image_key("c", "j", 0, "png") == "campaigns/c/j/0.png"
    assert image_key("c", "j", 0, "png", attempt=3) == "campaigns/c/j/0-3.png"
    assert image_key("c", "j", 0, "webp", "thumb", 3) == "campaigns/c/j/0-3.thumb.webp"


def test_an_image_key_or_uri_names_its_job_image_and_attempt() -> None:
    from placard.domain.errors import InvalidInput
    from placard.domain.keys import parse_image_key

    assert parse_image_key("campaigns/c/j/4.png") == ("c", "j", 4, 1)
    assert parse_image_key("s3://assets/campaigns/c/j/0-3.png") == ("c", "j", 0, 3)
    for other in ("s3://assets/reports/c/u/results.csv", "campaigns/c/j/x.png", "0.png"):
        with pytest.raises(InvalidInput, match=r"^images: is not an image placard made"):
            parse_image_key(other)

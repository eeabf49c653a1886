from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Quality, Size, parse_campaign, parse_n
from placard.domain.ledger_items import LedgerItem, Status


def job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "campaign": "summer",
        "template": "launch-poster",
        "template_version": "abc",
        "variables": {"headline": "Run"},
        "quality": Quality.MEDIUM,
        "size": Size(1024, 1536),
        "row_id": "2",
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1024x1024", "1536x1024", "1024x1536", "3840x2160", "1280 X 720"])
def test_sizes_within_the_rules_are_accepted(text: str) -> None:
    assert str(Size.parse(text)) == text.replace(" X ", "x")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1000x1000", "multiples of 16"),
        ("4096x1024", "longest side"),
        ("3072x1008", "aspect ratio"),
        ("512x512", "pixels"),
        ("big", "WIDTHxHEIGHT"),
    ],
)
def test_sizes_outside_the_rules_are_refused_with_the_rule(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        Size.parse(text)
    assert caught.value.field == "size"


def test_large_sizes_are_marked_experimental() -> None:
    assert Size.parse("3840x2160").experimental
    assert not Size.parse("2560x1440").experimental


def test_quality_and_n_are_checked() -> None:
    assert Quality.parse(" High ") is Quality.HIGH
    with pytest.raises(InvalidInput, match="low, medium, high"):
        Quality.parse("ultra")
    assert parse_n("10") == 10
    for bad in ("0", "11", "two"):
        with pytest.raises(InvalidInput):
            parse_n(bad)


def test_job_id_is_derived_from_content_not_origin() -> None:
    # Given the same job from two uploads, and a job differing in one variable
    first = job(origin={"upload": "a", "row": 2})
    again = job(origin={"upload": "b", "row": 9})
    changed = job(variables={"headline": "Walk"})
    # Then the same content has the same id, other content another
    assert first.job_id == again.job_id
    assert first.job_id != changed.job_id
    assert first.job_id != job(row_id="3").job_id


def test_job_survives_the_queue_round_trip() -> None:
    original = job(origin={"upload": "a", "row": 2}, n=3)
    copy = Job.from_json(original.to_json())
    assert copy == original
    assert copy.origin == original.origin
    assert copy.job_id == original.job_id


def test_every_field_of_a_job_is_carried_and_identifies_it() -> None:
    # Given a job with every field set
    edit = job(mode=Mode.EDIT, size=None, source_image="a.png", mask="m.png", mask_box=(1, 2, 3, 4))
    # Then its dict names every field, so none is dropped on the queue or left out of its id
    assert set(edit.to_dict()) == {f.name for f in dataclasses.fields(Job)}
    for name, value in {"mask": "n.png", "mask_box": (0, 0, 1, 1), "n": 2}.items():
        assert Job.from_dict({**edit.to_dict(), name: value}).job_id != edit.job_id


def test_campaign_names_are_key_safe() -> None:
    assert parse_campaign(" summer-2026 ") == "summer-2026"
    for bad in ("", "../etc", "a/b", "x" * 64):
        with pytest.raises(InvalidInput):
            parse_campaign(bad)


# --------------------------------------------------------------------------- ledger items


def failed_edit_item() -> LedgerItem:
    """What Pipeline._fail saves for an edit refused before its size was known."""
    return LedgerItem(
        campaign="summer",
        job_id="abc",
        image_index=0,
        template="price-tag-edit",
        template_version="v1",
        provider="draft",
        model="draft-proof",
        quality="medium",
        size="",
        unit_price=Decimal(0),
        cost_usd=Decimal(0),
        status=Status.FAILED,
        created_at="2026-12-01T00:00:00.000+00:00",
        updated_at="2026-12-01T00:00:00.000+00:00",
        reason="source_image: is a GIF; give a PNG, JPEG or WebP image",
    )


def test_a_failed_edit_item_without_a_size_reads_back_as_it_was_saved() -> None:
    # Given a failed edit's item, whose empty size is dropped when stored
    item = failed_edit_item()
    stored = item.to_item()
    assert "size" not in stored
    # When it is read back, Then it is the same item
    assert LedgerItem.from_item(stored) == item


def test_an_old_item_missing_any_text_field_still_reads_back() -> None:
    # Given a stored item from which every text field but the keys and status was dropped
    stored = {k: v for k, v in failed_edit_item().to_item().items() if not isinstance(v, str)}
    stored |= {"pk": "CAMPAIGN#summer", "sk": "IMAGE#abc#00", "status": "failed"}
    # When it is read back, Then it rebuilds with those fields empty
    item = LedgerItem.from_item(stored)
    assert (item.size, item.model, item.campaign, item.reason) == ("", "", "", "")
    assert item.status is Status.FAILED and item.cost_usd == 0

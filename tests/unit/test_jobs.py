from __future__ import annotations

import dataclasses

import pytest

from placard.errors import InvalidInput
from placard.jobs import Job, Mode, Quality, Size, parse_campaign, parse_n


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

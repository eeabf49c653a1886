"""Every key format lives in domain/keys.py; these tests read as the layout it promises."""

from __future__ import annotations

from decimal import Decimal

import pytest

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Quality, Size
from placard.domain.keys import (
    IMAGES_PREFIX,
    budget_key,
    campaign_pk,
    derivative_key,
    image_key,
    image_sk,
    job_images_prefix,
    job_record_key,
    parse_upload_key,
    reports_prefix,
    run_key,
    upload_key,
)
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.money import parse_usd
from placard.domain.runs import UploadRun
from placard.services.ingest import Upload
from placard.services.uploads import missing_files
from placard_local.stack import Stack, repo_root, s3_filter_matches

# --------------------------------------------------------------------------- S3


@pytest.mark.parametrize("name", ["sheet.csv", "Summer 2026.xlsx", "shelf.photo.jpg"])
def test_an_upload_key_parses_back_to_its_campaign_and_file(name: str) -> None:
    # Given the key a sheet is uploaded under
    key = upload_key("summer", name)
    # When it is parsed back / Then the campaign and the file name come back unchanged
    assert key == f"campaigns/summer/{name}"
    assert parse_upload_key(key) == ("summer", name)


@pytest.mark.parametrize(
    "key", ["campaigns/summer/photos/shelf.csv", "campaigns/sheet.csv", "reports/summer/s.csv"]
)
def test_a_key_outside_campaigns_campaign_file_is_not_an_upload(key: str) -> None:
    # Given a key deeper, shallower or under another prefix / When parsed / Then refused
    with pytest.raises(InvalidInput) as caught:
        parse_upload_key(key)
    assert caught.value.field == "key"
    assert caught.value.value == key


@pytest.mark.parametrize("name", ["sheet.csv", "sheet.xlsx"])
def test_the_templates_upload_trigger_fires_on_the_key_a_sheet_is_uploaded_under(
    name: str,
) -> None:
    # Given the ingest function's S3 events as template.yaml declares them
    events = Stack.load(repo_root() / "template.yaml").functions()["IngestFunction"].events
    # When a sheet is uploaded under the key keys.py gives it
    key = upload_key("summer", name)
    # Then one of the events fires, and ingest can parse the key it is given
    assert any(s3_filter_matches(event, key) for event in events)
    assert parse_upload_key(key) == ("summer", name)


def test_an_upload_and_its_run_write_their_reports_under_one_prefix() -> None:
    # Given a sheet uploaded to a campaign, and the run that upload started
    upload = Upload.parse("campaigns/summer/Summer 2026.xlsx")
    run = UploadRun(upload.campaign, upload.key, "seq-1")
    # When each is asked where its reports go / Then both name the same folder
    assert upload.reports_prefix == run.reports_prefix == "reports/summer/Summer 2026/"
    assert reports_prefix("summer", "Summer 2026.xlsx") == upload.reports_prefix


def test_an_original_and_the_copies_beside_it_share_the_job_folder() -> None:
    # Given a job's third image / When its original and its copies are named
    original = image_key("summer", "abc123", 2, "png")
    raw = image_key("summer", "abc123", 2, "png", "provider")
    # Then each is `<i>[.<kind>].<ext>` under campaigns/<campaign>/<job>/
    assert original == "campaigns/summer/abc123/2.png"
    assert raw == "campaigns/summer/abc123/2.provider.png"


@pytest.mark.parametrize("extension", ["png", "jpg", "webp"])
@pytest.mark.parametrize("kind", ["web", "thumb"])
def test_a_derivative_key_found_from_the_original_is_the_one_the_worker_wrote(
    extension: str, kind: str
) -> None:
    # Given an original of any format
    original = image_key("summer", "abc123", 0, extension)
    # When the reports look up its derivative from the original's key alone
    found = derivative_key(original, kind)
    # Then it is the key the worker stored the derivative under
    assert found == image_key("summer", "abc123", 0, "webp", kind)


# --------------------------------------------------------------------------- DynamoDB


def test_a_ledger_item_is_keyed_in_its_campaign_under_its_job() -> None:
    # Given a ledger item
    item = LedgerItem(
        campaign="summer", job_id="abc123", image_index=3, template="t", template_version="v",
        provider="draft", model="m", quality="low", size="1024x1024", unit_price=Decimal(0),
        cost_usd=Decimal(0), status=Status.RESERVED, created_at="t0", updated_at="t0",
    )  # fmt: skip
    # When its key is read / Then it sits in the campaign's partition, under its job's prefix
    assert item.key == {"pk": "CAMPAIGN#summer", "sk": "IMAGE#abc123#03"}
    assert item.key["sk"].startswith(job_images_prefix("abc123"))


def test_a_jobs_images_sort_by_index_and_no_other_job_shares_its_prefix() -> None:
    # Given sort keys of two jobs whose ids share a beginning
    keys = [image_sk("abc", 10), image_sk("abc", 2), image_sk("abcd", 1)]
    # When they are sorted and selected by the first job's prefix
    mine = [k for k in sorted(keys) if k.startswith(job_images_prefix("abc"))]
    # Then index 2 comes before index 10, and the other job is not among them
    assert mine == ["IMAGE#abc#02", "IMAGE#abc#10"]


def test_a_campaigns_budget_and_runs_share_its_partition_but_not_its_images_prefix() -> None:
    # Given the campaign's budget and one run's progress item
    others = [budget_key("summer"), run_key("summer", "campaigns/summer/s.csv", "seq-1")]
    # Then one query of the partition reads them with the images...
    assert {key["pk"] for key in others} == {campaign_pk("summer")}
    # ...and a query of the campaign's images never reads them as images
    assert not any(key["sk"].startswith(IMAGES_PREFIX) for key in others)


def test_a_job_record_is_found_by_its_id_alone_outside_every_campaign() -> None:
    # Given a job asked for through the API / When its record is keyed
    key = job_record_key("abc123")
    # Then the id alone names it, in no campaign's partition
    assert key == {"pk": "JOB#abc123", "sk": "JOB"}
    assert not key["pk"].startswith(campaign_pk(""))


# --------------------------------------------------------------------------- one of each


@pytest.mark.parametrize(
    ("text", "amount"), [("25", Decimal(25)), ("7.10", Decimal("7.10")), ("0", Decimal(0))]
)
def test_an_amount_of_usd_is_read_exactly(text: str, amount: Decimal) -> None:
    # Given what a person typed for a budget / When read / Then the exact Decimal
    assert parse_usd(text) == amount


@pytest.mark.parametrize("text", ["-1", "ten", "", "NaN", "-Infinity", "Infinity"])
def test_what_is_not_an_amount_of_usd_reads_as_none(text: str) -> None:
    # Given a negative, a word, nothing, NaN or infinity / When read / Then no amount
    assert parse_usd(text) is None


def test_only_the_files_a_job_names_that_are_not_uploaded_are_missing() -> None:
    # Given an edit whose source photo and mask were never uploaded
    job = Job(
        campaign="summer", template="price-edit", template_version="v", variables={},
        quality=Quality.LOW, size=Size(1024, 1024), mode=Mode.EDIT,
        source_image=upload_key("summer", "shelf.jpg"), mask=upload_key("summer", "mask.png"),
    )  # fmt: skip
    # When checked against an uploads bucket holding only the mask
    errors = missing_files(job, {upload_key("summer", "mask.png")}.__contains__)
    # Then only the source is missing, named by its field and key
    assert [(e.field, e.value) for e in errors] == [("source_image", "campaigns/summer/shelf.jpg")]
    assert errors[0].reason == "campaigns/summer/shelf.jpg is not in the uploads bucket"

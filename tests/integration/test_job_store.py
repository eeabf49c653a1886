"""The kept jobs (issue #15: an item in the ledger table, not an S3 object): the fake and the
DynamoDB adapter over moto answer alike, a job is kept once and read back whole, too large a
job is refused naming its field, and a kept job is no image of its campaign."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from placard.aws.job_store import DynamoJobStore
from placard.aws.ledger import DynamoLedger
from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ports import KEPT_JOB_BYTES, JobStore, kept_job_json
from placard_local.cloud import LOCAL_ENV
from tests.fakes import FakeJobStore
from tests.tables import keyed_table

TABLE = "ledger"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """The ledger table's shape on moto, once for the module; each case has its campaign."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in LOCAL_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            db = boto3.client("dynamodb")
            keyed_table(db, TABLE)
            yield db


@pytest.fixture(params=["fake", "aws"])
def store(request: pytest.FixtureRequest) -> JobStore:
    if request.param == "fake":
        return FakeJobStore()
    return DynamoJobStore(request.getfixturevalue("dynamodb"), TABLE)


@pytest.fixture
def campaign() -> str:
    return f"c{uuid.uuid4().hex[:12]}"


def poster(campaign: str, **variables: str) -> Job:
    return Job(
        campaign=campaign, template="launch-poster", template_version="v1",
        variables={"product": "Cold brew", "headline": "Été à Zürich ☀", **variables},
        quality=Quality.LOW, size=Size(1024, 1536), n=2,
        origin={"sheet": f"campaigns/{campaign}/launch.csv", "run": "seq-1", "budget": True},
    )  # fmt: skip


def test_a_job_is_kept_by_its_first_delivery_only(store: JobStore, campaign: str) -> None:
    # Given a job, and the same job made again with other origin (a re-upload of its sheet)
    job = poster(campaign)
    again = Job.from_dict({**job.to_dict(), "origin": {"sheet": "other.csv"}})
    # When its first delivery keeps it, and a redelivery and the re-upload try again
    first, second, third = store.keep(job), store.keep(job), store.keep(again)
    # Then only the first kept it, and it reads back whole: its variables, origin and id
    assert (first, second, third) == (True, False, False)
    kept = store.get(campaign, job.job_id)
    assert kept is not None and kept.job_id == job.job_id
    assert kept.to_dict() == job.to_dict()


def test_a_job_never_kept_reads_as_none(store: JobStore, campaign: str) -> None:
    # Given a job kept under one campaign
    job = poster(campaign)
    store.keep(job)
    # Then it is not found under another campaign, nor is a job never kept
    assert store.get(f"{campaign}x", job.job_id) is None
    assert store.get(campaign, "0" * 32) is None


def test_a_job_too_large_to_keep_is_refused_naming_its_variables(
    store: JobStore, campaign: str
) -> None:
    # Given a job whose variables make it one byte over what can be kept
    small = kept_job_json(poster(campaign, tagline=""))
    job = poster(campaign, tagline="x" * (KEPT_JOB_BYTES - len(small.encode()) + 1))
    # When it is kept, Then it is refused, naming the field, and nothing is kept
    with pytest.raises(InvalidInput) as refused:
        store.keep(job)
    assert refused.value.field == "variables"
    assert f"at most {KEPT_JOB_BYTES:,}" in str(refused.value)
    assert store.get(campaign, job.job_id) is None


def test_the_largest_job_kept_fits_in_one_dynamodb_item(dynamodb: Any, campaign: str) -> None:
    # Given a job exactly as large as can be kept, its text in a script of 2-byte characters
    small = kept_job_json(poster(campaign, tagline=""))
    room = KEPT_JOB_BYTES - len(small.encode())
    job = poster(campaign, tagline="ж" * (room // 2) + "x" * (room % 2))
    assert len(kept_job_json(job).encode()) == KEPT_JOB_BYTES
    store = DynamoJobStore(dynamodb, TABLE)
    # When it is kept, Then DynamoDB takes the item (its 400 KB counts names, key and value)
    assert store.keep(job) is True
    kept = store.get(campaign, job.job_id)
    assert kept is not None and kept.variables == job.variables


def test_a_kept_job_is_no_image_of_its_campaign(dynamodb: Any, campaign: str) -> None:
    # Given a job kept beside its campaign's images, in the same partition
    job = poster(campaign)
    DynamoJobStore(dynamodb, TABLE).keep(job)
    # Then the ledger's reads of the campaign's and the job's images do not see it
    ledger = DynamoLedger(dynamodb, TABLE)
    assert ledger.campaign_items(campaign) == []
    assert ledger.job_items(campaign, job.job_id) == []

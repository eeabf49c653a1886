"""The fakes of tests/fakes.py answer as the aws/ adapters do: each case runs twice, on the
fake and on the adapter over moto, and asks the same of both. A unit test on the fakes is only
worth what this parity is worth.

One moto world for the module (a stack per test costs two seconds); every case works under a
campaign and keys of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from placard.aws.assets import S3Assets, S3Uploads
from placard.aws.budgets import DynamoBudgets
from placard.aws.job_records import DynamoJobRecords
from placard.aws.ledger import DynamoLedger
from placard.aws.progress import DynamoProgress
from placard.aws.queue import SqsJobQueue
from placard.aws.replays import DynamoReplayGuard
from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord
from placard.domain.proofs import FieldProof, Proof, Review, Verdict
from placard.domain.runs import UploadRun
from placard_local.cloud import LOCAL_ENV
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeJobQueue,
    FakeJobRecords,
    FakeLedger,
    FakeProgress,
    FakeReplayGuard,
    FakeUploads,
)
from tests.tables import keyed_table

TABLE, ASSETS, UPLOADS = "ledger", "assets", "uploads"


@dataclass
class Ports:
    """One kind of each port, and the two things a test does from outside: upload a file, and
    read what reached the jobs queue."""

    kind: str
    ledger: Any
    budgets: Any
    assets: Any
    uploads: Any
    records: Any
    progress: Any
    queue: Any
    replays: Any
    upload: Callable[[str, bytes, dict[str, str]], None]
    queued: Callable[[], list[Job]]


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in LOCAL_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            clients: dict[str, Any] = {n: boto3.client(n) for n in ("s3", "dynamodb", "sqs")}
            for bucket in (ASSETS, UPLOADS):
                clients["s3"].create_bucket(Bucket=bucket)
            keyed_table(clients["dynamodb"], TABLE)
            clients["dynamodb"].create_table(
                TableName="idempotency",
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
            yield clients


def fake_ports() -> Ports:
    uploads, queue = FakeUploads(), FakeJobQueue()
    return Ports(
        "fake", FakeLedger(), FakeBudgets(), FakeAssets(ASSETS), uploads, FakeJobRecords(),
        FakeProgress(), queue, FakeReplayGuard(), uploads.put, lambda: queue.jobs,
    )  # fmt: skip


def aws_ports(clients: dict[str, Any]) -> Ports:
    s3, db, sqs = clients["s3"], clients["dynamodb"], clients["sqs"]
    queue_url = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex}")["QueueUrl"]

    def upload(key: str, data: bytes, metadata: dict[str, str]) -> None:
        s3.put_object(Bucket=UPLOADS, Key=key, Body=data, Metadata=metadata)

    def queued() -> list[Job]:
        jobs: list[Job] = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            jobs += [Job.from_dict(json.loads(m["Body"])) for m in batch]
        return jobs

    return Ports(
        "aws", DynamoLedger(db, TABLE), DynamoBudgets(db, TABLE), S3Assets(s3, ASSETS),
        S3Uploads(s3, UPLOADS), DynamoJobRecords(db, TABLE), DynamoProgress(db, TABLE),
        SqsJobQueue(sqs, queue_url), DynamoReplayGuard(db, "idempotency", 600), upload, queued,
    )  # fmt: skip


@pytest.fixture(params=["fake", "aws"])
def ports(request: pytest.FixtureRequest) -> Ports:
    if request.param == "fake":
        return fake_ports()
    return aws_ports(request.getfixturevalue("aws"))


@pytest.fixture
def campaign() -> str:
    """A campaign of this case's own, in the module's shared table."""
    return f"c{uuid.uuid4().hex[:12]}"


def item(campaign: str, job_id: str, index: int, status: Status = Status.RESERVED) -> LedgerItem:
    return LedgerItem(
        campaign=campaign, job_id=job_id, image_index=index, template="storefront-sign",
        template_version="v1", provider="prospolabs", model="gpt-image-2", quality="medium",
        size="1536x1024", unit_price=Decimal("0.028"), cost_usd=Decimal("0.028"),
        status=status, created_at="2026-01-01T00:00:00.000+00:00",
        updated_at="2026-01-01T00:00:00.000+00:00", row=2, usage={"output_tokens": 10},
    )  # fmt: skip


def test_ledger_reserves_until_charged_and_a_charge_is_final(ports: Ports, campaign: str) -> None:
    ledger = ports.ledger
    # Given a reservation, a second one of the same image passes (nothing charged yet)
    assert ledger.reserve([item(campaign, "job", 0)]) is True
    assert ledger.reserve([item(campaign, "job", 0)]) is True
    # When it is charged, then a reservation is refused and a later save changes nothing
    ledger.save(item(campaign, "job", 0, Status.CHARGED).but(sha256="first"))
    assert ledger.reserve([item(campaign, "job", 0)]) is False
    ledger.save(item(campaign, "job", 0, Status.FAILED).but(cost_usd=Decimal(0)))
    (kept,) = ledger.job_items(campaign, "job")
    assert kept == item(campaign, "job", 0, Status.CHARGED).but(sha256="first")


def test_ledger_settles_a_reservation_once(ports: Ports, campaign: str) -> None:
    ledger = ports.ledger
    # Given a reservation
    ledger.reserve([item(campaign, "job", 0)])
    # When it is settled, Then the first settle writes; any later one, charge or refund, not
    assert ledger.settle(item(campaign, "job", 0, Status.REFUNDED)) is True
    assert ledger.settle(item(campaign, "job", 0, Status.REFUNDED)) is False
    assert ledger.settle(item(campaign, "job", 0, Status.CHARGED)) is False
    assert [i.status for i in ledger.job_items(campaign, "job")] == [Status.REFUNDED]
    # And where no item was, a settle writes
    assert ledger.settle(item(campaign, "job", 1, Status.CHARGED)) is True


def test_ledger_reserve_stops_at_the_first_charged_image(ports: Ports, campaign: str) -> None:
    # Given image 1 of three charged
    ports.ledger.save(item(campaign, "job", 1, Status.CHARGED))
    # When all three are reserved, then it is refused: image 0 was written, image 2 never was
    assert ports.ledger.reserve([item(campaign, "job", i) for i in range(3)]) is False
    statuses = [(i.image_index, i.status) for i in ports.ledger.job_items(campaign, "job")]
    assert statuses == [(0, Status.RESERVED), (1, Status.CHARGED)]


def test_ledger_reads_in_key_order_by_campaign_and_job(ports: Ports, campaign: str) -> None:
    for job_id, index in (("b", 10), ("a", 1), ("b", 2), ("b", 0)):
        ports.ledger.save(item(campaign, job_id, index))
    ports.ledger.save(item(campaign + "x", "b", 5))  # another campaign, never read here
    assert [i.image_index for i in ports.ledger.job_items(campaign, "b")] == [0, 2, 10]
    every = [(i.job_id, i.image_index) for i in ports.ledger.campaign_items(campaign)]
    assert every == [("a", 1), ("b", 0), ("b", 2), ("b", 10)]
    assert ports.ledger.job_items(campaign, "none") == []


def test_ledger_keeps_each_attempt_beside_the_first(ports: Ports, campaign: str) -> None:
    # Given image 0 charged, then re-rolled twice (attempts 2 and 3), and image 1 once
    for attempt in (3, 1, 2):
        ports.ledger.save(item(campaign, "job", 0, Status.CHARGED).but(attempt=attempt))
    ports.ledger.save(item(campaign, "job", 1, Status.CHARGED))
    # When the job is read, then every attempt is there, each under its own key
    read = [(i.image_index, i.attempt) for i in ports.ledger.job_items(campaign, "job")]
    assert read == [(0, 1), (0, 2), (0, 3), (1, 1)]


def test_ledger_records_a_proof_and_a_review_on_a_charged_item(ports: Ports, campaign: str) -> None:
    # Given a charged image and a reserved one
    charged = item(campaign, "job", 0, Status.CHARGED).but(sha256="s")
    ports.ledger.save(charged)
    ports.ledger.save(item(campaign, "job", 1))
    proof = Proof.of([FieldProof("headline", "Run", Verdict.FAIL, "Rnu", ("'Rnu' where 'Run'",))])
    # When its proof is written (twice) and a reroll decided (twice)
    ports.ledger.record_proof(charged, proof)
    ports.ledger.record_proof(charged, proof)
    first = ports.ledger.record_review(charged, Review.REROLL, "")
    again = ports.ledger.record_review(charged, Review.REROLL, "")
    other = ports.ledger.record_review(item(campaign, "job", 1), Review.APPROVED, "")
    # Then the decision took once, the reserved item took none, and nothing else changed
    assert (first, again, other) == (True, False, False)
    read, reserved = ports.ledger.job_items(campaign, "job")
    assert read.proved == proof and read.review_state is Review.REROLL
    assert read.but(proof="", proof_fields="", review="") == charged
    assert reserved.proof == "" and reserved.review == ""
    # And a note changes a decision already taken
    assert ports.ledger.record_review(charged, Review.REJECTED, "logo cut") is True
    assert ports.ledger.record_review(charged, Review.REJECTED, "logo cut") is False


def test_budgets_take_atomically_and_never_past_the_limit(ports: Ports, campaign: str) -> None:
    budgets = ports.budgets
    # Given no budget: there is always room, nothing is held, and giving back makes none
    assert budgets.take(campaign, Decimal(5)) == 0
    budgets.give_back(campaign, Decimal(5))
    assert budgets.limit(campaign) is None and budgets.remaining(campaign) is None
    # Given $1 of which $0.20 is gone
    budgets.set_limit(campaign, Decimal(1), spent=Decimal("0.20"))
    assert budgets.remaining(campaign) == Decimal("0.80")
    assert budgets.take(campaign, Decimal("0.50")) == Decimal("0.50")
    assert budgets.take(campaign, Decimal("0.31")) is None  # 0.30 left
    assert budgets.take(campaign, Decimal("0.30")) == Decimal("0.30")  # exactly the rest
    budgets.give_back(campaign, Decimal("0.10"))
    assert budgets.remaining(campaign) == Decimal("0.10")
    # When the limit is raised, what remains moves by the difference
    budgets.set_limit(campaign, Decimal(3), spent=Decimal(0))
    assert (budgets.limit(campaign), budgets.remaining(campaign)) == (3, Decimal("2.10"))


def test_assets_are_written_once_and_reports_rewritten(ports: Ports, campaign: str) -> None:
    assets, key = ports.assets, f"campaigns/{campaign}/job/0.png"
    assert assets.put_new(key, b"first", "image/png", {"sha256": "x"}) is True
    assert assets.put_new(key, b"second", "image/png", {}) is False
    assert assets.read(key) == b"first"
    report = f"reports/{campaign}/sheet/errors.csv"
    assets.put_report(report, b"one", "text/csv")
    assets.put_report(report, b"two", "text/csv")
    assert assets.read(report) == b"two"
    assert assets.uri(key) == f"s3://{ASSETS}/{key}"
    assert key in assets.link(key)
    with pytest.raises(Exception):  # noqa: B017 (S3 raises its ClientError, the fake KeyError)
        assets.read(f"campaigns/{campaign}/missing.png")


def test_uploads_answer_what_was_uploaded(ports: Ports, campaign: str) -> None:
    key = f"campaigns/{campaign}/sheet.csv"
    ports.upload(key, b"a,b\r\n", {"Budget-USD": "5"})
    assert ports.uploads.exists(key) and not ports.uploads.exists(key + ".not")
    assert ports.uploads.metadata(key) == {"budget-usd": "5"}
    assert ports.uploads.read(key) == b"a,b\r\n"
    with ports.uploads.open(key) as raw:
        raw.seek(2)
        assert raw.read() == b"b\r\n"


def test_job_records_keep_the_first_put_and_take_their_end(ports: Ports, campaign: str) -> None:
    records, job_id = ports.records, f"{campaign}-job"
    assert records.get(job_id) is None
    first = JobRecord(job_id, campaign, "storefront-sign", 2, "2026-01-01T00:00:00Z")
    records.put(first)
    records.put(JobRecord(job_id, campaign, "other", 9, "2026-02-02T00:00:00Z"))
    assert records.get(job_id) == first
    records.end(job_id, "failed", "content policy")
    assert records.get(job_id) == JobRecord(
        job_id, campaign, "storefront-sign", 2, "2026-01-01T00:00:00Z", "failed", "content policy"
    )
    with pytest.raises(Exception):  # noqa: B017 (DynamoDB's conditional check, the fake's KeyError)
        records.end(f"{campaign}-never", "failed", "")


def test_progress_tells_the_last_job_to_end(ports: Ports, campaign: str) -> None:
    run, early = UploadRun(campaign, "s.csv", "1"), UploadRun(campaign, "s.csv", "2")
    # Given a run of three jobs
    assert ports.progress.expect(run, 3) is False
    ended = [ports.progress.job_ended(run, job, "succeeded") for job in "abc"]
    assert ended == [False, False, True]
    # Given a run whose two jobs ended before ingest counted them
    assert [ports.progress.job_ended(early, job, "succeeded") for job in "ab"] == [False, False]
    assert ports.progress.expect(early, 2) is True


def test_a_job_ended_three_times_counts_once(ports: Ports, campaign: str) -> None:
    # Given a run of two jobs
    run = UploadRun(campaign, "s.csv", "1")
    ports.progress.expect(run, 2)
    # When job a ends three times (a redelivery after it ended, twice)
    ended = [ports.progress.job_ended(run, "a", "succeeded") for _ in range(3)]
    # Then it counted once: the run still waits for b, which is the last
    assert ended == [False, False, False] and ports.progress.has_ended(run, "a")
    assert not ports.progress.has_ended(run, "b")
    assert ports.progress.job_ended(run, "b", "succeeded") is True
    # And b, delivered again (it may have stopped before asking), is still the last; a is not
    assert ports.progress.job_ended(run, "b", "succeeded") is True
    assert ports.progress.job_ended(run, "a", "succeeded") is False


def test_the_queue_carries_each_job_as_the_worker_reads_it(ports: Ports, campaign: str) -> None:
    jobs = [
        Job(campaign, "storefront-sign", "v1", {"store_name": f"S{i}", "message": "Open"},
            Quality.MEDIUM, Size(1536, 1024), origin={"row": i + 2, "budget": True})
        for i in range(23)
    ]  # fmt: skip
    assert ports.queue.send(iter(jobs)) == 23  # three batches
    received = sorted(ports.queued(), key=lambda job: int(job.origin["row"]))
    assert received == jobs and [j.origin for j in received] == [j.origin for j in jobs]


def test_a_signature_passes_once_or_again_under_its_first_key(ports: Ports) -> None:
    plain, keyed = f"v1,{uuid.uuid4().hex}", f"v1,{uuid.uuid4().hex}"
    assert ports.replays.first_use(plain) is True
    assert ports.replays.first_use(plain) is False
    assert ports.replays.first_use(plain, "key") is False
    assert ports.replays.first_use(keyed, "key-1") is True
    assert ports.replays.first_use(keyed, "key-1") is True
    assert ports.replays.first_use(keyed, "key-2") is False
    assert ports.replays.first_use(keyed) is False

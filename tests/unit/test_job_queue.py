"""The jobs queue's SQS adapter (issue #17): batches of ten sent several at once, an entry SQS
refuses in its batch sent again alone, and one it keeps refusing handed back with its reason,
never lost and never queued twice. SQS is botocore's Stubber or a small fake client."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from placard.aws.queue import RESENDS, SqsJobQueue
from placard.domain.errors import PlacardError
from placard.domain.jobs import Job, Quality
from placard.reporting.csv_reports import read_errors
from tests.fakes import FakeJobQueue, IngestFakes

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
THROTTLED = {"Code": "RequestThrottled", "Message": "Rate exceeded", "SenderFault": False}


def jobs(count: int) -> list[Job]:
    return [
        Job("summer", "storefront-sign", "v1", {"store_name": f"Shop {i}", "message": "Open"},
            Quality.LOW, None, origin={"row": i + 2})
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
def stubbed() -> Iterator[tuple[SqsJobQueue, Stubber]]:
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(sqs) as stubber:
        yield SqsJobQueue(sqs, URL, backoff=0.0), stubber
        stubber.assert_no_pending_responses()


def batch_reply(ok: list[int], failed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "Successful": [
            {"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "0" * 32} for i in ok
        ],
        "Failed": [{"Id": str(i), **failure} for i, failure in failed.items()],
    }


def alone(job: Job) -> dict[str, Any]:
    """The request that sends `job` again by itself."""
    return {"QueueUrl": URL, "Entries": [{"Id": "0", "MessageBody": job.to_json()}]}


def test_an_entry_refused_in_its_batch_is_sent_again_alone(
    stubbed: tuple[SqsJobQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    # Given a batch of three whose second entry SQS throttles, then takes alone
    three = jobs(3)
    stubber.add_response("send_message_batch", batch_reply([0, 2], {1: THROTTLED}))
    stubber.add_response("send_message_batch", batch_reply([0], {}), alone(three[1]))
    refused: list[tuple[Job, str]] = []
    # When the jobs are sent
    sent = queue.send(three, lambda job, reason: refused.append((job, reason)))
    # Then all three are queued: the batch once, the throttled entry once more by itself
    assert sent == 3 and refused == []


def test_an_entry_sqs_keeps_refusing_is_handed_back_with_its_reason(
    stubbed: tuple[SqsJobQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    # Given a batch whose first entry SQS throttles on every try
    two = jobs(2)
    stubber.add_response("send_message_batch", batch_reply([1], {0: THROTTLED}))
    for _ in range(RESENDS):
        stubber.add_response("send_message_batch", batch_reply([], {0: THROTTLED}), alone(two[0]))
    refused: list[tuple[Job, str]] = []
    # When the jobs are sent
    sent = queue.send(two, lambda job, reason: refused.append((job, reason)))
    # Then the other is queued, and the refused one comes back once, saying why
    assert sent == 1
    assert refused == [
        (two[0], f"SQS refused it {RESENDS + 1} times, the last: RequestThrottled: Rate exceeded")
    ]


def test_an_entry_refused_as_malformed_is_not_sent_again(
    stubbed: tuple[SqsJobQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    # Given an entry SQS refuses as the sender's fault (no retry would change it)
    bad = {"Code": "InvalidParameterValue", "Message": "too long", "SenderFault": True}
    stubber.add_response("send_message_batch", batch_reply([], {0: bad}))
    refused: list[str] = []
    # When it is sent, then it is handed back at once (the stub holds no second answer)
    assert queue.send(jobs(1), lambda job, reason: refused.append(reason)) == 0
    assert refused == ["InvalidParameterValue: too long"]


def test_without_a_receiver_a_refused_job_raises(stubbed: tuple[SqsJobQueue, Stubber]) -> None:
    queue, stubber = stubbed
    bad = {"Code": "InvalidParameterValue", "Message": "too long", "SenderFault": True}
    stubber.add_response("send_message_batch", batch_reply([], {0: bad}), {"QueueUrl": URL,
                         "Entries": ANY})  # fmt: skip
    with pytest.raises(PlacardError, match=r"SQS refused job .*: InvalidParameterValue"):
        queue.send(jobs(1))


class ThrottlingSqs:
    """SQS that throttles every third entry it sees the first time, takes it the next, and
    lets `gate` hold each call (a barrier the calls meet at)."""

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.gate = gate
        self.queued: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.calls = 0
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        if self.gate is not None:
            self.gate.wait()
        ok, failed = [], []
        with self._lock:
            self.calls += 1
            for entry in Entries:
                body = entry["MessageBody"]
                if body not in self.seen and len(self.seen) % 3 == 0:
                    self.seen.add(body)
                    failed.append({"Id": entry["Id"], **THROTTLED})
                else:
                    self.seen.add(body)
                    self.queued[body] += 1
                    ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


def test_a_long_sheet_is_queued_whole_once_each_batch_in_flight_with_others() -> None:
    # Given 950 jobs and an SQS that throttles one entry in three on first sight
    sqs = ThrottlingSqs()
    many = jobs(950)
    # When they are sent
    sent = SqsJobQueue(sqs, URL, backoff=0.0).send(many)  # type: ignore[arg-type]
    # Then every job is queued exactly once: the throttled ones alone, the batches not again
    assert sent == 950
    assert sorted(sqs.queued) == sorted(job.to_json() for job in many)
    assert set(sqs.queued.values()) == {1}
    assert sqs.calls == 95 + 317  # 95 batches, then each first-seen third entry alone


def test_batches_are_in_flight_at_once() -> None:
    # Given an SQS where each call waits until four are waiting (the barrier breaks, and the
    # send fails, if the batches went one after another)
    sqs = ThrottlingSqs(threading.Barrier(4, timeout=30))
    sqs.seen = {job.to_json() for job in jobs(40)}  # nothing throttled
    # When four batches are sent, then they all met
    assert SqsJobQueue(sqs, URL).send(jobs(40)) == 40  # type: ignore[arg-type]
    assert not sqs.gate.broken  # type: ignore[union-attr]


class RefusingQueue(FakeJobQueue):
    """The jobs queue, refusing the jobs of the stores it names."""

    def __init__(self, *stores: str) -> None:
        super().__init__()
        self.stores = stores

    def send(self, jobs: Any, refused: Any = None) -> int:
        kept = []
        for job in jobs:
            if job.variables["store_name"] in self.stores:
                refused(job, "SQS refused it 5 times, the last: RequestThrottled: Rate exceeded")
            else:
                kept.append(job)
        return super().send(kept)


def test_a_job_the_queue_refuses_is_its_rows_error_and_is_not_expected() -> None:
    # Given a sheet of three rows whose second job the queue will not take
    fakes = IngestFakes(queue=RefusingQueue("Ann"))
    sheet = "template,store_name,message\r\n" + "".join(
        f"storefront-sign,{name},Open\r\n" for name in ("Zoe", "Ann", "Bo")
    )
    fakes.uploads.put("campaigns/summer/sheet.csv", sheet.encode())
    # When it is ingested
    report = fakes.service().run("campaigns/summer/sheet.csv", "run-1")
    # Then the other two are queued and expected, and row 3 is an error saying why
    assert [job.variables["store_name"] for job in fakes.queue.jobs] == ["Zoe", "Bo"]
    assert report.jobs == 2 and report.errors == 1
    (error,) = read_errors(fakes.assets.read("reports/summer/sheet/errors.csv"))[3]
    assert error.reason.startswith("the job was not queued (SQS refused it 5 times, the last: ")
    assert "upload the sheet again" in error.reason
    (run,) = fakes.progress.total
    assert fakes.progress.total[run] == 2

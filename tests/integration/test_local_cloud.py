"""The embedded cloud under the concurrency the local runner gives it."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from placard import bootstrap
from placard.domain.jobs import Job, Mode, Quality
from placard.settings import Settings
from placard_local.cloud import LocalCloud, local_cloud
from placard_local.stack import Stack, repo_root
from tests.integration import function_probe

# Each test starts a local cloud, which sets the process environment
pytestmark = pytest.mark.usefixtures("own_environment")


def test_concurrent_deletes_leave_no_message_behind() -> None:
    # Given a queue holding 300 messages, all received (so in flight for the visibility timeout)
    with local_cloud() as cloud:
        sqs = cloud.client("sqs")
        url = sqs.create_queue(QueueName="race", Attributes={"VisibilityTimeout": "3600"})[
            "QueueUrl"
        ]
        for start in range(0, 300, 10):
            entries = [{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        handles: list[str] = []
        while len(handles) < 300:
            reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            handles += [m["ReceiptHandle"] for m in reply.get("Messages", [])]
        # When 20 workers delete them at the same time, one call each
        with ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(lambda h: sqs.delete_message(QueueUrl=url, ReceiptHandle=h), handles))
        # Then none is left in flight: a lost delete would hide a finished job for an hour
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attributes == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }


def test_a_batch_size_of_one_is_fed_by_receives_of_ten_and_deleted_ten_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a queue of 40 messages whose function takes them one at a time, as the worker does
    events = {"In": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Inbox", "Arn"]},
                                                   "BatchSize": 1}}}  # fmt: skip
    stack = Stack({"Resources": {
        "Inbox": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Probe": {"Type": "AWS::Serverless::Function", "Properties": {
            "Handler": "tests.integration.function_probe.remember", "Events": events}},
    }})  # fmt: skip
    cloud = LocalCloud(stack, repo_root())
    cloud.start()
    try:
        sqs, url = cloud.client("sqs"), stack.physical["Inbox"]
        for start in range(0, 40, 10):
            entries = [{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        calls: Counter[str] = Counter()
        deleted: list[int] = []

        def count(model: Any, params: dict[str, Any], **_: Any) -> None:
            calls.update([model.name])
            if model.name == "DeleteMessageBatch":
                deleted.append(len(params["Entries"]))

        def counted(service: str) -> Any:
            client = boto3.client(service, endpoint_url=cloud.endpoint)  # type: ignore[call-overload]
            client.meta.events.register("provide-client-params.sqs", count)
            return client

        monkeypatch.setattr(cloud, "client", counted)
        function_probe.seen.clear()
        # When the local runner drains it
        cloud.drain()
        # Then each message was one invocation of its own, and none is left in flight
        assert sorted(int(b) for batch in function_probe.seen for b in batch) == list(range(40))
        assert all(len(batch) == 1 for batch in function_probe.seen)
        assert queue_counts(sqs, url) == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }
        # And they came ten a receive (the rest are polls of an empty queue at the end), and
        # went in deletes of up to ten: 40 calls each way would be one a message
        assert calls["ReceiveMessage"] <= 4 + 12
        assert sum(deleted) == 40 and len(deleted) <= 6 and max(deleted) == 10
    finally:
        cloud.stop()


def test_a_reset_of_the_emulator_empties_it_and_it_works_on() -> None:
    # Given the embedded cloud with a queue of ours
    with local_cloud() as cloud:
        sqs = cloud.client("sqs")
        sqs.create_queue(QueueName="before-reset")
        # When moto is reset, twice, with a queue made in between
        for name in ("after-first-reset", None):
            with urllib.request.urlopen(f"{cloud.endpoint}/moto-api/reset", data=b"") as reply:
                assert reply.status == 200
            urls = sqs.list_queues().get("QueueUrls", [])
            # Then each reset left no queue behind, and the emulator still takes requests
            assert urls == []
            if name:
                sqs.create_queue(QueueName=name)


def queue_counts(sqs: Any, url: str) -> dict[str, str]:
    attributes: dict[str, str] = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes


def test_metrics_stay_off_the_terminal_however_many_invocations_add_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a function that adds a metric on each invocation, as the worker does per image
    stack = Stack({"Resources": {"Probe": {"Type": "AWS::Serverless::Function", "Properties": {
        "Handler": "tests.integration.function_probe.counts"}}}})  # fmt: skip
    cloud = LocalCloud(stack, repo_root())
    cloud.start()
    try:
        # When the local runner invokes it past the 100 values Powertools prints a metric at
        replies = [cloud.invoke(stack.functions()["Probe"], {"n": n}) for n in range(150)]
    finally:
        cloud.stop()
    # Then every invocation answered and nothing of the metrics reached standard output
    assert [reply["n"] for reply in replies] == list(range(150))
    assert "CloudWatchMetrics" not in capsys.readouterr().out


def test_every_kind_of_attribute_value_comes_back_as_it_was_written() -> None:
    # Given an item with every kind of DynamoDB attribute value, nested ones too
    item = {
        "pk": {"S": "campaign#summer"},
        "sk": {"S": "IMAGE#1"},
        "cost": {"N": "0.012"},
        "png": {"B": b"\x89PNG\r\n"},
        "final": {"BOOL": True},
        "nothing": {"NULL": True},
        "tags": {"SS": ["a", "b"]},
        "sizes": {"NS": ["1024", "1536"]},
        "blobs": {"BS": [b"\x00", b"\xff"]},
        "usage": {"M": {"tokens": {"N": "272"}, "kind": {"S": "image"}}},
        "texts": {"L": [{"S": "SALE"}, {"N": "3"}, {"M": {"x": {"BOOL": False}}}, {"L": []}]},
    }
    key = {"pk": item["pk"], "sk": item["sk"]}
    with local_cloud() as cloud:
        db = cloud.client("dynamodb")
        db.create_table(
            TableName="kinds",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        db.put_item(TableName="kinds", Item=item)
        # When it is read back by key, by query, by scan and by an update's answer
        reads = [
            db.get_item(TableName="kinds", Key=key)["Item"],
            db.query(
                TableName="kinds",
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": item["pk"]},
            )["Items"][0],
            db.scan(TableName="kinds")["Items"][0],
            db.update_item(
                TableName="kinds", Key=key, UpdateExpression="SET #f = :t",
                ExpressionAttributeNames={"#f": "final"},
                ExpressionAttributeValues={":t": {"BOOL": True}}, ReturnValues="ALL_NEW",
            )["Attributes"],
        ]  # fmt: skip
    # Then each read is the item as written (sets in any order, as DynamoDB's are)
    for read in reads:
        assert unordered_sets(read) == unordered_sets(item)


def unordered_sets(item: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {kind: sorted(v) if kind in ("SS", "NS", "BS") else v for kind, v in value.items()}
        for name, value in item.items()
    }


def test_an_empty_file_uploads_promptly_and_then_gets_a_clear_answer(tmp_path: Path) -> None:
    # Given an empty photo, as a phone's failed export leaves one
    empty = tmp_path / "shelf.jpg"
    empty.write_bytes(b"")
    with local_cloud() as cloud:
        # When it is put in the local uploads bucket (boto3 sends Expect: 100-continue)
        key = "campaigns/store-12/shelf.jpg"
        upload = threading.Thread(target=cloud.put_file, args=(empty, key), daemon=True)
        upload.start()
        upload.join(timeout=60)
        # Then the upload returns (it hung for good) and the object is there, empty
        assert not upload.is_alive(), "putting an empty file into the local cloud hung"
        head = cloud.client("s3").head_object(Bucket=cloud.uploads_bucket, Key=key)
        assert head["ContentLength"] == 0
        # And an edit of it fails saying the photo is empty, at no cost
        job = Job(
            campaign="store-12",
            template="price-tag-edit",
            template_version="v1",
            variables={"price": "$1.99"},
            quality=Quality.MEDIUM,
            size=None,
            mode=Mode.EDIT,
            source_image=key,
            mask_box=(10, 10, 50, 50),
        )
        parts = bootstrap.build(Settings.from_env(), bootstrap.Clients.from_env())
        outcome = parts.pipeline.run(job)
        assert outcome.status == "failed" and outcome.cost_usd == 0
        assert outcome.reason.startswith("source_image: is empty")


def test_the_cloud_stops_quietly_with_requests_in_flight(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given a local cloud whose AWS server is answering thirty callers at once
    calling = threading.Event()
    calling.set()
    with local_cloud() as cloud:
        sqs, queue = cloud.client("sqs"), cloud.stack.physical["JobsQueue"]

        def call_on() -> None:
            while calling.is_set():
                try:
                    sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
                except Exception:  # the server is gone: this caller is done
                    return

        callers = [threading.Thread(target=call_on, daemon=True) for _ in range(30)]
        for caller in callers:
            caller.start()
        time.sleep(2)
        # When it stops under them
    calling.clear()
    # Then its server leaves without an error written (it used to close its wake-up pipe
    # under the requests in flight: "Bad file descriptor", two runs in three)
    written = capfd.readouterr().err
    assert "Bad file descriptor" not in written, written[-1500:]

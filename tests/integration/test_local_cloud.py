"""The embedded cloud under the concurrency the local runner gives it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from placard.local import local_cloud


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

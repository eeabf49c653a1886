"""Dead-lettered messages back to the queue they came from, once their cause is fixed.

On AWS, SQS's own message move task does it (StartMessageMoveTask: SQS moves every message,
at its own pace, to the queue each came from). moto has no move task, so the local cloud moves
them by hand: receive, send to the source, delete, ten at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def queue_arn(sqs: SQSClient, url: str) -> str:
    reply = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return reply["Attributes"]["QueueArn"]


def start_move_task(sqs: SQSClient, dead_letter_url: str) -> str:
    """AWS: SQS moves the queue's messages back to their source queues; the task's handle."""
    reply = sqs.start_message_move_task(SourceArn=queue_arn(sqs, dead_letter_url))
    return reply["TaskHandle"]


def move_by_hand(sqs: SQSClient, dead_letter_url: str, source_url: str) -> int:
    """The local cloud only: every message sent to `source_url`, then deleted; how many.
    A message is sent before it is deleted, so a stop midway duplicates, never loses, one
    (every consumer is idempotent)."""
    moved = 0
    while True:
        reply = sqs.receive_message(
            QueueUrl=dead_letter_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        )
        messages = reply.get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1

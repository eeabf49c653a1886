"""The reconciler's adapters: what is left in the ledger (its open index: aws/ledger.py),
stored objects by key, the dead-letter queues read without taking their messages, and marks
of what it ended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from placard.aws.assets import head_or_none
from placard.aws.ledger import (
    OPEN,
    OPEN_AT,
    OPEN_INDEX,
    OPEN_RESERVED,
    OPEN_RUN,
    _deserialise,
    condition_failed,
    typed_key,
)
from placard.domain.keys import dead_letter_key, dead_run_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.runs import UploadRun
from placard.services.reconcile import DeadLetter, dead_letter_bodies

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

CAMPAIGN_PREFIX, RUN_PREFIX = "CAMPAIGN#", "RUN#"
PEEK_SECONDS = 60  # how long a peeked message stays hidden: one run of the reconciler
BATCH_GET = 100  # the most keys one BatchGetItem takes


class DynamoStranded:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def reserved_before(self, cutoff: str) -> list[LedgerItem]:
        """Reservations last written before `cutoff`, checked against the table itself."""
        return [
            item
            for item in map(LedgerItem.from_item, self._open(OPEN_RESERVED, cutoff))
            if item.status is Status.RESERVED and item.updated_at < cutoff
        ]

    def _open(self, kind: str, before: str = "~") -> Iterator[dict[str, Any]]:
        """The items of the ledger's open index of this kind that went in before `before`
        (any: "~" sorts after every time), each read again from the table: the index has
        their keys only, and lags the table, whose word counts."""
        pages = self._db.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=OPEN_INDEX,
            KeyConditionExpression="#o = :kind AND #at < :before",
            ExpressionAttributeNames={"#o": OPEN, "#at": OPEN_AT},
            ExpressionAttributeValues={":kind": {"S": kind}, ":before": {"S": before}},
        )
        keys = [{"pk": item["pk"], "sk": item["sk"]} for page in pages for item in page["Items"]]
        return self._read(keys)

    def _read(self, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The items of these keys, as they are now (BatchGetItem, 100 keys a call, what it
        leaves unprocessed asked again)."""
        for start in range(0, len(keys), BATCH_GET):
            asked: dict[str, Any] = {
                self.table: {"Keys": keys[start : start + BATCH_GET], "ConsistentRead": True}
            }
            while asked:
                answer = self._db.batch_get_item(RequestItems=asked)
                yield from map(_deserialise, answer["Responses"].get(self.table, []))
                asked = answer.get("UnprocessedKeys") or {}

    def unreported_runs(self) -> list[UploadRun]:
        """Runs whose count is complete, or would be by their jobs' markers (a job that stopped
        between its marker and its count: counted here), and whose reports nobody claimed."""
        rows = [
            row for row in self._open(OPEN_RUN) if "jobs_total" in row and "reports_by" not in row
        ]
        runs = []
        for row in rows:  # the count's own item: RUN#<sheet>#<run> (a marker holds no count)
            total, ended = int(row["jobs_total"]), int(row.get("jobs_ended", 0))
            if ended < total:
                ended = self._recount(row, ended)
            if ended >= total:
                sheet, _, run = str(row["sk"]).removeprefix(RUN_PREFIX).rpartition("#")
                runs.append(UploadRun(str(row["pk"]).removeprefix(CAMPAIGN_PREFIX), sheet, run))
        return runs

    def _recount(self, row: dict[str, Any], ended: int) -> int:
        """The run's count made equal to its jobs' markers, when they are more; the count."""
        pk, sk = str(row["pk"]), str(row["sk"])
        markers = 0
        pages = self._db.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :jobs)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":jobs": {"S": f"{sk}#JOB#"}},
            Select="COUNT",
            ConsistentRead=True,
        )
        for page in pages:
            markers += page["Count"]
        if markers <= ended:
            return ended
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key({"pk": pk, "sk": sk}),
                UpdateExpression="SET jobs_ended = :markers",
                ConditionExpression="jobs_ended = :ended",  # no job counted itself meanwhile
                ExpressionAttributeValues={
                    ":markers": {"N": str(markers)},
                    ":ended": {"N": str(ended)},
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return ended  # the next run looks again
            raise
        return markers


class S3StoredObjects:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def sha256(self, key: str) -> str | None:
        """The pipeline writes each object's sha256 in its metadata; an object without it is
        read and hashed."""
        head = head_or_none(self._s3, self.bucket, key)
        if head is None:
            return None
        said = head.get("Metadata", {}).get("sha256")
        if said:
            return said
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return hashlib.sha256(body).hexdigest()


class SqsDeadLetters:
    """Each dead-letter queue by the name of the queue it serves ("jobs", "proofs", ...)."""

    def __init__(self, sqs: SQSClient, queues: dict[str, str]) -> None:
        self._sqs = sqs
        self.queues = queues

    def peek(self) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for name, url in self.queues.items():
            seen: dict[str, tuple[str, int]] = {}
            handles: list[str] = []
            while True:  # each message hidden once taken, so the next receive finds others
                reply = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=PEEK_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
                fresh = [m for m in reply.get("Messages", []) if m["MessageId"] not in seen]
                if not fresh:
                    break
                for message in fresh:
                    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                    seen[message["MessageId"]] = (message.get("Body", ""), count)
                    handles.append(message["ReceiptHandle"])
            self._show(url, handles)
            letters += dead_letter_bodies(name, seen.values())
        return letters

    def _show(self, url: str, handles: list[str]) -> None:
        """Visible again at once: each message stays for a redrive, or a person."""
        for start in range(0, len(handles), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(handles[start : start + 10])
                ],
            )


class DynamoDeadLetterMarks:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def marked(self, job_id: str, attempt: int) -> bool:
        return self._has(dead_letter_key(job_id, attempt))

    def mark(self, job_id: str, attempt: int, reason: str) -> None:
        self._put(dead_letter_key(job_id, attempt), reason)

    def run_marked(self, queue: str, run: UploadRun) -> bool:
        return self._has(dead_run_key(queue, run.campaign, run.sheet, run.run))

    def mark_run(self, queue: str, run: UploadRun, reason: str) -> None:
        self._put(dead_run_key(queue, run.campaign, run.sheet, run.run), reason)

    def _has(self, key: dict[str, str]) -> bool:
        reply = self._db.get_item(TableName=self.table, Key=typed_key(key), ConsistentRead=True)
        return "Item" in reply

    def _put(self, key: dict[str, str], reason: str) -> None:
        self._db.put_item(TableName=self.table, Item={**typed_key(key), "reason": {"S": reason}})

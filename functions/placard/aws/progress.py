"""DynamoDB: how many of an upload's jobs have ended, so the last one to end is known.

Ingest sets `jobs_total` once every job is queued; each job adds one to `jobs_ended` as it
ends. Both are single atomic updates that answer with the item as they left it, so exactly one
of them sees the count reach the total: that one asks for the reports.

A job is counted once it has ended; a worker that stops after counting and before SQS forgets
the message counts it again on the redelivery, and the reports come one job early (they are
safe to write again). A transaction with a per-job marker would close that window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from placard.aws.ledger import typed_key
from placard.domain.keys import run_key
from placard.domain.runs import UploadRun

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoProgress:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def _update(self, run: UploadRun, expression: str, value: int) -> tuple[int, int | None]:
        reply = self._db.update_item(
            TableName=self.table,
            Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
            UpdateExpression=expression,
            ExpressionAttributeValues={":n": {"N": str(value)}},
            ReturnValues="ALL_NEW",
        )
        item = reply["Attributes"]
        ended = int(item["jobs_ended"]["N"]) if "jobs_ended" in item else 0
        total = int(item["jobs_total"]["N"]) if "jobs_total" in item else None
        return ended, total

    def expect(self, run: UploadRun, jobs: int) -> bool:
        """Every job of the run is queued; True when they have all ended already."""
        ended, _ = self._update(run, "SET jobs_total = :n", jobs)
        return ended >= jobs

    def job_ended(self, run: UploadRun) -> bool:
        """True for the job whose end is the run's last."""
        ended, total = self._update(run, "ADD jobs_ended :n", 1)
        return total is not None and ended == total

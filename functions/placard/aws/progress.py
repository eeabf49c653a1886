"""DynamoDB: how many of an upload's jobs have ended, so the last one to end is known.

Ingest sets `jobs_total` once every job is queued; each job adds one to `jobs_ended` as it
ends, after writing a marker of its own (RUN#...#JOB#<job>) that may not exist yet, so a job
redelivered after it ended is counted once. A stop between the marker and the count leaves the
job uncounted: the reconciler counts the markers and puts that right. (Not one transaction:
moto's server hangs on TransactWriteItems, and the local cloud runs on it.) Whoever finds the
count complete first claims the reports (`reports_by`, a conditional write): exactly one job,
or ingest when every job ended before the total was set. The claimant keeps its claim on a
redelivery, since it may have stopped before asking for the reports (safe to write again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed, typed_key
from placard.domain.keys import run_job_key, run_key
from placard.domain.runs import UploadRun

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INGEST = "ingest"  # the claimant when every job had ended before the total was known


class DynamoProgress:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def expect(self, run: UploadRun, jobs: int) -> bool:
        """Every job of the run is queued; True when they have all ended already."""
        self._db.update_item(
            TableName=self.table,
            Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
            UpdateExpression="SET jobs_total = :n, jobs_ended = if_not_exists(jobs_ended, :zero)",
            ExpressionAttributeValues={":n": {"N": str(jobs)}, ":zero": {"N": "0"}},
        )
        return self.claim_reports(run, INGEST)

    def job_ended(self, run: UploadRun, job_id: str) -> bool:
        """True for the job whose end is the run's last; counted once per job."""
        marker = run_job_key(run.campaign, run.sheet, run.run, job_id)
        try:
            self._db.put_item(
                TableName=self.table,
                Item={**typed_key(marker), "job_id": {"S": job_id}},
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        else:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
                UpdateExpression="ADD jobs_ended :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return self.claim_reports(run, job_id)

    def has_ended(self, run: UploadRun, job_id: str) -> bool:
        reply = self._db.get_item(
            TableName=self.table,
            Key=typed_key(run_job_key(run.campaign, run.sheet, run.run, job_id)),
            ConsistentRead=True,
        )
        return "Item" in reply

    def claim_reports(self, run: UploadRun, claimant: str) -> bool:
        """True when the run's count is complete and its reports are `claimant`'s to ask for:
        unclaimed until now, or claimed by it before."""
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
                UpdateExpression="SET reports_by = :me",
                ConditionExpression=(
                    "jobs_ended >= jobs_total "
                    "AND (attribute_not_exists(reports_by) OR reports_by = :me)"
                ),
                ExpressionAttributeValues={":me": {"S": claimant}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

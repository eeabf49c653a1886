"""DynamoDB: each job as first run, one item beside its campaign's images in the ledger table.

An item, not an S3 object: a job of up to 1 KB is one write unit (0.625 micro-USD), where a PUT
is 5 (docs/cost.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed, typed_key
from placard.domain.jobs import Job
from placard.domain.keys import kept_job_key
from placard.domain.ports import kept_job_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoJobStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def keep(self, job: Job) -> bool:
        item = {"job": {"S": kept_job_json(job)}}
        try:
            self._db.put_item(
                TableName=self.table,
                Item={**typed_key(kept_job_key(job.campaign, job.job_id)), **item},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False  # kept by an earlier delivery: this one is a redelivery
            raise
        return True

    def get(self, campaign: str, job_id: str) -> Job | None:
        item = self._db.get_item(
            TableName=self.table, Key=typed_key(kept_job_key(campaign, job_id)), ConsistentRead=True
        ).get("Item")
        return None if item is None else Job.from_json(item["job"]["S"])

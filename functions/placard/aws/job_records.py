"""DynamoDB: one item per job asked for through the API, so its status is found by id alone."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed, typed_key
from placard.domain.keys import job_record_key
from placard.domain.ports import JobRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoJobRecords:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def put(self, record: JobRecord) -> None:
        item = {
            k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in asdict(record).items()
        }
        try:
            self._db.put_item(
                TableName=self.table,
                Item={**typed_key(job_record_key(record.job_id)), **item},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise  # else the same job was asked for before: keep its record

    def get(self, job_id: str) -> JobRecord | None:
        item = self._db.get_item(
            TableName=self.table, Key=typed_key(job_record_key(job_id)), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        fields = JobRecord.__dataclass_fields__
        values = {
            k: (v.get("S") if "S" in v else int(v["N"])) for k, v in item.items() if k in fields
        }
        return JobRecord(**values)  # type: ignore[arg-type]

    def end(self, job_id: str, state: str, reason: str) -> None:
        self._db.update_item(
            TableName=self.table,
            Key=typed_key(job_record_key(job_id)),
            UpdateExpression="SET #e = :state, #r = :reason",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#e": "ended", "#r": "reason"},
            ExpressionAttributeValues={":state": {"S": state}, ":reason": {"S": reason}},
        )

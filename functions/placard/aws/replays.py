"""DynamoDB: signatures already used, so a captured request cannot be sent again.

A signature is remembered a little longer than the window it is valid in; the table's TTL
forgets it after. One conditional put: two copies sent at once cannot both pass."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoReplayGuard:
    def __init__(self, dynamodb: DynamoDBClient, table: str, remember_seconds: int) -> None:
        self._db = dynamodb
        self.table = table
        self.remember_seconds = remember_seconds

    def first_use(self, signature: str) -> bool:
        digest = hashlib.sha256(signature.encode()).hexdigest()
        try:
            self._db.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": f"signature#{digest}"},
                    "expiration": {"N": str(int(time.time()) + self.remember_seconds)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
